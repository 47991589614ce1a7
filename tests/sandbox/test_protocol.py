"""The sandbox's wire rules, through Django's test client: signing, skew, refusals, paging,
filters, both envelopes, the call log."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from laaffic_recall.sandbox.models import SandboxCall
from laaffic_recall.sandbox.testing import Status, create_task, signed_headers

pytestmark = pytest.mark.django_db

KEY = "sbx-key"
SECRET = "sbx-secret-do-not-leak"
BASE = "/sandbox/voice/recallFlow"


@pytest.fixture(autouse=True)
def sandbox_config(settings):
    settings.LAAFFIC_SANDBOX = {"API_KEY": KEY, "API_SECRET": SECRET, "TIMEZONE": "UTC"}
    return settings.LAAFFIC_SANDBOX


def post(client, call, body, *, headers=None, family=BASE, raw=None):
    response = client.post(
        f"{family}/{call}",
        data=raw if raw is not None else json.dumps(body),
        content_type="application/json;charset=UTF-8",
        headers=signed_headers() if headers is None else headers,
    )
    return response


def answer(response) -> dict:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def window(days=2):
    fmt = "%Y-%m-%d %H:%M:%S"
    now = datetime.now(UTC)
    return {
        "strTime": (now - timedelta(days=days)).strftime(fmt),
        "endTime": (now + timedelta(minutes=1)).strftime(fmt),
    }


def page_body(current=1, size=10, **params):
    return {"current": current, "size": size, "params": {**window(), **params}}


# --------------------------------------------------------------------- signing and clock


def test_vendor_documented_sign_vector_is_accepted(client, settings):
    settings.LAAFFIC_SANDBOX = {
        "API_KEY": "bDqJFiq9",
        "API_SECRET": "7bz1lzh9",
        "MAX_SKEW_SECONDS": None,
    }
    headers = {
        "Api-Key": "bDqJFiq9",
        "Timestamp": "1630468800",
        "Sign": "05d7a50893e22a5c4bb3216ae3396c7c",
    }
    assert answer(post(client, "queryPage", page_body(), headers=headers))["code"] == 0
    headers["Sign"] = "05d7a50893e22a5c4bb3216ae3396c7d"
    assert answer(post(client, "queryPage", page_body(), headers=headers))["code"] == -1


def _without_sign():
    headers = signed_headers(api_key=KEY, api_secret=SECRET)
    del headers["Sign"]
    return headers


def _uppercase_sign():
    headers = signed_headers(api_key=KEY, api_secret=SECRET)
    return {**headers, "Sign": headers["Sign"].upper()}


@pytest.mark.parametrize(
    "make_headers",
    [
        pytest.param(lambda: signed_headers(api_key="other-key", api_secret=SECRET), id="key"),
        pytest.param(lambda: signed_headers(api_key=KEY, api_secret="wrong"), id="secret"),
        pytest.param(dict, id="no-headers"),
        pytest.param(_without_sign, id="no-sign"),
        pytest.param(_uppercase_sign, id="uppercase-sign"),
    ],
)
def test_wrong_credentials_get_minus_one_and_no_data(client, make_headers):
    create_task([Status.PENDING])
    body = answer(post(client, "queryPage", page_body(), headers=make_headers()))
    assert body["code"] == -1
    assert body["data"] is None
    assert SECRET not in json.dumps(body)


def test_sign_over_another_timestamp_than_sent_is_refused(client):
    headers = signed_headers(int(time.time()))
    headers["Timestamp"] = str(int(time.time()) + 1)
    assert answer(post(client, "queryPage", page_body(), headers=headers))["code"] == -1


@pytest.mark.parametrize("offset", [-400, 400])
def test_timestamp_beyond_max_skew_gets_minus_sixteen(client, offset):
    headers = signed_headers(int(time.time()) + offset)
    assert answer(post(client, "queryPage", page_body(), headers=headers))["code"] == -16


def test_max_skew_is_configurable(client, settings):
    headers = signed_headers(int(time.time()) - 400)
    settings.LAAFFIC_SANDBOX = {**settings.LAAFFIC_SANDBOX, "MAX_SKEW_SECONDS": 600}
    assert answer(post(client, "queryPage", page_body(), headers=headers))["code"] == 0
    settings.LAAFFIC_SANDBOX = {**settings.LAAFFIC_SANDBOX, "MAX_SKEW_SECONDS": 60}
    assert answer(post(client, "queryPage", page_body(), headers=headers))["code"] == -16


def test_timestamp_in_milliseconds_is_refused_as_skew(client):
    headers = signed_headers(int(time.time() * 1000))
    assert answer(post(client, "queryPage", page_body(), headers=headers))["code"] == -16


def test_only_post_is_served(client):
    assert client.get(f"{BASE}/queryPage", headers=signed_headers()).status_code == 405


# --------------------------------------------------------------------- -22 refusals


@pytest.mark.parametrize(
    ("call", "raw"),
    [
        ("queryPage", "not json"),
        ("queryPage", "[1, 2]"),
        ("queryPage", json.dumps({"size": 10, "params": window()})),
        ("queryPage", json.dumps({"current": 1, "params": window()})),
        ("queryPage", json.dumps({"current": 1, "size": 10})),
        ("queryPage", json.dumps({"current": 1, "size": 0, "params": window()})),
        ("queryPage", json.dumps({"current": 1, "size": 101, "params": window()})),
        ("queryPage", json.dumps({"current": 0, "size": 10, "params": window()})),
        ("queryPage", json.dumps({"current": 1, "size": "ten", "params": window()})),
        ("queryPage", json.dumps({"current": True, "size": 10, "params": window()})),
        (
            "queryPage",
            json.dumps({"current": 1, "size": 10, "params": {"endTime": "2024-05-19 23:59:59"}}),
        ),
        (
            "queryPage",
            json.dumps(
                {
                    "current": 1,
                    "size": 10,
                    "params": {"strTime": "2024-05-18", "endTime": "2024-05-19 23:59:59"},
                }
            ),
        ),
        (
            "queryPage",
            json.dumps(
                {
                    "current": 1,
                    "size": 10,
                    "params": {"strTime": "2024-05-18T00:00:00", "endTime": "2024-05-19 23:59:59"},
                }
            ),
        ),
        (
            "queryPage",
            json.dumps(
                {
                    "current": 1,
                    "size": 10,
                    "params": {"strTime": "2024-02-30 00:00:00", "endTime": "2024-05-19 23:59:59"},
                }
            ),
        ),
        ("queryDetail", json.dumps({})),
        ("queryDetail", json.dumps({"keyId": "abc"})),
        ("queryDetail", json.dumps({"keyId": 999_999_999})),
        ("cancel", json.dumps({"type": 4, "id": 1})),
        ("cancel", json.dumps({"type": 0, "id": 1})),
        ("cancel", json.dumps({"id": 1})),
        ("cancel", json.dumps({"type": 1})),
        ("cancel", json.dumps({"type": 1, "id": "x"})),
        ("cancel", json.dumps({"type": 1, "id": 999_999_999})),
        ("cancel", json.dumps({"type": 3, "id": 999_999_999})),
    ],
    # The same ids in every process that collects them (xdist's workers), whatever the time.
    ids=lambda value: re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "TIME", value),
)
def test_parameter_problems_get_minus_twenty_two(client, call, raw):
    body = answer(post(client, call, None, raw=raw))
    assert body["code"] == -22
    assert body["msg"].startswith("Parameter exception")
    assert body["data"] is None


def test_size_bounds_one_and_hundred_are_accepted(client):
    for size in (1, 100):
        assert answer(post(client, "queryPage", page_body(size=size)))["code"] == 0


# --------------------------------------------------------------------- paging and filters


def make_tasks(count, **kwargs):
    now = datetime.now(UTC)
    return [
        create_task([Status.PENDING], create_time=now - timedelta(minutes=10 * i), **kwargs)
        for i in range(count)
    ]


def test_pages_are_one_based_with_total_and_pages(client):
    tasks = make_tasks(7)
    newest_first = [t.key_id for t in sorted(tasks, key=lambda t: t.create_time, reverse=True)]
    seen = []
    for current in (1, 2, 3):
        data = answer(post(client, "queryPage", page_body(current=current, size=3)))["data"]
        assert (data["total"], data["pages"], data["size"], data["current"]) == (7, 3, 3, current)
        seen += [r["keyId"] for r in data["records"]]
    assert seen == newest_first
    beyond = answer(post(client, "queryPage", page_body(current=4, size=3)))["data"]
    assert beyond["records"] == [] and beyond["total"] == 7


def test_record_fields_are_the_vendors(client):
    task = create_task(
        [Status.COMPLETED, Status.IN_PROGRESS, Status.PENDING],
        task_name="PH_Payment reminder_0518",
        task_id=2024051800123,
        create_time=datetime(2024, 5, 18, 9, 30, 5, tzinfo=UTC),
        recall_type=1,
        recall_interval=15,
    )
    body = {
        "current": 1,
        "size": 10,
        "params": {"strTime": "2024-05-18 00:00:00", "endTime": "2024-05-18 23:59:59"},
    }
    (record,) = answer(post(client, "queryPage", body))["data"]["records"]
    assert record == {
        "keyId": task.key_id,
        "taskId": 2024051800123,
        "taskName": "PH_Payment reminder_0518",
        "createTime": "2024-05-18 09:30:05",
        "recallType": 1,
        "recallInterval": 15,
        "recallNum": 3,
        "finishNum": 1,
        "status": Status.IN_PROGRESS,
    }


def test_window_filters_on_creation_time_inclusive(client):
    inside = create_task([Status.PENDING], create_time=datetime(2024, 5, 18, 0, 0, 0, tzinfo=UTC))
    edge = create_task([Status.PENDING], create_time=datetime(2024, 5, 19, 23, 59, 59, tzinfo=UTC))
    create_task([Status.PENDING], create_time=datetime(2024, 5, 20, 0, 0, 0, tzinfo=UTC))
    create_task([Status.PENDING], create_time=datetime(2024, 5, 17, 23, 59, 59, tzinfo=UTC))
    body = {
        "current": 1,
        "size": 100,
        "params": {"strTime": "2024-05-18 00:00:00", "endTime": "2024-05-19 23:59:59"},
    }
    records = answer(post(client, "queryPage", body))["data"]["records"]
    assert {r["keyId"] for r in records} == {inside.key_id, edge.key_id}


def test_window_is_read_in_the_sandbox_timezone(client, settings):
    settings.LAAFFIC_SANDBOX = {**settings.LAAFFIC_SANDBOX, "TIMEZONE": "Asia/Manila"}
    task = create_task([Status.PENDING], create_time=datetime(2024, 5, 18, 1, 0, 0, tzinfo=UTC))
    body = {
        "current": 1,
        "size": 10,
        "params": {"strTime": "2024-05-18 09:00:00", "endTime": "2024-05-18 09:00:00"},
    }
    (record,) = answer(post(client, "queryPage", body))["data"]["records"]
    assert (record["keyId"], record["createTime"]) == (task.key_id, "2024-05-18 09:00:00")


def test_task_name_matches_fuzzy_name_or_exact_parent_id(client):
    reminder = create_task([Status.PENDING], task_name="PH Payment Reminder - May 18")
    create_task([Status.PENDING], task_name="Delivery confirmation")
    by_parent = create_task([Status.PENDING], task_name="Survey", task_id=2024051800777)

    def keys(name):
        data = answer(post(client, "queryPage", page_body(taskName=name)))["data"]
        return {r["keyId"] for r in data["records"]}

    assert keys("payment rem") == {reminder.key_id}
    assert keys("2024051800777") == {by_parent.key_id}
    assert keys("20240518007") == set()  # a parent id matches exactly, never by prefix
    assert keys("no such task") == set()


def test_detail_lists_nodes_in_order_with_vendor_fields(client):
    task = create_task([Status.COMPLETED, Status.PENDING], recall_interval=30, script_id="20001")
    data = answer(post(client, "queryDetail", {"keyId": task.key_id}))["data"]
    nodes = list(task.nodes.order_by("position"))
    assert data["keyId"] == task.key_id
    assert (data["status"], data["recallNum"], data["recallInterval"]) == (1, 2, 30)
    assert data["nodeList"] == [
        {"keyId": n.key_id, "taskId": n.group_task_id, "nodeStatus": n.status, "scriptId": "20001"}
        for n in nodes
    ]


def test_ivr_family_serves_the_same_tasks_with_voice_fields(client):
    task = create_task([Status.PENDING])
    data = answer(
        post(client, "queryDetail", {"keyId": task.key_id}, family="/sandbox/v3/voice/recallFlow")
    )["data"]
    assert data["keyId"] == task.key_id
    assert {"keyId", "taskId", "nodeStatus", "lan", "text", "ssmlGender"} <= set(
        data["nodeList"][0]
    )


def test_numeric_strings_are_read_as_numbers(client):
    task = create_task([Status.PENDING])
    data = answer(post(client, "queryDetail", {"keyId": str(task.key_id)}))["data"]
    assert data["keyId"] == task.key_id


# --------------------------------------------------------------------- envelopes


@pytest.mark.parametrize(
    ("shape", "success", "refusal"),
    [
        ("code", {"code": 0, "msg": "success"}, {"code": -22}),
        ("status", {"status": 0, "reason": "success"}, {"status": -22}),
        ("status_str", {"status": "0", "reason": "success"}, {"status": "-22"}),
    ],
)
def test_envelope_shape_is_configurable(client, settings, shape, success, refusal):
    settings.LAAFFIC_SANDBOX = {**settings.LAAFFIC_SANDBOX, "ENVELOPE": shape}
    task = create_task([Status.PENDING])
    ok = answer(post(client, "queryDetail", {"keyId": task.key_id}))
    assert {k: ok[k] for k in success} == success
    assert set(ok) == {*success, "data"}
    refused = answer(post(client, "queryDetail", {"keyId": 1}))
    assert {k: refused[k] for k in refusal} == refusal


# --------------------------------------------------------------------- the call log


def test_every_call_is_logged_without_credentials(client):
    task = create_task([Status.PENDING])
    post(client, "queryDetail", {"keyId": task.key_id})
    post(client, "cancel", {"type": 1, "id": task.key_id}, headers=signed_headers(api_key="bad"))
    detail, refused = SandboxCall.objects.order_by("id")
    assert (detail.call, detail.body, detail.code, detail.family) == (
        "queryDetail",
        {"keyId": task.key_id},
        0,
        "ai_agent",
    )
    assert (refused.call, refused.code, refused.http_status) == ("cancel", -1, 200)
    stored = json.dumps(list(SandboxCall.objects.values()), default=str)
    assert SECRET not in stored and "Sign" not in stored


def test_call_log_can_be_switched_off(client, settings):
    settings.LAAFFIC_SANDBOX = {**settings.LAAFFIC_SANDBOX, "LOG_CALLS": False}
    post(client, "queryPage", page_body())
    assert not SandboxCall.objects.exists()
