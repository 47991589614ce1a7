"""What the cancel confirmation pages show and what a confirmation sends, when rows are odd:
invalid ids in the mirror, a cancel in flight or in doubt, rows that left a filtered list,
nothing cancellable, and the summary's wording. Posted the way a browser posts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.messages import constants as levels
from django.utils import formats, timezone, translation

import laaffic_recall
from laaffic_recall.admin.display import status_badge
from laaffic_recall.models import CancelAttempt, CancelType, Outcome, RecallTask, Status
from tests.support.admin import NODES, TASKS, cancel_url, last_message, node_url
from tests.support.audit import attempt_on
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    PENDING,
    add_cancel,
    add_detail,
    api_url,
    calls_to,
    page_of,
    sent_bodies,
)

pytestmark = pytest.mark.django_db

PENDING_TASKS = TASKS + "?status__exact=0"
YES = 'class="laaffic-confirm-button"'
NOTHING = "Nothing here can be cancelled"


def row_of(html: str, label: str) -> str:
    """The <tr> of the confirmation table whose first cell shows ``label``."""
    rows = re.findall(r"<tr class=\"[^\"]*\">.*?</tr>", html, flags=re.S)
    [row] = [r for r in rows if label in r]
    return row


def preview(client, action: str, *tasks: RecallTask, url: str = TASKS) -> str:
    response = client.post(
        url, {"action": action, "index": 0, "_selected_action": [t.pk for t in tasks]}
    )
    assert response.status_code == 200
    return response.content.decode()


def confirm(client, action: str, *pks, url: str = TASKS, reason: str = ""):
    return client.post(
        url, {"action": action, "_selected_action": list(pks), "post": "yes", "reason": reason}
    )


def expect_cancel(mocked_api, cancel_type: int, target_id: int, key: int) -> None:
    if cancel_type == 2:  # the parent's tasks are looked up on confirm
        mocked_api.post(api_url("queryPage"), json=page_of((key, target_id, "C", PENDING)))
    add_detail(mocked_api, key, PENDING)
    add_cancel(mocked_api, cancel_type, target_id)
    add_detail(mocked_api, key, CANCELLED)


# --------------------------------------------------------------------------- R9: invalid ids


@pytest.mark.parametrize(
    ("action", "bad_fields", "good_fields", "bad_row", "sent", "summary"),
    [
        pytest.param(
            "cancel_tasks_by_parent",
            {"key_id": 12, "parent_task_id": 0},
            {"key_id": 13, "parent_task_id": 500},
            "Not sent: its parent task id cannot be sent to LAAFFIC.",
            {"type": 2, "id": 500},
            [
                "#12 Campaign 12</a></span> Not stopped: its parent task id cannot be sent",
                "#13 C</a></span> Stopped: LAAFFIC now shows it Cancelled",
                "Stopped 1 recall task (2 remaining rounds). 1 not stopped.",
            ],
            id="parent task id 0",
        ),
        pytest.param(
            "cancel_tasks",
            {"key_id": -5},
            {"key_id": 12},
            "Not sent: its key cannot be sent to LAAFFIC.",
            {"type": 1, "id": 12},
            [
                "#-5 Campaign -5</a></span> Not stopped: its key cannot be sent to LAAFFIC.",
                "Stopped 1 recall task. 1 not stopped.",
            ],
            id="negative recall key",
        ),
    ],
)
def test_an_invalid_id_is_skipped_and_named_never_a_500(
    mocked_api, agent_client, action, bad_fields, good_fields, bad_row, sent, summary
):
    bad, good = make_task(**bad_fields), make_task(**good_fields)

    html = preview(agent_client, action, bad, good)
    assert bad_row in row_of(html, f"#{bad.key_id} ")
    assert "Will be stopped" in row_of(html, f"#{good.key_id} ")

    expect_cancel(mocked_api, sent["type"], sent["id"], good.key_id)
    response = confirm(agent_client, action, bad.pk, good.pk)

    assert response.status_code == 302
    assert sent_bodies(mocked_api) == [sent]
    level, text = last_message(response)
    assert level == levels.WARNING
    for part in summary:
        assert part in text


def test_only_invalid_parent_ids_send_nothing_and_say_so(mocked_api, agent_client):
    zero = make_task(12, parent_task_id=0)
    negative = make_task(13, parent_task_id=-7)

    response = confirm(agent_client, "cancel_tasks_by_parent", zero.pk, negative.pk)

    assert response.status_code == 302
    level, text = last_message(response)
    assert level == levels.WARNING
    assert text.startswith('<span class="laaffic-cancel-headline">Nothing was stopped.</span>')
    for task in (zero, negative):
        assert f"{task}</a></span> Not stopped: its parent task id cannot be sent" in text
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


def test_the_task_page_cancel_of_an_invalid_key_offers_nothing_and_sends_nothing(
    mocked_api, agent_client
):
    bad = make_task(-5)
    url = cancel_url(bad)

    page = agent_client.get(url)
    assert page.status_code == 200
    assert NOTHING in page.content.decode() and YES not in page.content.decode()

    response = agent_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    level, text = last_message(response)
    assert level == levels.WARNING and "Not stopped: its key cannot be sent to LAAFFIC." in text
    assert "audit log" not in text
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


def test_a_node_with_an_invalid_key_is_not_sent(mocked_api, agent_client):
    task = make_task(12)
    [node] = make_nodes(task, PENDING, first_key=0)

    response = agent_client.post(
        NODES, {"action": "cancel_from_node", "_selected_action": [node.pk], "post": "yes"}
    )

    assert response.status_code == 302
    _level, text = last_message(response)
    assert "Not stopped: its key cannot be sent to LAAFFIC." in text
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


# ----------------------------------------------------------------------- R1: in flight, in doubt


def open_attempt(task: RecallTask, outcome: str, started_at=None) -> CancelAttempt:
    """A whole-task cancel of ``task`` by ann, still open or in doubt."""
    return attempt_on(
        task, 1, task.key_id, outcome, username="ann", started_at=started_at or timezone.now()
    )


@pytest.mark.parametrize(
    ("action", "tasks", "attempts", "second_row"),
    [
        pytest.param(
            "cancel_tasks",
            {12: {}, 13: {"cancel_in_doubt": True}, 14: {}},
            {12: Outcome.PENDING, 13: Outcome.UNKNOWN},
            ["is not known yet", "Refresh from LAAFFIC"],
            id="the other task in doubt",
        ),
        pytest.param(
            "cancel_tasks_by_parent",
            {12: {"parent_task_id": 500}, 13: {"parent_task_id": 500}, 14: {"parent_task_id": 600}},
            {12: Outcome.PENDING},
            ["another recall task of this parent has a cancel in flight"],
            id="the other task of the same parent",
        ),
    ],
)
def test_the_confirmation_warns_of_a_cancel_in_flight_or_in_doubt_and_sends_nothing(
    mocked_api, agent_client, action, tasks, attempts, second_row
):
    """#12 has a cancel in flight; #13 cannot be cancelled either (its own cancel is in
    doubt, or #12 shares its parent task id); #14 is free: 1 of 3 will be cancelled."""
    made = {key: make_task(key, **fields) for key, fields in tasks.items()}
    for key, outcome in attempts.items():
        open_attempt(made[key], outcome)

    html = preview(agent_client, action, *made.values())

    assert "Not sent: ann is cancelling it since" in row_of(html, "#12 ")
    assert "Will be stopped" not in row_of(html, "#12 ")
    for text in second_row:
        assert text in row_of(html, "#13 ")
    assert "Will be stopped" in row_of(html, "#14 ")
    assert 'value="Stop 1 recall task"' in html
    assert calls_to(mocked_api, "cancel") == []


