"""Fakes of the LAAFFIC boundary shared by the cancel tests (this module holds no tests).

Every fake request is matched on its signature headers and its exact JSON body, so a
wrong signature, a wrong cancel type or a wrong id fails the test as an unmatched call.
"""

from __future__ import annotations

import json

from responses import matchers

from laaffic_recall.client.wire import sign
from laaffic_recall.models import RecallNode, RecallTask, Status

from .conftest import TEST_SETTINGS, api_url

KEY = TEST_SETTINGS["API_KEY"]
SECRET = TEST_SETTINGS["API_SECRET"]

PENDING, IN_PROGRESS, COMPLETED, CANCELLED = 0, 1, 2, 3


def signed(request):
    """A responses matcher: Api-Key, Timestamp and a valid Sign; the secret never sent."""
    timestamp = request.headers.get("Timestamp", "")
    ok = (
        request.headers.get("Api-Key") == KEY
        and timestamp.isdigit()
        and request.headers.get("Sign") == sign(KEY, SECRET, timestamp)
        and request.headers.get("Content-Type") == "application/json;charset=UTF-8"
        and SECRET not in str(request.headers)
        and SECRET.encode() not in (request.body or b"")
    )
    return ok, "" if ok else "request is not signed as LAAFFIC expects"


def envelope(data=None, code=0, msg="success") -> dict:
    return {"code": code, "msg": msg, "data": data}


def detail_data(key_id: int = 12, status: int = PENDING, nodes=((101, PENDING),)) -> dict:
    return {
        "keyId": key_id,
        "recallInterval": 30,
        "recallNum": len(nodes),
        "recallType": 0,
        "status": status,
        "nodeList": [
            {"keyId": key, "taskId": 9000 + key, "nodeStatus": node_status, "scriptId": 7}
            for key, node_status in nodes
        ],
    }


def add_detail(rsps, key_id: int = 12, status: int = PENDING, nodes=((101, PENDING),)):
    """One queryDetail answer (register several in order for successive reads)."""
    return rsps.post(
        api_url("queryDetail"),
        json=envelope(detail_data(key_id, status, nodes)),
        match=[signed, matchers.json_params_matcher({"keyId": key_id})],
    )


def add_detail_failure(rsps, key_id: int = 12, times: int = 3):
    """queryDetail failing with HTTP 500 on every try (a read is retried READ_RETRIES times)."""
    for _ in range(times):
        rsps.post(
            api_url("queryDetail"),
            body="<html>down</html>",
            status=500,
            match=[signed, matchers.json_params_matcher({"keyId": key_id})],
        )


def add_cancel(rsps, cancel_type: int, target_id: int, **answer):
    """The cancel call; by default LAAFFIC accepts it (code 0, data null)."""
    if not answer:
        answer = {"json": envelope(None)}
    return rsps.post(
        api_url("cancel"),
        match=[signed, matchers.json_params_matcher({"type": cancel_type, "id": target_id})],
        **answer,
    )


def add_cancel_callback(rsps, cancel_type: int, target_id: int, callback):
    return rsps.add_callback(
        "POST",
        api_url("cancel"),
        callback=callback,
        match=[signed, matchers.json_params_matcher({"type": cancel_type, "id": target_id})],
    )


def calls_to(rsps, call: str) -> list:
    return [c for c in rsps.calls if c.request.url == api_url(call)]


def sent_bodies(rsps, call: str = "cancel") -> list[dict]:
    return [json.loads(c.request.body) for c in calls_to(rsps, call)]


def make_task(key_id: int = 12, status: int = Status.PENDING, **fields) -> RecallTask:
    fields.setdefault("task_name", f"Campaign {key_id}")
    fields.setdefault("parent_task_id", 2024051800000 + key_id)
    return RecallTask.objects.create(key_id=key_id, status=status, **fields)


def make_nodes(task: RecallTask, *statuses: int, first_key: int = 101) -> list[RecallNode]:
    return [
        RecallNode.objects.create(
            key_id=first_key + i, task=task, position=i, status=s, group_task_id=9000 + i
        )
        for i, s in enumerate(statuses)
    ]
