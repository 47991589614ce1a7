"""LAAFFIC's API as the tests fake it with ``responses``: settings, URLs, answers.

Every fake request is matched on its signature headers and its exact JSON body, so a
wrong signature, a wrong cancel type or a wrong id fails the test as an unmatched call.
"""

from __future__ import annotations

import json
from pathlib import Path

import requests
from responses import matchers
from urllib3.exceptions import MaxRetryError
from urllib3.exceptions import SSLError as Urllib3SSLError

from laaffic_recall.client.wire import sign

TEST_SETTINGS = {
    "API_KEY": "test-key",
    "API_SECRET": "test-secret-do-not-leak",
    "BASE_URL": "https://laaffic.test",
    "PRODUCT": "ai_agent",
    "READ_RETRIES": 2,
    "RETRY_BACKOFF": 0,
    "CONNECT_TIMEOUT": 2.0,
    "READ_TIMEOUT": 5.0,
}
KEY = TEST_SETTINGS["API_KEY"]
SECRET = TEST_SETTINGS["API_SECRET"]

# LAAFFIC's task and node statuses (the mirror stores the same numbers).
PENDING, IN_PROGRESS, COMPLETED, CANCELLED = 0, 1, 2, 3

PAYLOADS = Path(__file__).resolve().parent.parent / "fixtures"


def api_url(call: str, product: str = "ai_agent") -> str:
    prefix = "/voice/recallFlow" if product == "ai_agent" else "/v3/voice/recallFlow"
    return f"{TEST_SETTINGS['BASE_URL']}{prefix}/{call}"


def load(name: str):
    """A recorded LAAFFIC payload from ``tests/fixtures``."""
    return json.loads((PAYLOADS / name).read_text())


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


# --------------------------------------------------------------------------- queryDetail


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


def pending_detail(**changes) -> dict:
    """The detail of task 12, Pending, with its nodes 101 and 102 Pending; ``changes`` on top."""
    data = detail_data(12, PENDING, nodes=((101, PENDING), (102, PENDING)))
    data.update(changes)
    return data


def add_detail(rsps, key_id: int = 12, status: int = PENDING, nodes=((101, PENDING),)):
    """One queryDetail answer (register several in order for successive reads)."""
    return add_detail_answer(rsps, detail_data(key_id, status, nodes), key_id)


def add_detail_answer(rsps, data, key_id: int = 12):
    """One queryDetail answer for ``key_id`` carrying ``data`` as it is, however odd."""
    return rsps.post(
        api_url("queryDetail"),
        json=envelope(data),
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


# --------------------------------------------------------------------------- queryPage


def task_record(key_id: int, parent_id, name: str = "Autumn", status: int = PENDING) -> dict:
    """One record of a queryPage answer, as LAAFFIC lists a task."""
    return {
        "keyId": key_id,
        "taskId": parent_id,
        "taskName": name,
        "createTime": "2026-11-27 09:00:00",
        "recallType": 0,
        "recallInterval": 30,
        "recallNum": 2,
        "finishNum": 0,
        "status": status,
    }


def page_of(*records) -> dict:
    """A queryPage answer: these records as the one and only page. A record is a dict, as
    it is sent (however odd), or a ``(key_id, parent_id, name, status)`` tuple that
    ``task_record`` makes into a whole one."""
    records = [task_record(*r) if isinstance(r, tuple) else r for r in records]
    return envelope(
        {"total": len(records), "size": 100, "current": 1, "pages": 1, "records": records}
    )


def add_page(rsps, *records):
    """One signed queryPage answer listing these records (whatever the query)."""
    return rsps.post(api_url("queryPage"), json=page_of(*records), match=[signed])


# --------------------------------------------------------------------------- cancel


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


def tls_error(cause: BaseException) -> requests.exceptions.SSLError:
    """What requests raises for a TLS failure: urllib3's errors wrapping the ssl module's."""
    url = "/voice/recallFlow/cancel"
    return requests.exceptions.SSLError(MaxRetryError(None, url, Urllib3SSLError(cause)))


# --------------------------------------------------------------------------- what was sent


def calls_to(rsps, call: str) -> list:
    return [c for c in rsps.calls if c.request.url == api_url(call)]


def sent_bodies(rsps, call: str = "cancel") -> list[dict]:
    return [json.loads(c.request.body) for c in calls_to(rsps, call)]