def test_a_cancel_by_parent_in_flight_blocks_every_task_of_that_parent(mocked_api, agent_client):
    recorded_on = make_task(12, parent_task_id=500)
    sibling = make_task(13, parent_task_id=500)
    CancelAttempt.objects.create(
        cancel_type=2, target_id=500, task=recorded_on, task_key_id=12, outcome=Outcome.PENDING
    )

    html = preview(agent_client, "cancel_tasks", sibling)

    assert "is cancelling it since" in row_of(html, "#13 ") and NOTHING in html
    assert YES not in html
    assert len(mocked_api.calls) == 0


def test_a_stale_pending_attempt_counts_as_in_doubt(agent_client, settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "STALE_ATTEMPT_SECONDS": 60}
    task = make_task(12)
    open_attempt(task, Outcome.PENDING, timezone.now() - timedelta(minutes=5))

    html = agent_client.get(cancel_url(task))
    html = html.content.decode()

    assert "is not known yet" in row_of(html, "#12 ") and NOTHING in html and YES not in html


def test_the_node_confirmation_warns_when_its_task_has_a_cancel_in_flight(mocked_api, agent_client):
    task = make_task(12)
    nodes = make_nodes(task, PENDING, PENDING)
    open_attempt(task, Outcome.PENDING)

    url = node_url(nodes[0])
    html = agent_client.get(url).content.decode()

    assert "Not sent: ann is cancelling it since" in row_of(html, "#12 ")
    for node in ("node #101", "node #102"):
        assert "Not sent: see the recall task above." in row_of(html, node)
    assert NOTHING in html and YES not in html


