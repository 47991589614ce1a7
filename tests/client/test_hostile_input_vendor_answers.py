"""Vendor answers a mirror cannot hold or that name another task than the one asked for:
refused as bad answers before anything is stored or sent, alike on SQLite and PostgreSQL,
with a message an agent can read (not "unexpected DataError")."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from laaffic_recall.client import ProtocolError
from laaffic_recall.client.wire import parse_detail
from laaffic_recall.conf import get_client
from laaffic_recall.models import CancelAttempt, Outcome, RecallNode, RecallTask
from laaffic_recall.sync import sync_task_details
from tests.support.admin import TASKS
from tests.support.mirror import make_task, pending_task_with_nodes
from tests.support.vendor import (
    PENDING,
    add_cancel,
    add_detail_answer,
    api_url,
    calls_to,
    detail_data,
    pending_detail,
)

pytestmark = pytest.mark.django_db


def confirm_cancel(client, task):
    response = client.post(
        TASKS, {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"}
    )
    assert response.status_code == 302
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    return message


# --------------------------------------------------------------------------- another task


def test_a_detail_of_another_task_than_asked_is_a_protocol_error(mocked_api):
    add_detail_answer(mocked_api, detail_data(13, PENDING))

    with pytest.raises(ProtocolError, match="13") as caught:
        get_client().query_detail(12)

    assert "12" in str(caught.value)


def test_a_detail_of_another_task_while_confirming_sends_nothing_and_moves_no_node(
    mocked_api, agent_client_without_node_view
):
    task = pending_task_with_nodes()
    add_detail_answer(mocked_api, detail_data(13, PENDING, nodes=((101, PENDING),)))
    add_cancel(mocked_api, 1, 12)

    message = confirm_cancel(agent_client_without_node_view, task)

    assert calls_to(mocked_api, "cancel") == []
    assert "Not sent by this app: it could not be re-read from LAAFFIC first." in message
    assert CancelAttempt.objects.get().outcome == Outcome.FAILED
    assert not RecallTask.objects.filter(key_id=13).exists()
    assert sorted(RecallNode.objects.filter(task=task).values_list("key_id", flat=True)) == [
        101,
        102,
    ]


def test_a_refresh_answered_with_another_task_is_reported_and_stores_nothing(mocked_api):
    make_task(12)
    for _ in range(3):
        add_detail_answer(mocked_api, detail_data(13, PENDING))

    summary = sync_task_details([12])

    assert [str(f.key) for f in summary.failures] == ["12"]
    assert not RecallTask.objects.filter(key_id=13).exists()


# --------------------------------------------------------------------------- out of range


@pytest.mark.parametrize(
    "answer",
    [
        pending_detail(keyId=2**63),
        pending_detail(nodeList=[{"keyId": 2**70, "taskId": 9101, "nodeStatus": 0}]),
        pending_detail(status=70_000),
        pending_detail(status=-40_000),
        pending_detail(nodeList=[{"keyId": 101, "taskId": 9101, "nodeStatus": 2**40}]),
    ],
    ids=["task key", "node key", "status", "negative status", "node status"],
)
def test_a_key_or_status_beyond_its_column_fails_the_read_with_a_clear_message(answer):
    with pytest.raises(ProtocolError, match=r"out of range|positive numeric"):
        parse_detail(answer)


def test_an_id_or_count_of_a_detail_beyond_its_column_is_read_as_unknown():
    detail = parse_detail(
        pending_detail(
            recallInterval=2**31,
            recallNum=-(2**31) - 1,
            recallType=2**15,
            nodeList=[{"keyId": 101, "taskId": 2**63, "nodeStatus": 0}],
        )
    )

    assert (detail.recall_interval, detail.recall_num, detail.recall_type) == (None, None, None)
    assert detail.nodes[0].task_id is None


def test_the_largest_values_the_columns_hold_are_kept():
    detail = parse_detail(
        pending_detail(
            keyId=2**63 - 1,
            recallInterval=2**31 - 1,
            recallNum=-(2**31),
            status=-(2**15),
            nodeList=[{"keyId": 2**63 - 1, "taskId": 2**63 - 1, "nodeStatus": 2**15 - 1}],
        )
    )

    assert (detail.key_id, detail.recall_interval, detail.recall_num, detail.status) == (
        2**63 - 1,
        2**31 - 1,
        -(2**31),
        -(2**15),
    )
    assert (detail.nodes[0].key_id, detail.nodes[0].task_id, detail.nodes[0].status) == (
        2**63 - 1,
        2**63 - 1,
        2**15 - 1,
    )


@pytest.mark.parametrize(
    "answer",
    [
        pending_detail(status=70_000),
        pending_detail(nodeList=[{"keyId": 2**70, "taskId": 9101, "nodeStatus": 0}]),
        pending_detail(nodeList=[{"keyId": 101, "taskId": 9101, "nodeStatus": 70_000}]),
    ],
    ids=["status", "node key", "node status"],
)
def test_an_unstorable_detail_while_confirming_sends_nothing_and_says_what_was_wrong(
    mocked_api, agent_client_without_node_view, answer
):
    task = pending_task_with_nodes()
    add_detail_answer(mocked_api, answer)
    add_cancel(mocked_api, 1, 12)

    message = confirm_cancel(agent_client_without_node_view, task)

    assert calls_to(mocked_api, "cancel") == []
    assert "unexpected" not in message
    assert "Not sent by this app: it could not be re-read from LAAFFIC first." in message
    attempt = CancelAttempt.objects.get()
    assert attempt.outcome == Outcome.FAILED
    assert "unexpected" not in attempt.error_detail


def test_counts_beyond_their_column_do_not_stop_a_cancel(
    mocked_api, agent_client_without_node_view
):
    task = pending_task_with_nodes()
    odd = pending_detail(recallInterval=2**40, recallNum=2**40)
    add_detail_answer(mocked_api, odd)
    add_cancel(mocked_api, 1, 12)
    add_detail_answer(mocked_api, {**odd, "status": 3, "nodeList": []})

    message = confirm_cancel(agent_client_without_node_view, task)

    assert len(calls_to(mocked_api, "cancel")) == 1
    assert "Stopped 1 recall task" in message and "LAAFFIC now shows it Cancelled" in message
    task.refresh_from_db()
    assert (task.status, task.recall_interval, task.recall_num) == (3, None, None)


# --------------------------------------------------------------------------- texts


@pytest.mark.parametrize(
    ("msg", "stored"),
    [("no\x00pe", "no\ufffdpe"), ("no\ud800pe", "no\ufffdpe"), ("ok 🎉", "ok 🎉")],
    ids=["NUL", "lone surrogate", "emoji"],
)
def test_a_vendor_text_no_database_holds_finishes_the_audit_row_with_a_replacement(
    mocked_api, agent_client_without_node_view, msg, stored
):
    task = make_task(12)
    add_detail_answer(mocked_api, pending_detail())
    add_cancel(mocked_api, 1, 12, json={"code": -22, "msg": msg, "data": None})
    add_detail_answer(mocked_api, pending_detail())

    message = confirm_cancel(agent_client_without_node_view, task)

    attempt = CancelAttempt.objects.get()
    assert attempt.outcome == Outcome.REFUSED
    assert attempt.response_message == stored
    assert "could not be completed" not in message


def test_a_detail_with_nul_and_surrogates_in_its_fields_is_stored_and_the_cancel_sent(
    mocked_api, agent_client_without_node_view
):
    task = make_task(12)
    odd = pending_detail(
        extra="a\x00b",
        nodeList=[
            {"keyId": 101, "taskId": 9101, "nodeStatus": 0, "scriptId": "s\x00", "text": "\ud83d"}
        ],
    )
    add_detail_answer(mocked_api, odd)
    add_cancel(mocked_api, 1, 12)
    add_detail_answer(mocked_api, {**odd, "status": 3})

    message = confirm_cancel(agent_client_without_node_view, task)

    assert len(calls_to(mocked_api, "cancel")) == 1
    assert "Stopped 1 recall task" in message and "LAAFFIC now shows it Cancelled" in message
    task.refresh_from_db()
    assert task.detail_raw["extra"] == "a\ufffdb"
    node = task.nodes.get()
    assert (node.script_id, node.raw["text"]) == ("s\ufffd", "\ufffd")


def test_an_answer_nested_past_the_parsers_limit_is_a_protocol_error(mocked_api):
    for _ in range(3):
        mocked_api.post(api_url("queryDetail"), body=b'{"code": 0, "data": ' + b"[" * 100_000)

    with pytest.raises(ProtocolError):
        get_client().query_detail(12)
