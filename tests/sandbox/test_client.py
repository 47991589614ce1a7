"""The real LAAFFIC client against the sandbox over real HTTP (pytest-django's live server)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from laaffic_recall.client import (
    ApiError,
    LaafficClient,
    OutcomeUnknownError,
    ProtocolError,
    TransportError,
)
from laaffic_recall.models import RecallTask
from laaffic_recall.sandbox.models import SandboxTask
from laaffic_recall.sandbox.testing import (
    Status,
    calls_received,
    create_task,
    inject_fault,
    recall_settings,
    seed,
)
from laaffic_recall.sync.service import sync_task_details

pytestmark = pytest.mark.django_db(transaction=True)

KEY, SECRET = "sbx-key", "sbx-secret-do-not-leak"


@pytest.fixture(autouse=True)
def sandbox_config(settings):
    settings.LAAFFIC_SANDBOX = {"API_KEY": KEY, "API_SECRET": SECRET}


@pytest.fixture
def sandbox_url(live_server) -> str:
    return live_server.url + "/sandbox"


@pytest.fixture
def client(sandbox_url):
    with LaafficClient(KEY, SECRET, sandbox_url, read_retries=0, read_timeout=5) as client:
        yield client


def window():
    now = datetime.now(UTC).replace(tzinfo=None)
    return now - timedelta(days=8), now + timedelta(minutes=1)


def test_paging_through_a_seeded_sandbox_returns_every_task_once(client):
    seed(45, seed=3)
    start, end = window()
    first = client.query_page(1, 20, start, end)
    assert (first.total, first.pages, len(first.records)) == (45, 3, 20)
    keys = [r.key_id for r in first.records]
    for current in range(2, first.pages + 1):
        keys += [r.key_id for r in client.query_page(current, 20, start, end).records]
    assert sorted(keys) == sorted(SandboxTask.objects.values_list("key_id", flat=True))
    assert len(set(keys)) == 45


def test_detail_and_both_cancel_kinds(client):
    task = create_task([Status.PENDING, Status.PENDING])
    running = create_task([Status.COMPLETED, Status.IN_PROGRESS, Status.PENDING, Status.PENDING])
    detail = client.query_detail(running.key_id)
    assert [n.status for n in detail.nodes] == [2, 1, 0, 0]
    assert client.cancel(1, task.key_id).code == 0
    assert client.cancel(3, detail.nodes[2].key_id).code == 0
    assert client.query_detail(task.key_id).status == Status.CANCELLED
    assert [n.status for n in client.query_detail(running.key_id).nodes] == [2, 1, 3, 3]


def test_refused_cancel_is_an_api_error_with_the_sandbox_message(client):
    task = create_task([Status.COMPLETED])
    with pytest.raises(ApiError) as caught:
        client.cancel(1, task.key_id)
    assert caught.value.code == -22
    assert "Completed" in caught.value.message
    assert [c.body for c in calls_received("cancel")] == [{"type": 1, "id": task.key_id}]


def test_wrong_secret_and_clock_skew_are_refused(sandbox_url):
    start, end = window()
    with (
        LaafficClient(KEY, "not-the-secret", sandbox_url) as wrong,
        pytest.raises(ApiError) as caught,
    ):
        wrong.query_page(1, 10, start, end)
    assert caught.value.code == -1
    late = LaafficClient(KEY, SECRET, sandbox_url, clock=lambda: time.time() - 3600)
    with late, pytest.raises(ApiError) as caught:
        late.query_page(1, 10, start, end)
    assert caught.value.code == -16


@pytest.mark.parametrize("shape", ["code", "status", "status_str"])
def test_every_envelope_and_both_families(settings, sandbox_url, shape):
    settings.LAAFFIC_SANDBOX = {**settings.LAAFFIC_SANDBOX, "ENVELOPE": shape}
    task = create_task([Status.PENDING])
    for product in ("ai_agent", "ivr"):
        with LaafficClient(KEY, SECRET, sandbox_url, product=product) as client:
            assert client.query_detail(task.key_id).key_id == task.key_id
            with pytest.raises(ApiError) as caught:
                client.query_detail(1)
            assert caught.value.code == -22
    assert {c.family for c in calls_received()} == {"ai_agent", "ivr"}


def test_read_timeout_on_cancel_is_unknown_though_the_sandbox_cancelled(sandbox_url):
    task = create_task([Status.PENDING])
    inject_fault("timeout", calls=["cancel"], seconds=2)
    with LaafficClient(KEY, SECRET, sandbox_url, read_timeout=0.5) as client:
        with pytest.raises(OutcomeUnknownError):
            client.cancel(1, task.key_id)
        # The client gave up after half a second; on a busy machine the sandbox may not
        # have reached the call yet: wait (at most 10 s) until it has.
        deadline = time.monotonic() + 10
        while not calls_received("cancel") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(calls_received("cancel")) == 1  # never resent
        assert client.query_detail(task.key_id).status == Status.CANCELLED


def test_timeout_before_the_effect_leaves_the_task_pending(sandbox_url):
    task = create_task([Status.PENDING])
    inject_fault("timeout", calls=["cancel"], seconds=2, when="before")
    with LaafficClient(KEY, SECRET, sandbox_url, read_timeout=0.5) as client:
        with pytest.raises(OutcomeUnknownError):
            client.cancel(1, task.key_id)
        assert client.query_detail(task.key_id).status == Status.PENDING


def test_read_timeout_on_a_read_is_a_transport_error(sandbox_url):
    task = create_task([Status.PENDING])
    inject_fault("timeout", calls=["queryDetail"], seconds=2)
    with (
        LaafficClient(KEY, SECRET, sandbox_url, read_timeout=0.5, read_retries=0) as client,
        pytest.raises(TransportError) as caught,
    ):
        client.query_detail(task.key_id)
    assert not isinstance(caught.value, ApiError)


def test_html_502_is_retried_on_reads_and_unknown_on_cancel(sandbox_url):
    task = create_task([Status.PENDING])
    inject_fault("html_502", ids=[task.key_id])
    with LaafficClient(KEY, SECRET, sandbox_url, read_retries=2, retry_backoff=0) as client:
        with pytest.raises(TransportError) as caught:
            client.query_detail(task.key_id)
        assert caught.value.http_status == 502
        assert len(calls_received("queryDetail")) == 3
        with pytest.raises(OutcomeUnknownError) as caught:
            client.cancel(1, task.key_id)
        assert caught.value.http_status == 502
        assert len(calls_received("cancel")) == 1


def test_a_502_that_passes_heals_on_retry(sandbox_url):
    task = create_task([Status.PENDING])
    inject_fault("html_502", calls=["queryDetail"], times=1)
    with LaafficClient(KEY, SECRET, sandbox_url, read_retries=1, retry_backoff=0) as client:
        assert client.query_detail(task.key_id).key_id == task.key_id
    assert [c.http_status for c in calls_received("queryDetail")] == [502, 200]


def test_empty_body_is_a_protocol_error_never_success(sandbox_url):
    task = create_task([Status.PENDING])
    inject_fault("empty")
    with LaafficClient(KEY, SECRET, sandbox_url, read_retries=0) as client:
        with pytest.raises(ProtocolError):
            client.query_detail(task.key_id)
        with pytest.raises(OutcomeUnknownError):
            client.cancel(1, task.key_id)


def test_the_apps_refresh_mirrors_a_sandbox_task(settings, sandbox_url):
    settings.LAAFFIC_RECALL = recall_settings(sandbox_url)
    task = create_task([Status.COMPLETED, Status.IN_PROGRESS, Status.PENDING])
    sync_task_details([task.key_id])
    mirrored = RecallTask.objects.get(key_id=task.key_id)
    assert mirrored.status == Status.IN_PROGRESS
    assert list(mirrored.nodes.order_by("position").values_list("key_id", "status")) == list(
        task.nodes.order_by("position").values_list("key_id", "status")
    )
    assert RecallTask.objects.count() == 1