# --------------------------------------------------------------------------- U1: left the list


def test_resubmitting_after_a_task_left_the_filtered_list_names_it(mocked_api, agent_client):
    gone = make_task(12, status=CANCELLED)  # cancelled since the confirmation page was shown
    still = make_task(13)
    expect_cancel(mocked_api, 1, 13, 13)

    response = confirm(agent_client, "cancel_tasks", gone.pk, still.pk, url=PENDING_TASKS)

    assert response.status_code == 302 and response.url == PENDING_TASKS
    assert sent_bodies(mocked_api) == [{"type": 1, "id": 13}]
    _level, text = last_message(response)
    assert "Stopped 1 recall task. 1 not stopped." in text
    assert "#12 Campaign 12</a></span> Not stopped: it is no longer in this list (now " in text


def test_resubmitting_when_every_task_left_the_list_records_nothing_and_links_nowhere(
    mocked_api, agent_client
):
    gone = make_task(12, status=CANCELLED)

    response = confirm(agent_client, "cancel_tasks", gone.pk, url=PENDING_TASKS)

    level, text = last_message(response)
    assert level == levels.WARNING
    assert "Not stopped: it is no longer in this list (now Cancelled)." in text
    assert "nothing to do" not in text
    assert "audit log" not in text and "correlation_id" not in text
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


def test_a_node_that_left_the_filtered_node_list_is_named(mocked_api, agent_client):
    task = make_task(12)
    [node] = make_nodes(task, CANCELLED)

    response = confirm(agent_client, "cancel_from_node", node.pk, url=NODES + "?status__exact=0")

    _level, text = last_message(response)
    assert "node #101" in text and "no longer in this list (now Cancelled)" in text
    assert "exactly one node" not in text
    assert len(mocked_api.calls) == 0


# --------------------------------------------------------------------------- U2: nothing to cancel


def test_when_no_row_can_be_cancelled_only_the_way_back_is_offered(agent_client):
    done = make_task(12, status=COMPLETED)
    running = make_task(13, status=IN_PROGRESS)

    html = preview(agent_client, "cancel_tasks", done, running, url=PENDING_TASKS)

    assert NOTHING in html
    assert YES not in html and 'name="post"' not in html and "<textarea" not in html
    back = re.search(r'<a href="([^"]+)" class="button laaffic-back-button">', html)
    assert back and back.group(1).replace("&amp;", "&") == PENDING_TASKS
    assert "Are you sure" not in html


def test_when_some_rows_are_skipped_the_button_counts_only_what_will_stop(agent_client):
    tasks = [make_task(12), make_task(13, status=COMPLETED), make_task(14)]

    html = preview(agent_client, "cancel_tasks", *tasks)

    assert 'value="Stop 2 recall tasks"' in html and NOTHING not in html
    assert "Not sent: LAAFFIC shows it Completed" in row_of(html, "#13 ")


def test_when_every_row_can_be_cancelled_the_button_counts_them_all(agent_client):
    html = preview(agent_client, "cancel_tasks", make_task(12), make_task(13))
    assert 'value="Stop 2 recall tasks"' in html and "Not sent" not in html


def test_a_chosen_node_that_is_not_pending_offers_no_confirmation(agent_client):
    task = make_task(12)
    nodes = make_nodes(task, IN_PROGRESS, PENDING)

    html = preview(agent_client, "cancel_from_node", nodes[0], url=NODES)

    assert NOTHING in html and YES not in html
    assert "Not sent: this round is In progress." in row_of(html, "node #101")
    assert "Not sent: the chosen round is In progress" in row_of(html, "#12 ")
    assert "Will be stopped" not in row_of(html, "node #102")


