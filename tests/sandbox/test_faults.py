"""Fault injection, through Django's test client: each kind, before/after, by call, by id,
a limited count, and faults from settings. No real sleeping: the sleep is observed."""

from __future__ import annotations

import json

import pytest

from laaffic_recall.sandbox import faults
from laaffic_recall.sandbox.models import SandboxCall, SandboxFault
from laaffic_recall.sandbox.testing import Status, create_task, inject_fault, signed_headers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sandbox_config(settings):
    settings.LAAFFIC_SANDBOX = {"API_KEY": "sbx-key", "API_SECRET": "sbx-secret"}


@pytest.fixture(autouse=True)
def slept(monkeypatch):
    """Every sleep the sandbox asks for, instead of sleeping."""
    calls: list[float] = []
    monkeypatch.setattr(faults, "sleep", calls.append)
    return calls


def post(client, call, body, family="voice/recallFlow"):
    return client.post(
        f"/sandbox/{family}/{call}",
        data=json.dumps(body),
        content_type="application/json",
        headers=signed_headers(),
    )


def status_of(task) -> int:
    task.refresh_from_db()
    return task.status


def test_latency_delays_then_answers_normally(client, slept):
    task = create_task([Status.PENDING])
    inject_fault("latency", seconds=0.25)
    response = post(client, "queryDetail", {"keyId": task.key_id})
    assert response.json()["code"] == 0
    assert slept == [0.25]


def test_latencies_add_up_and_combine_with_another_fault(client, slept):
    task = create_task([Status.PENDING])
    inject_fault("latency", seconds=0.25)
    inject_fault("latency", seconds=0.5, calls=["queryDetail"])
    inject_fault("empty")
    response = post(client, "queryDetail", {"keyId": task.key_id})
    assert (response.status_code, response.content) == (200, b"")
    assert slept == [0.75]


def test_html_502_answers_like_a_proxy(client):
    task = create_task([Status.PENDING])
    inject_fault("html_502")
    response = post(client, "queryDetail", {"keyId": task.key_id})
    assert response.status_code == 502
    assert response["Content-Type"].startswith("text/html")
    assert b"502 Bad Gateway" in response.content


def test_empty_body_with_http_200(client):
    inject_fault("empty", calls=["queryPage"])
    response = post(client, "queryPage", {"current": 1, "size": 1, "params": {}})
    assert (response.status_code, response.content) == (200, b"")


def test_code_fault_answers_a_well_formed_refusal(client):
    task = create_task([Status.PENDING])
    inject_fault("code", code=-2, message="IP not allowed", calls=["queryDetail"])
    body = post(client, "queryDetail", {"keyId": task.key_id}).json()
    assert body == {"code": -2, "msg": "IP not allowed", "data": None}


def test_code_fault_defaults_to_vendor_failure(client):
    task = create_task([Status.PENDING])
    inject_fault("code")
    assert post(client, "queryDetail", {"keyId": task.key_id}).json()["code"] == -18


def test_timeout_after_applies_the_cancel_and_holds_the_answer(client, slept):
    task = create_task([Status.PENDING])
    inject_fault("timeout", calls=["cancel"], seconds=3)
    response = post(client, "cancel", {"type": 1, "id": task.key_id})
    assert slept == [3]
    assert response.json()["code"] == 0  # what a patient client would finally have read
    assert status_of(task) == Status.CANCELLED


def test_timeout_before_never_reaches_the_rules(client, slept):
    task = create_task([Status.PENDING])
    inject_fault("timeout", calls=["cancel"], seconds=3, when="before")
    response = post(client, "cancel", {"type": 1, "id": task.key_id})
    assert slept == [3]
    assert response.status_code == 504
    assert status_of(task) == Status.PENDING


def test_timeout_without_seconds_uses_the_setting(client, settings, slept):
    settings.LAAFFIC_SANDBOX = {**settings.LAAFFIC_SANDBOX, "TIMEOUT_SECONDS": 7.5}
    inject_fault("timeout")
    post(client, "queryPage", {})
    assert slept == [7.5]


@pytest.mark.parametrize(("when", "expected"), [("after", Status.CANCELLED), ("before", 0)])
def test_html_502_on_cancel_before_or_after_the_effect(client, when, expected):
    task = create_task([Status.PENDING])
    inject_fault("html_502", calls=["cancel"], when=when)
    assert post(client, "cancel", {"type": 1, "id": task.key_id}).status_code == 502
    assert status_of(task) == expected


def test_fault_limited_to_a_call(client):
    task = create_task([Status.PENDING])
    inject_fault("html_502", calls=["cancel"])
    assert post(client, "queryDetail", {"keyId": task.key_id}).status_code == 200
    assert post(client, "cancel", {"type": 1, "id": task.key_id}).status_code == 502


def test_fault_limited_to_ids(client):
    hit, spared = create_task([Status.PENDING]), create_task([Status.PENDING])
    node = spared.nodes.get()
    inject_fault("html_502", ids=[hit.key_id, 123])
    assert post(client, "queryDetail", {"keyId": hit.key_id}).status_code == 502
    assert post(client, "queryDetail", {"keyId": spared.key_id}).status_code == 200
    assert post(client, "cancel", {"type": 3, "id": node.key_id}).status_code == 200
    # A list call names no id: an id-limited fault leaves it alone.
    body = {"current": 1, "size": 1, "params": {}}
    assert post(client, "queryPage", body).status_code == 200


def test_fault_fires_a_limited_number_of_times(client):
    task = create_task([Status.PENDING])
    fault = inject_fault("html_502", times=2)
    codes = [post(client, "queryDetail", {"keyId": task.key_id}).status_code for _ in range(3)]
    assert codes == [502, 502, 200]
    fault.refresh_from_db()
    assert fault.remaining == 0


def test_disabled_fault_does_nothing(client):
    task = create_task([Status.PENDING])
    SandboxFault.objects.create(kind="html_502", enabled=False)
    assert post(client, "queryDetail", {"keyId": task.key_id}).status_code == 200


def test_faults_from_settings(client, settings):
    task = create_task([Status.PENDING])
    settings.LAAFFIC_SANDBOX = {
        **settings.LAAFFIC_SANDBOX,
        "FAULTS": [{"kind": "empty", "calls": ["queryDetail"], "ids": [task.key_id]}],
    }
    assert post(client, "queryDetail", {"keyId": task.key_id}).content == b""
    assert post(client, "cancel", {"type": 1, "id": task.key_id}).json()["code"] == 0


def test_a_malformed_settings_fault_is_reported(settings):
    settings.LAAFFIC_SANDBOX = {"FAULTS": [{"kind": "explode"}]}
    with pytest.raises(ValueError, match="explode"):
        faults.configured_faults()


def test_a_half_edited_fault_row_is_ignored(client):
    task = create_task([Status.PENDING])
    SandboxFault.objects.create(kind="html_502", calls="queryDetial")
    assert post(client, "queryDetail", {"keyId": task.key_id}).status_code == 200


def test_faulted_calls_are_logged_with_their_fault(client):
    task = create_task([Status.PENDING])
    inject_fault("html_502", calls=["queryDetail"])
    post(client, "queryDetail", {"keyId": task.key_id})
    call = SandboxCall.objects.get()
    assert (call.call, call.http_status, call.fault, call.code) == (
        "queryDetail",
        502,
        "html_502",
        None,
    )
