"""Cancelling from the admin, the way a browser does it: action POST, confirmation, post=yes."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import constants as levels
from django.urls import reverse

from laaffic_recall.models import CancelAttempt, CancelType, Outcome, RecallNode, RecallTask
from tests.support.admin import (
    BY_PARENT,
    NODES,
    TASKS,
    cancel_url,
    last_message,
    node_url,
    task_url,
)
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    PENDING,
    add_cancel,
    add_detail,
    add_page,
    api_url,
    calls_to,
    page_of,
    sent_bodies,
    signed,
    task_record,
)

pytestmark = pytest.mark.django_db


def hidden_inputs(html: str) -> list[tuple[str, str]]:
    """The confirmation form's hidden fields (not the CSRF tokens of this and the logout
    form, nor the one-time submission token, whose value is new on every page)."""
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    skip = {"csrfmiddlewaretoken", "submission_token"}
    return [(name, value) for name, value in found if name not in skip]


# --------------------------------------------------------------------------- type 1, action


def test_cancel_tasks_confirmation_lists_exactly_what_will_be_cancelled(mocked_api, agent_client):
    pending = make_task(12, task_name="Spring")
    done = make_task(13, status=COMPLETED, task_name="Summer")
    make_task(14, task_name="Not selected")

    response = agent_client.post(
        TASKS,
        {"action": "cancel_tasks", "index": 0, "_selected_action": [pending.pk, done.pk]},
    )

    assert response.status_code == 200
    assert "admin/laaffic_recall/cancel_confirmation.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert "#12 Spring" in html and "#13 Summer" in html and "Not selected" not in html
    assert "Will be stopped." in html
    assert "Not sent: LAAFFIC shows it Completed; only a Pending task can be cancelled." in html
    assert sorted(hidden_inputs(html)) == sorted(
        [
            ("_selected_action", str(pending.pk)),
            ("_selected_action", str(done.pk)),
            ("action", "cancel_tasks"),
            ("post", "yes"),
        ]
    )
    assert 'name="reason"' in html and "<textarea" in html
    assert 'value="Stop 1 recall task"' in html and "This cannot be undone." in html
    assert re.search(rf'href="{re.escape(TASKS)}"[^>]*>No, take me back', html)
    assert "csrfmiddlewaretoken" in html
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


def test_confirming_cancel_tasks_sends_one_call_per_task_and_says_what_happened(
    mocked_api, agent_client
):
    a = make_task(12, task_name="Spring")
    b = make_task(13, task_name="Summer")
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)
    add_detail(mocked_api, 13, IN_PROGRESS)  # moved on since the last sync

    response = agent_client.post(
        TASKS,
        {
            "action": "cancel_tasks",
            "_selected_action": [a.pk, b.pk],
            "post": "yes",
            "reason": "ticket #881",
        },
        REMOTE_ADDR="10.1.2.3",
    )

    assert response.status_code == 302 and response.url == TASKS
    assert sent_bodies(mocked_api) == [{"type": 1, "id": 12}]
    rows = {r.target_id: r for r in CancelAttempt.objects.all()}
    assert rows[12].outcome == Outcome.SUCCEEDED and rows[13].outcome == Outcome.SKIPPED
    assert rows[12].username == "agent" and rows[12].reason == "ticket #881"
    assert rows[12].client_ip == "10.1.2.3"
    assert rows[12].correlation_id == rows[13].correlation_id
    level, text = last_message(response)
    assert level == levels.WARNING
    assert text.startswith('<span class="laaffic-cancel-headline">Stopped 1 recall task. 1 not')
    assert re.search(
        r"#12 Spring</a></span> Stopped: LAAFFIC now shows it Cancelled, read at", text
    )
    assert re.search(r"#13 Summer</a></span> Not stopped: LAAFFIC shows it In progress", text)
    assert f"correlation_id={rows[12].correlation_id}" in text


def test_no_take_me_back_sends_nothing(mocked_api, agent_client):
    task = make_task(12)
    page = agent_client.post(
        TASKS, {"action": "cancel_tasks", "index": 0, "_selected_action": [task.pk]}
    )
    back = re.search(r'href="([^"]+)"[^>]*>No, take me back', page.content.decode()).group(1)

    response = agent_client.get(back)

    assert response.status_code == 200
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0
    task.refresh_from_db()
    assert task.status == PENDING


def test_a_refusal_is_an_error_message_with_the_vendor_hint(mocked_api, agent_client):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, json={"code": -16, "msg": "timestamp expired"})
    add_detail(mocked_api, 12, PENDING)

    response = agent_client.post(
        TASKS, {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"}
    )

    level, text = last_message(response)
    assert level == levels.ERROR
    assert "Not stopped: LAAFFIC refused the cancel (code -16, " in text
    assert "“timestamp expired”" in text and "clock" in text
    assert "test-secret-do-not-leak" not in text


def test_vendor_text_in_the_summary_is_escaped(mocked_api, agent_client):
    task = make_task(12, task_name="<i>Spring</i>")
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, json={"code": -99, "msg": "<script>alert(1)</script>"})
    add_detail(mocked_api, 12, PENDING)

    response = agent_client.post(
        TASKS, {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"}, follow=True
    )

    html = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "&lt;i&gt;Spring&lt;/i&gt;" in html
    attempt = CancelAttempt.objects.get()
    assert attempt.response_message == "<script>alert(1)</script>"  # stored verbatim


def test_unexpected_error_in_the_transport_is_a_message_not_a_500(mocked_api, agent_client):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    mocked_api.add_callback(
        "POST", api_url("cancel"), callback=lambda request: 1 / 0, match=[signed]
    )
    add_detail(mocked_api, 12, PENDING)

    response = agent_client.post(
        TASKS, {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"}
    )

    assert response.status_code == 302
    level, text = last_message(response)
    assert level == levels.WARNING and "1 recall task not known yet." in text
    assert "Not known yet whether the cancel of" in text
    assert CancelAttempt.objects.get().outcome == Outcome.UNKNOWN


def test_selection_larger_than_the_cap_is_refused_with_a_message(
    mocked_api, agent_client, settings
):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "MAX_CANCEL_BATCH": 2}
    tasks = [make_task(k) for k in (12, 13, 14)]
    for post in ({}, {"post": "yes"}):
        response = agent_client.post(
            TASKS,
            {"action": "cancel_tasks", "index": 0, "_selected_action": [t.pk for t in tasks]}
            | post,
        )
        assert response.status_code == 302
        level, text = last_message(response)
        assert level == levels.ERROR and "at most 2" in text and "3" in text
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


def test_an_overlong_reason_shows_the_confirmation_again(mocked_api, agent_client):
    task = make_task(12)
    response = agent_client.post(
        TASKS,
        {
            "action": "cancel_tasks",
            "_selected_action": [task.pk],
            "post": "yes",
            "reason": "x" * 1001,
        },
    )
    assert response.status_code == 200
    assert "at most 1000 characters" in response.content.decode()
    assert len(mocked_api.calls) == 0


def test_forwarded_for_is_trusted_only_per_setting(mocked_api, agent_client, settings):
    task = make_task(12)
    for _ in range(2):
        add_detail(mocked_api, 12, PENDING)
        add_cancel(mocked_api, 1, 12, json={"code": -18, "msg": "busy"})
        add_detail(mocked_api, 12, PENDING)
    data = {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"}
    headers = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.7"}

    agent_client.post(TASKS, data, **headers)
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "TRUSTED_PROXY_COUNT": 1}
    agent_client.post(TASKS, data, **headers)

    ips = list(CancelAttempt.objects.order_by("id").values_list("client_ip", flat=True))
    assert ips == ["10.0.0.1", "203.0.113.7"]


@pytest.mark.parametrize("bad", ["abc", "-1", "1e3", "99999999999999999999999"])
def test_malformed_selected_ids_are_not_a_500(mocked_api, agent_client, bad):
    make_task(12)
    response = agent_client.post(
        TASKS, {"action": "cancel_tasks", "index": 0, "_selected_action": [bad]}
    )
    assert response.status_code == 302
    level, text = last_message(response)
    assert level == levels.ERROR and "invalid id" in text
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


# --------------------------------------------------------------------------- type 2, action


def test_cancel_by_parent_sends_one_call_per_distinct_parent(mocked_api, agent_client):
    a = make_task(12, parent_task_id=500)
    b = make_task(13, parent_task_id=500)
    c = make_task(14, parent_task_id=600)
    orphan = make_task(15, parent_task_id=None)
    selected = [a.pk, b.pk, c.pk, orphan.pk]

    def lists(*records):  # queryPage by parent id, for the preview then the confirmation
        for _twice in range(2):
            mocked_api.post(api_url("queryPage"), json=page_of(*records), match=[signed])

    lists((12, 500, "Campaign 12", PENDING), (13, 500, "Campaign 13", PENDING))
    lists((14, 600, "Campaign 14", PENDING))

    page = agent_client.post(
        TASKS, {"action": "cancel_tasks_by_parent", "index": 0, "_selected_action": selected}
    )
    html = page.content.decode()
    assert "Parent task 500" in html and "Parent task 600" in html
    assert "Not sent: no parent task id is known for it." in html
    assert calls_to(mocked_api, "cancel") == []

    for key in (12, 13, 14):
        add_detail(mocked_api, key, PENDING)
    add_cancel(mocked_api, 2, 500)
    add_cancel(mocked_api, 2, 600)
    add_detail(mocked_api, 12, CANCELLED)
    add_detail(mocked_api, 13, CANCELLED)
    add_detail(mocked_api, 14, CANCELLED)

    response = agent_client.post(
        TASKS,
        {"action": "cancel_tasks_by_parent", "_selected_action": selected, "post": "yes"},
    )

    assert response.status_code == 302
    assert sorted(b["id"] for b in sent_bodies(mocked_api)) == [500, 600]
    assert {b["type"] for b in sent_bodies(mocked_api)} == {2}
    assert set(CancelAttempt.objects.values_list("cancel_type", "target_id", "outcome")) == {
        (CancelType.PARENT, 500, Outcome.SUCCEEDED),
        (CancelType.PARENT, 600, Outcome.SUCCEEDED),
    }
    level, text = last_message(response)
    assert level == levels.WARNING  # the task without a parent id was not cancelled
    assert "Stopped 3 recall tasks (6 remaining rounds). 1 not stopped." in text
    for key in (12, 13, 14):
        assert f"#{key} Campaign {key}</a></span> Stopped: LAAFFIC now shows it Cancelled" in text
    assert "#15 Campaign 15</a></span> Not stopped: no parent task id is known for it." in text


# --------------------------------------------------------------------------- type 3, action


def test_node_action_confirmation_shows_the_node_and_every_later_node(mocked_api, agent_client):
    task = make_task(12)
    nodes = make_nodes(task, COMPLETED, PENDING, IN_PROGRESS, PENDING)

    response = agent_client.post(
        NODES, {"action": "cancel_from_node", "index": 0, "_selected_action": [nodes[1].pk]}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "node #101" not in html  # before the chosen node: not affected
    rows = re.findall(r"<tr class=\"([^\"]+)\">\s*<td>Round (\d) \(node #(\d+)\)", html)
    assert [(int(r), int(k)) for _, r, k in rows] == [(2, 102), (3, 103), (4, 104)]
    assert "laaffic-chosen" in rows[0][0]
    assert ["will-cancel" in c for c, _, _ in rows] == [True, False, True]
    assert "Not sent: this round is In progress." in html
    assert 'value="Stop rounds 2, 4"' in html  # round 3 runs: LAAFFIC stops the Pending ones
    assert "Rounds 2, 4 will be stopped." in html
    assert ("action", "cancel_from_node") in hidden_inputs(html)
    assert len(mocked_api.calls) == 0


def test_node_action_end_to_end(mocked_api, agent_client):
    task = make_task(12)
    nodes = make_nodes(task, COMPLETED, PENDING, PENDING)
    add_detail(mocked_api, 12, PENDING, nodes=((101, COMPLETED), (102, PENDING), (103, PENDING)))
    add_cancel(mocked_api, 3, 102)
    add_detail(mocked_api, 12, PENDING, nodes=((101, COMPLETED), (102, CANCELLED), (103, 3)))

    response = agent_client.post(
        NODES,
        {"action": "cancel_from_node", "_selected_action": [nodes[1].pk], "post": "yes"},
    )

    assert response.status_code == 302 and response.url == NODES
    assert sent_bodies(mocked_api) == [{"type": 3, "id": 102}]
    attempt = CancelAttempt.objects.get()
    assert (attempt.cancel_type, attempt.node, attempt.outcome) == (3, nodes[1], "succeeded")
    level, text = last_message(response)
    assert level == levels.SUCCESS
    assert "Stopped 2 rounds of recall task #12 Campaign 12." in text
    assert "Stopped rounds 2-3: LAAFFIC now shows it Cancelled, read at" in text


def test_node_action_needs_exactly_one_node(mocked_api, agent_client):
    task = make_task(12)
    nodes = make_nodes(task, PENDING, PENDING)
    response = agent_client.post(
        NODES,
        {"action": "cancel_from_node", "index": 0, "_selected_action": [n.pk for n in nodes]},
    )
    assert response.status_code == 302
    level, text = last_message(response)
    assert level == levels.WARNING and "exactly one node" in text
    assert len(mocked_api.calls) == 0


# --------------------------------------------------------------------------- task page


def test_task_page_has_a_cancel_button_and_node_buttons_for_pending_rows(agent_client):
    task = make_task(12)
    nodes = make_nodes(task, COMPLETED, PENDING, PENDING)

    html = agent_client.get(task_url(task)).content.decode()

    assert f'href="{cancel_url(task)}"' in html and "Cancel this task" in html
    assert node_url(nodes[0]) not in html
    assert node_url(nodes[1]) in html and node_url(nodes[2]) in html
    assert html.count("Cancel from here") == 2


def test_task_page_without_buttons_when_not_pending(agent_client):
    task = make_task(12, status=COMPLETED)
    make_nodes(task, COMPLETED)
    html = agent_client.get(task_url(task)).content.decode()
    assert cancel_url(task) not in html and "Cancel from here" not in html


def test_task_button_confirms_on_get_then_cancels_on_post(mocked_api, agent_client):
    task = make_task(12, task_name="Spring")

    page = agent_client.get(cancel_url(task))
    html = page.content.decode()
    assert page.status_code == 200 and "#12 Spring" in html and "Will be stopped" in html
    assert re.search(rf'href="{re.escape(task_url(task))}"[^>]*>No, take me back', html)
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0

    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)
    response = agent_client.post(cancel_url(task), {"post": "yes", "reason": "customer asked"})

    assert response.status_code == 302 and response.url == task_url(task)
    assert sent_bodies(mocked_api) == [{"type": 1, "id": 12}]
    attempt = CancelAttempt.objects.get()
    assert (attempt.outcome, attempt.reason) == (Outcome.SUCCEEDED, "customer asked")
    level, _ = last_message(response)
    assert level == levels.SUCCESS


def test_post_without_confirmation_field_changes_nothing(mocked_api, agent_client):
    task = make_task(12)
    response = agent_client.post(cancel_url(task), {"reason": "x"})
    assert response.status_code == 200  # the confirmation page again
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


def test_node_button_confirms_with_later_nodes_then_cancels(mocked_api, agent_client):
    task = make_task(12)
    nodes = make_nodes(task, COMPLETED, PENDING, PENDING)

    page = agent_client.get(node_url(nodes[1]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Round 2 (node #102)" in html and "Round 3 (node #103)" in html
    assert "Round 1 (node #101)" not in html
    assert len(mocked_api.calls) == 0

    add_detail(mocked_api, 12, PENDING, nodes=((101, COMPLETED), (102, PENDING), (103, PENDING)))
    add_cancel(mocked_api, 3, 102)
    add_detail(mocked_api, 12, PENDING, nodes=((101, COMPLETED), (102, 3), (103, 3)))
    response = agent_client.post(node_url(nodes[1]), {"post": "yes"})

    assert response.status_code == 302 and response.url == task_url(task)
    assert sent_bodies(mocked_api) == [{"type": 3, "id": 102}]
    statuses = list(RecallNode.objects.order_by("position").values_list("status", flat=True))
    assert statuses == [COMPLETED, CANCELLED, CANCELLED]


def test_task_pages_timeline_lists_its_cancel_attempts(agent_client):
    task = make_task(12)
    CancelAttempt.objects.create(
        cancel_type=1,
        target_id=12,
        task=task,
        task_key_id=12,
        outcome=Outcome.REFUSED,
        response_code=-16,
        response_message="timestamp expired",
        username="ann",
        reason="ticket 7",
    )
    html = agent_client.get(task_url(task)).content.decode()
    assert "Timeline" in html
    assert "timestamp expired" in html and "ticket 7" in html and "ann asked LAAFFIC" in html


def test_unknown_task_or_node_redirects_with_a_message(mocked_api, agent_client):
    task = make_task(12)
    response = agent_client.get(reverse("admin:laaffic_recall_recalltask_cancel", args=[999]))
    assert response.status_code == 302
    response = agent_client.get(
        reverse("admin:laaffic_recall_recalltask_cancel_from_node", args=[task.pk, 999])
    )
    assert response.status_code == 302 and response.url == task_url(task)
    assert len(mocked_api.calls) == 0


# --------------------------------------------------------------------------- by parent id


def test_changelist_links_to_the_parent_id_form(agent_client):
    html = agent_client.get(TASKS).content.decode()
    assert f'href="{BY_PARENT}"' in html and "Cancel by parent task id" in html


@pytest.mark.parametrize("bad", ["abc", "-5", "0", "1.5", "99999999999999999999", ""])
def test_parent_id_form_validates_without_any_call(mocked_api, agent_client, bad):
    response = agent_client.post(BY_PARENT, {"parent_task_id": bad})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


def test_parent_id_typed_by_hand_is_looked_up_then_confirmed(mocked_api, agent_client):
    parent = 2024051800123
    add_page(mocked_api, task_record(77, parent))

    assert agent_client.get(BY_PARENT).status_code == 200
    page = agent_client.post(BY_PARENT, {"parent_task_id": str(parent)})

    html = page.content.decode()
    assert page.status_code == 200
    assert "#77 Autumn" in html and "Will be stopped" in html
    assert ("parent_task_id", str(parent)) in hidden_inputs(html)
    assert ("post", "yes") in hidden_inputs(html)
    assert len(calls_to(mocked_api, "cancel")) == 0
    assert RecallTask.objects.get(key_id=77).parent_task_id == parent  # mirrored

    add_detail(mocked_api, 77, PENDING)
    add_cancel(mocked_api, 2, parent)
    add_detail(mocked_api, 77, CANCELLED)
    response = agent_client.post(
        BY_PARENT, {"parent_task_id": str(parent), "post": "yes", "reason": "r"}
    )

    assert response.status_code == 302 and response.url == TASKS
    assert sent_bodies(mocked_api) == [{"type": 2, "id": parent}]
    attempt = CancelAttempt.objects.get()
    assert (attempt.cancel_type, attempt.target_id, attempt.outcome) == (2, parent, "succeeded")


def test_parent_id_not_found_offers_no_confirmation(mocked_api, agent_client):
    empty = {"code": 0, "msg": "ok", "data": {"total": 0, "pages": 0, "records": []}}
    mocked_api.post(api_url("queryPage"), json=empty, match=[signed])
    response = agent_client.post(BY_PARENT, {"parent_task_id": "31337"})
    html = response.content.decode()
    assert "no recall task with parent task id 31337" in html
    assert 'name="post"' not in html
    assert len(calls_to(mocked_api, "cancel")) == 0


# --------------------------------------------------------------------------- permission


def test_without_the_permission_there_is_no_action_no_button_no_link(viewer_client):
    task = make_task(12)
    nodes = make_nodes(task, PENDING)
    changelist = viewer_client.get(TASKS)
    actions = [name for name, _ in changelist.context["action_form"].fields["action"].choices]
    assert "cancel_tasks" not in actions and "cancel_tasks_by_parent" not in actions
    assert "Cancel by parent task id" not in changelist.content.decode()
    node_form = viewer_client.get(NODES).context["action_form"]
    assert node_form is None or "cancel_from_node" not in str(node_form.fields["action"].choices)
    html = viewer_client.get(task_url(task)).content.decode()
    assert cancel_url(task) not in html and node_url(nodes[0]) not in html


def test_crafted_posts_without_the_permission_send_nothing(mocked_api, viewer_client):
    task = make_task(12)
    [node] = make_nodes(task, PENDING)
    crafted = [
        (TASKS, {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"}),
        (TASKS, {"action": "cancel_tasks_by_parent", "_selected_action": [task.pk], "post": "yes"}),
        (NODES, {"action": "cancel_from_node", "_selected_action": [node.pk], "post": "yes"}),
    ]
    for url, data in crafted:
        response = viewer_client.post(url, data)
        assert response.status_code == 302  # back to the list, with a refusal
        level, text = last_message(response)
        assert level == levels.ERROR and "Can cancel recall tasks" in text
    for url in (cancel_url(task), node_url(node), BY_PARENT):
        for response in (
            viewer_client.get(url),
            viewer_client.post(url, {"post": "yes", "parent_task_id": "5"}),
        ):
            assert response.status_code == 302
            assert "Can cancel recall tasks" in last_message(response)[1]
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


def test_superuser_may_cancel(mocked_api, admin_client):
    task = make_task(12)
    assert "Cancel this task" in admin_client.get(task_url(task)).content.decode()
    assert admin_client.get(cancel_url(task)).status_code == 200