# --------------------------------------------------------------------------- U13: more columns


def test_the_confirmation_shows_parent_id_rounds_and_creation_time(agent_client):
    created = datetime(2026, 11, 26, 3, 23, tzinfo=UTC)
    task = make_task(
        12, parent_task_id=2026112600400, finish_num=1, recall_num=3, created_at_remote=created
    )

    html = preview(agent_client, "cancel_tasks", task)

    row = row_of(html, "#12 ")
    assert ">2026112600400<" in row and ">1/3<" in row
    assert formats.localize(timezone.template_localtime(created)) in row
    for heading in ("Parent task id", "Rounds done/required", "Created at LAAFFIC"):
        assert f'<th scope="col">{heading}</th>' in html


def test_a_status_reads_the_same_in_the_confirmation_as_in_the_task_list(agent_client):
    """One badge for a status on every page, an undocumented one included."""
    known, odd = make_task(12, status=Status.COMPLETED), make_task(13, status=7)
    chosen, _later = make_nodes(make_task(14), Status.PENDING, 7)

    html = preview(agent_client, "cancel_tasks", known, odd)
    listed = agent_client.get(TASKS).content.decode()

    for task in (known, odd):
        badge = status_badge(task.status)
        assert badge in row_of(html, f"#{task.key_id} ") and badge in listed
    assert '<span class="laaffic-status laaffic-status-unknown">Unknown (7)</span>' in html
    rounds = agent_client.get(node_url(chosen)).content.decode()
    assert status_badge(7) in rounds and status_badge(Status.PENDING) in rounds


def test_a_status_not_known_at_all_is_a_badge_without_a_number():
    expected = '<span class="laaffic-status laaffic-status-unknown">Unknown</span>'
    assert status_badge(None) == expected


def test_status_badges_are_built_in_one_place():
    """Templates show a status with the ``status_badge`` filter, never by hand."""
    root = Path(laaffic_recall.__file__).parent / "templates"
    by_hand = [
        str(t.relative_to(root)) for t in root.rglob("*.html") if "laaffic-status-" in t.read_text()
    ]
    assert by_hand == []


def test_the_chinese_confirmation_uses_full_width_punctuation(agent_client):
    agent_client.cookies["django_language"] = "zh-hans"
    chosen, _later = make_nodes(make_task(12), Status.PENDING, Status.PENDING)

    html = agent_client.get(node_url(chosen)).content.decode()

    assert "原因：</label>" in html  # noqa: RUF001
    assert "<strong>（所选）</strong>" in html and "） <strong>" not in html


def test_the_chinese_parent_form_labels_its_field_with_a_full_width_colon(agent_client):
    agent_client.cookies["django_language"] = "zh-hans"
    html = agent_client.get(TASKS + "cancel-by-parent/").content.decode()
    label = re.search(r'<label class="required" for="id_parent_task_id">(.*?)</label>', html)
    assert label and label[1].endswith("：")  # noqa: RUF001


def test_an_attempt_and_a_node_are_named_in_the_readers_language():
    task = make_task(12)
    [node] = make_nodes(task, Status.PENDING)
    attempt = attempt_on(task, CancelType.TASK, 12, Outcome.REFUSED)
    with translation.override("zh-hans"):
        assert str(node) == "节点 #101（任务 #12 的第 1 轮）"
        assert str(attempt).endswith(" 12：被拒绝")  # noqa: RUF001
    with translation.override("en"):
        assert str(node) == "node #101 (round 1 of task #12)"
        assert str(attempt).endswith(" 12: Refused")


# --------------------------------------------------------------------------- U11: the summary


def test_the_summary_counts_the_tasks_and_rounds_that_stopped(mocked_api, agent_client):
    a, b = make_task(12), make_task(13)
    expect_cancel(mocked_api, 1, 12, 12)
    expect_cancel(mocked_api, 1, 13, 13)

    response = confirm(agent_client, "cancel_tasks", a.pk, b.pk)

    level, text = last_message(response)
    attempt = CancelAttempt.objects.first()
    assert level == levels.SUCCESS
    assert text.startswith(
        '<span class="laaffic-cancel-headline">Stopped 2 recall tasks. '
        f"(ref {str(attempt.correlation_id)[:8]})</span>"
    )
    assert "Cancel " not in text
    assert f"correlation_id={attempt.correlation_id}" in text
