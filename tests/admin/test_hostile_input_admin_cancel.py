"""Hostile and odd POSTs on the cancel actions, buttons and the parent-id form, and odd
vendor answers while an agent confirms: a message, at most one cancel POST, every audit
row finished, never a 500."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from laaffic_recall.models import CancelAttempt, Outcome, RecallTask
from tests.support.admin import AGENT_PERMISSIONS, BY_PARENT, NODES, TASKS, logged_in
from tests.support.mirror import make_nodes, make_task, pending_task_with_nodes
from tests.support.vendor import (
    COMPLETED,
    PENDING,
    add_cancel,
    add_detail,
    add_detail_answer,
    add_page,
    api_url,
    calls_to,
    detail_data,
    envelope,
    pending_detail,
    sent_bodies,
    signed,
)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

HUGE = str(2**70)


def messages_of(response) -> list[tuple[int, str]]:
    return [(m.level, str(m)) for m in get_messages(response.wsgi_request)]


def no_call_no_row(mocked_api) -> bool:
    return len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


# --------------------------------------------------------------------------- the action POST


@pytest.mark.parametrize(
    "selected",
    [[], [""], ["0"], ["999999"], ["-5"], [HUGE], ["١٢"], ["1e3"], [" 1"], ["\x00"]],
)
def test_a_cancel_action_with_an_odd_selection_sends_nothing_and_says_why(
    mocked_api, agent_client, selected
):
    make_task(12)

    response = agent_client.post(
        TASKS, {"action": "cancel_tasks", "index": 0, "_selected_action": selected}
    )

    assert response.status_code in (200, 302)
    if response.status_code == 200:  # a confirmation page with nothing to confirm
        html = response.content.decode()
        assert "Nothing will be sent" in html and "no longer exists" in html
        assert 'value="yes"' not in html
    else:
        assert messages_of(response), "the agent is told something"
    assert no_call_no_row(mocked_api)


@pytest.mark.parametrize("action", ["cancel_tasks", "cancel_tasks_by_parent"])
def test_a_duplicated_id_is_one_target_and_one_call(mocked_api, agent_client, action):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(
        mocked_api,
        1 if action == "cancel_tasks" else 2,
        12 if action == "cancel_tasks" else task.parent_task_id,
    )
    add_detail(mocked_api, 12, 3, nodes=((101, 3),))
    if action == "cancel_tasks_by_parent":
        add_page(mocked_api, {"keyId": 12, "taskId": task.parent_task_id, "status": 0})

    response = agent_client.post(
        TASKS,
        {"action": action, "_selected_action": [task.pk, task.pk, str(task.pk)], "post": "yes"},
    )

    assert response.status_code == 302
    assert len(sent_bodies(mocked_api)) == 1
    assert CancelAttempt.objects.count() == 1
    [(_level, text)] = messages_of(response)
    assert "Stopped 1 recall task." in text
    assert text.count("Stopped: LAAFFIC now shows it Cancelled") == 1


@pytest.mark.parametrize(
    "action",
    [["no_such_action"], [""], ["delete_selected"], ["cancel_tasks\x00"], ["__class__"]],
)
def test_an_action_name_that_does_not_exist_runs_nothing(mocked_api, agent_client, action):
    task = make_task(12)

    response = agent_client.post(
        TASKS, {"action": action, "_selected_action": [task.pk], "post": "yes"}
    )

    assert response.status_code in (200, 302)
    assert no_call_no_row(mocked_api)
    assert RecallTask.objects.filter(pk=task.pk).exists()


@pytest.mark.parametrize("index", ["-1", "abc", "99", HUGE, ""])
def test_an_odd_action_index_is_never_a_server_error(mocked_api, agent_client, index):
    task = make_task(12)

    response = agent_client.post(
        TASKS, {"action": ["cancel_tasks"], "index": index, "_selected_action": [task.pk]}
    )

    assert response.status_code in (200, 302)
    assert no_call_no_row(mocked_api)


@pytest.mark.parametrize(
    ("reason", "error"),
    [
        ("x" * 100_000, "at most 1000 characters"),
        ("ticket\x00 42", "Null characters are not allowed"),
    ],
)
def test_a_reason_the_log_cannot_keep_shows_the_confirmation_again(
    mocked_api, agent_client, reason, error
):
    task = make_task(12)

    response = agent_client.post(
        TASKS,
        {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes", "reason": reason},
    )

    assert response.status_code == 200
    assert error in response.content.decode()
    assert no_call_no_row(mocked_api)


def test_a_reason_with_emoji_and_direction_marks_is_kept_verbatim(mocked_api, agent_client):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, 3, nodes=((101, 3),))
    reason = "Kunde ‏بالعربية‎ 🎉 \u202eevil\u202c <b>x</b>"

    response = agent_client.post(
        TASKS,
        {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes", "reason": reason},
    )

    assert response.status_code == 302
    assert CancelAttempt.objects.get().reason == reason


def test_a_node_action_with_an_odd_selection_sends_nothing(mocked_api, agent_client):
    task = make_task(12)
    [node] = make_nodes(task, PENDING)
    for selected in [[], [HUGE], [node.pk, node.pk], ["-1"], [str(node.pk), "999999"]]:
        response = agent_client.post(
            NODES,
            {"action": "cancel_from_node", "index": 0, "_selected_action": selected, "post": "yes"},
        )
        assert response.status_code in (200, 302), selected
        assert messages_of(response), selected

    # [node.pk, node.pk] is one node: the only call allowed is that one cancel.
    assert [b for b in sent_bodies(mocked_api)] in ([], [{"type": 3, "id": node.key_id}])


# --------------------------------------------------------------------------- the buttons


def test_a_get_on_every_cancel_url_changes_nothing(mocked_api, agent_client):
    task = make_task(12)
    [node] = make_nodes(task, PENDING)
    urls = [
        reverse("admin:laaffic_recall_recalltask_cancel", args=[task.pk]),
        reverse("admin:laaffic_recall_recalltask_cancel_from_node", args=[task.pk, node.pk]),
        BY_PARENT,
    ]
    for url in urls:
        for query in [{}, {"post": "yes"}, {"post": "yes", "parent_task_id": "2024051800012"}]:
            assert agent_client.get(url, query).status_code == 200

    assert no_call_no_row(mocked_api)


@pytest.mark.parametrize("method", ["put", "patch", "delete", "options"])
def test_other_methods_on_a_cancel_url_change_nothing(mocked_api, agent_client, method):
    task = make_task(12)
    url = reverse("admin:laaffic_recall_recalltask_cancel", args=[task.pk])

    response = getattr(agent_client, method)(
        url, "post=yes", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code < 500
    assert no_call_no_row(mocked_api)


def test_a_post_without_the_csrf_token_is_refused_with_nothing_sent(mocked_api):
    task = make_task(12)
    [node] = make_nodes(task, PENDING)
    csrf_client = logged_in(Client(enforce_csrf_checks=True), "agent", *AGENT_PERMISSIONS)
    posts = [
        (reverse("admin:laaffic_recall_recalltask_cancel", args=[task.pk]), {"post": "yes"}),
        (
            reverse("admin:laaffic_recall_recalltask_cancel_from_node", args=[task.pk, node.pk]),
            {"post": "yes"},
        ),
        (BY_PARENT, {"post": "yes", "parent_task_id": task.parent_task_id}),
        (TASKS, {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"}),
        (NODES, {"action": "cancel_from_node", "_selected_action": [node.pk], "post": "yes"}),
    ]
    for url, data in posts:
        assert csrf_client.post(url, data).status_code == 403, url

    assert no_call_no_row(mocked_api)


@pytest.mark.parametrize(
    "path",
    [
        "abc/cancel/",
        "-1/cancel/",
        f"{HUGE}/cancel/",
        "0/cancel/",
        "%00/cancel/",
        "12/cancel-from-node/abc/",
        f"12/cancel-from-node/{HUGE}/",
        f"{HUGE}/cancel-from-node/1/",
        "abc/cancel-from-node/1/",
    ],
)
def test_a_posted_cancel_to_an_odd_url_sends_nothing(mocked_api, agent_client, path):
    make_task(12)

    response = agent_client.post(f"{TASKS}{path}", {"post": "yes"})

    assert response.status_code in (302, 404)
    assert no_call_no_row(mocked_api)


def test_a_confirmed_cancel_of_a_node_of_another_task_sends_nothing(mocked_api, agent_client):
    task = make_task(12)
    other = make_task(13)
    [node] = make_nodes(other, PENDING)
    url = reverse("admin:laaffic_recall_recalltask_cancel_from_node", args=[task.pk, node.pk])

    response = agent_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert no_call_no_row(mocked_api)


# --------------------------------------------------------------------------- by parent id


@pytest.mark.parametrize(
    "typed",
    [
        "text",
        "-5",
        HUGE,
        "",
        "   ",
        "١٢٣",
        "1e5",
        "0x10",
        "+12",
        "12 34",
        "#",
        "##12",
        "１２",
        "12\x00",
        "9" * 10_000,
        "9223372036854775808",
    ],
)
def test_the_parent_id_form_refuses_what_is_not_an_id_without_a_call(
    mocked_api, agent_client, typed
):
    for data in [{"parent_task_id": typed}, {"parent_task_id": typed, "post": "yes"}]:
        response = agent_client.post(BY_PARENT, data)
        assert response.status_code == 200
        assert response.context["form"].errors

    assert no_call_no_row(mocked_api)


@pytest.mark.parametrize("typed", [" 2024051800012 ", "#2024051800012", "# 2024051800012"])
def test_the_parent_id_form_takes_an_id_as_the_admin_writes_it(mocked_api, agent_client, typed):
    mocked_api.post(
        api_url("queryPage"),
        json=envelope({"total": 0, "size": 100, "current": 1, "pages": 0, "records": []}),
        match=[signed],
    )

    response = agent_client.post(BY_PARENT, {"parent_task_id": typed})

    assert response.status_code == 200
    note = response.content.decode().split('<p class="errornote">', 1)[1].split("</p>")[0]
    assert "LAAFFIC has no recall task with parent task id 2024051800012" in note
    assert sent_bodies(mocked_api) == []


def test_the_parent_id_form_without_the_field_at_all_is_a_form_error(mocked_api, agent_client):
    for data in [{}, {"post": "yes"}, {"reason": "x"}, {"parent_task_id": ["1", "2"]}]:
        response = agent_client.post(BY_PARENT, data)
        assert response.status_code in (200, 302)

    assert sent_bodies(mocked_api) == [] and CancelAttempt.objects.count() == 0


# --------------------------------------------------------------------------- odd vendor answers


ODD_DETAILS = {
    "no node list": {k: v for k, v in pending_detail().items() if k != "nodeList"},
    "node list null": pending_detail(nodeList=None),
    "node list a dict": pending_detail(nodeList={"keyId": 101}),
    "null fields": pending_detail(recallInterval=None, recallNum=None, recallType=None),
    "status null": pending_detail(status=None),
    "status a word": pending_detail(status="pending"),
    "ints as strings": pending_detail(
        keyId="12",
        status="0",
        recallNum="2",
        nodeList=[{"keyId": "101", "taskId": "9101", "nodeStatus": "0", "scriptId": 7}],
    ),
    "status beyond smallint": pending_detail(status=70_000),
    "interval beyond int": pending_detail(recallInterval=2**40, recallNum=-(2**40)),
    "node status beyond smallint": pending_detail(
        nodeList=[{"keyId": 101, "taskId": 9101, "nodeStatus": 70_000}]
    ),
    "node key beyond 64 bits": pending_detail(
        nodeList=[{"keyId": 2**70, "taskId": 9101, "nodeStatus": 0}]
    ),
    "node group task beyond 64 bits": pending_detail(
        nodeList=[{"keyId": 101, "taskId": 2**70, "nodeStatus": 0}]
    ),
    "duplicated node keys": pending_detail(
        nodeList=[
            {"keyId": 101, "taskId": 9101, "nodeStatus": 0},
            {"keyId": 101, "taskId": 9102, "nodeStatus": 0},
        ]
    ),
    "node status null": pending_detail(
        nodeList=[{"keyId": 101, "taskId": 9101, "nodeStatus": None}]
    ),
    "node without key": pending_detail(nodeList=[{"taskId": 9101, "nodeStatus": 0}]),
    "node a string": pending_detail(nodeList=["101"]),
    "script id huge": pending_detail(
        nodeList=[{"keyId": 101, "taskId": 9101, "nodeStatus": 0, "scriptId": "s" * 5000}]
    ),
    "another task's key": detail_data(13, PENDING),
    "nested junk": pending_detail(extra={"a": [{"b": [None, True, 1.5, "x" * 1000]}]}),
    "many nodes": pending_detail(
        nodeList=[{"keyId": 100_000 + i, "taskId": 9000, "nodeStatus": 0} for i in range(10_000)]
    ),
}


@pytest.mark.parametrize("answer", ODD_DETAILS.values(), ids=ODD_DETAILS.keys())
def test_an_odd_detail_while_the_agent_confirms_is_a_message_and_a_finished_row(
    mocked_api, agent_client, answer
):
    task = pending_task_with_nodes()
    add_detail_answer(mocked_api, answer)
    add_cancel(mocked_api, 1, 12)
    add_detail_answer(mocked_api, answer)

    response = agent_client.post(
        TASKS, {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"}
    )

    assert response.status_code == 302
    assert len(messages_of(response)) == 1
    assert len(calls_to(mocked_api, "cancel")) <= 1
    rows = list(CancelAttempt.objects.all())
    assert len(rows) == 1
    assert rows[0].outcome != Outcome.PENDING


@pytest.mark.parametrize("answer", ODD_DETAILS.values(), ids=ODD_DETAILS.keys())
def test_an_odd_detail_on_refresh_is_a_message(mocked_api, agent_client, answer):
    task = pending_task_with_nodes()
    for _ in range(3):
        add_detail_answer(mocked_api, answer)

    response = agent_client.post(TASKS, {"action": "refresh_tasks", "_selected_action": [task.pk]})

    assert response.status_code == 302
    assert messages_of(response)
    assert RecallTask.objects.filter(key_id=12).exists()


def test_an_odd_detail_on_the_task_page_of_a_completed_task_changes_nothing(
    mocked_api, agent_client
):
    task = make_task(12, status=COMPLETED)

    response = agent_client.get(reverse("admin:laaffic_recall_recalltask_change", args=[task.pk]))

    assert response.status_code == 200
    assert no_call_no_row(mocked_api)


def parent_record(parent: int, **fields) -> dict:
    record = {"keyId": 12, "taskId": parent, "taskName": "n", "status": 0}
    record.update(fields)
    return record


def test_a_looked_up_task_the_mirror_cannot_hold_is_a_message_not_a_500(mocked_api, agent_client):
    parent = 2024051800012
    add_page(mocked_api, parent_record(parent, keyId=2**70))

    response = agent_client.post(BY_PARENT, {"parent_task_id": str(parent)})

    assert response.status_code == 200
    html = response.content.decode()
    assert '<p class="errornote">' in html and "Database error while storing" in html
    assert sent_bodies(mocked_api) == [] and CancelAttempt.objects.count() == 0


@pytest.mark.parametrize(
    "records",
    [
        [None],
        [parent_record(2024051800012, taskId=2024051800013)],
        [parent_record(2024051800012), parent_record(2024051800012, status=2)],
        [parent_record(2024051800012, taskName="a\x00b\ud800", createTime="9999-99-99")],
        [parent_record(2024051800012, taskId="2024051800012", status="0")],
    ],
    ids=["null record", "other parent", "duplicated key", "odd texts", "ints as strings"],
)
def test_odd_records_of_a_parent_lookup_are_a_page_or_a_message(mocked_api, agent_client, records):
    add_page(mocked_api, *records)

    response = agent_client.post(BY_PARENT, {"parent_task_id": "2024051800012"})

    assert response.status_code == 200
    assert sent_bodies(mocked_api) == [] and CancelAttempt.objects.count() == 0
