"""Real threads and real connections: one cancel in flight per target, rows committed first.

The in-flight guard is a partial unique index; proving it across connections needs a
database with concurrent writers and row locks, so those tests run on PostgreSQL only
(the service itself runs a batch one by one on SQLite).
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.chain import CHAIN_LOCK_ID
from laaffic_recall.models import CancelAttempt, Outcome, RecallTask
from tests.support.concurrency import WAIT, in_thread, wait_for_a_lock
from tests.support.mirror import make_task
from tests.support.vendor import (
    CANCELLED,
    PENDING,
    add_cancel,
    add_cancel_callback,
    add_detail,
    api_url,
    calls_to,
)

pytestmark = pytest.mark.django_db(transaction=True)


def held_cancel(mocked_api, cancel_type, target_id):
    """A cancel answer that waits until released, so a second attempt really overlaps."""
    in_flight, release = threading.Event(), threading.Event()

    def answer(request):
        in_flight.set()
        assert release.wait(WAIT)
        return 200, {}, '{"code": 0, "msg": "success", "data": null}'

    add_cancel_callback(mocked_api, cancel_type, target_id, answer)
    return in_flight, release


@pytest.mark.postgres
def test_two_threads_cancelling_the_same_task_send_exactly_one_request(mocked_api):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)  # first thread's fresh read
    add_detail(mocked_api, 12, CANCELLED)  # first thread's re-read after the call
    in_flight, release = held_cancel(mocked_api, 1, 12)

    first = in_thread(service.cancel, [CancelTarget.for_task(task)], Submission(username="ann"))
    assert in_flight.wait(WAIT)
    try:
        second = in_thread(
            service.cancel, [CancelTarget.for_task(task)], Submission(username="bob")
        )
        second_report = second()
    finally:
        release.set()
    first_report = first()

    assert len(calls_to(mocked_api, "cancel")) == 1
    assert len(calls_to(mocked_api, "queryDetail")) == 2  # bob's was refused before reading
    assert first_report.results[0].outcome == Outcome.SUCCEEDED
    assert first_report.results[0].mirror_confirmed is True
    assert second_report.results[0].in_flight
    rows = {a.username: a for a in CancelAttempt.objects.all()}
    assert set(rows) == {"ann", "bob"}
    assert rows["ann"].outcome == Outcome.SUCCEEDED
    assert rows["bob"].outcome == Outcome.REFUSED
    assert rows["bob"].response_code is None
    assert (rows["bob"].not_sent, rows["bob"].blocked_by) == ("in_flight", rows["ann"].pk)
    assert rows["bob"].request_body is None  # refused here: nothing sent


@pytest.mark.postgres
def test_two_agents_cancelling_different_tasks_both_go_through(mocked_api):
    a, b = make_task(12), make_task(13)
    add_detail(mocked_api, 12, PENDING)
    add_detail(mocked_api, 12, CANCELLED)
    add_detail(mocked_api, 13, PENDING)
    add_detail(mocked_api, 13, CANCELLED)
    in_flight, release = held_cancel(mocked_api, 1, 12)
    add_cancel(mocked_api, 1, 13)

    first = in_thread(service.cancel, [CancelTarget.for_task(a)], Submission(username="ann"))
    assert in_flight.wait(WAIT)
    try:
        # Completes while the first is still in flight: no global lock.
        second_report = in_thread(
            service.cancel, [CancelTarget.for_task(b)], Submission(username="bob")
        )()
    finally:
        release.set()
    first_report = first()

    assert second_report.results[0].outcome == Outcome.SUCCEEDED
    assert first_report.results[0].outcome == Outcome.SUCCEEDED
    assert len(calls_to(mocked_api, "cancel")) == 2


def test_the_pending_row_is_committed_before_the_request_leaves(mocked_api):
    task = make_task(12)
    seen = {}

    def answer(request):
        # Another connection sees the row only if it was committed.
        seen["rows"] = in_thread(
            lambda: list(CancelAttempt.objects.values_list("outcome", "target_id"))
        )()
        raise ConnectionResetError(104, "Connection reset by peer")

    add_detail(mocked_api, 12, PENDING)
    add_cancel_callback(mocked_api, 1, 12, answer)
    add_detail(mocked_api, 12, PENDING)

    report = service.cancel([CancelTarget.for_task(task)], Submission(username="ann"))

    assert seen["rows"] == [(Outcome.PENDING, 12)]
    assert report.results[0].outcome == Outcome.UNKNOWN
    assert CancelAttempt.objects.get().outcome == Outcome.UNKNOWN


@pytest.mark.postgres
def test_a_batch_runs_in_worker_threads_that_close_their_connections(mocked_api, settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "CANCEL_WORKERS": 3}
    tasks = [make_task(k) for k in (12, 13, 14, 15)]
    sent_from = []

    def accept(request):
        sent_from.append((threading.current_thread().name, request.body))
        return 200, {}, '{"code": 0, "msg": "success", "data": null}'

    for task in tasks:
        add_detail(mocked_api, task.key_id, PENDING)
        add_cancel_callback(mocked_api, 1, task.key_id, accept)
        add_detail(mocked_api, task.key_id, CANCELLED)

    def backends() -> set[int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            return {pid for (pid,) in cursor.fetchall()}

    def backends_left_by_the_batch(before: set[int]) -> set[int]:
        # A server process ends a moment after its client hangs up, so wait for it
        # (bounded by WAIT) rather than read pg_stat_activity once.
        deadline = time.monotonic() + WAIT
        while (left := backends() - before) and time.monotonic() < deadline:
            time.sleep(0.05)
        return left

    before = backends()
    report = service.cancel([CancelTarget.for_task(t) for t in tasks], Submission(username="ann"))

    assert [r.outcome for r in report.results] == [Outcome.SUCCEEDED] * 4
    assert [r.target.target_id for r in report.results] == [12, 13, 14, 15]
    threads = {name for name, _call in sent_from}
    assert all(name.startswith("laaffic-cancel") for name in threads)
    assert 1 < len(threads) <= 3
    assert backends_left_by_the_batch(before) == set()
    assert CancelAttempt.objects.filter(outcome=Outcome.SUCCEEDED).count() == 4


@pytest.mark.parametrize("via", ["action", "button"])
def test_under_atomic_requests_the_row_is_still_committed_before_the_call(mocked_api, client, via):
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    client.force_login(get_user_model().objects.create_superuser("boss"))
    task = make_task(12)
    seen = {}

    def answer(request):
        seen["rows"] = in_thread(
            lambda: list(CancelAttempt.objects.values_list("outcome", "target_id"))
        )()
        return 200, {}, '{"code": 0, "msg": "success", "data": null}'

    add_detail(mocked_api, 12, PENDING)
    add_cancel_callback(mocked_api, 1, 12, answer)
    add_detail(mocked_api, 12, CANCELLED)

    connection.settings_dict["ATOMIC_REQUESTS"] = True
    try:
        if via == "action":
            response = client.post(
                reverse("admin:laaffic_recall_recalltask_changelist"),
                {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"},
            )
        else:
            response = client.post(
                reverse("admin:laaffic_recall_recalltask_cancel", args=[task.pk]),
                {"post": "yes"},
            )
    finally:
        connection.settings_dict["ATOMIC_REQUESTS"] = False

    assert response.status_code == 302
    assert seen["rows"] == [(Outcome.PENDING, 12)]
    assert CancelAttempt.objects.get().outcome == Outcome.SUCCEEDED


@pytest.mark.postgres
def test_inserting_a_finished_row_locks_its_task_before_the_audit_chain(audit_chain_key):
    """The checks of a new row's foreign keys, deferred to COMMIT by Django, share-lock its
    task: they run before the row takes the audit chain's lock, so it never holds the
    chain while it waits for the task."""
    task = make_task(12)
    task_locked, release = threading.Event(), threading.Event()

    def task_held():  # e.g. a cancel closing on the task, or a sync storing it
        with transaction.atomic():
            RecallTask.objects.select_for_update().get(pk=task.pk)
            task_locked.set()
            assert release.wait(WAIT)

    holder = in_thread(task_held)
    assert task_locked.wait(WAIT)
    fields = {"cancel_type": 1, "target_id": 12, "task": task, "outcome": Outcome.REFUSED}
    inserting = in_thread(lambda: CancelAttempt.objects.create(**fields))
    try:
        assert wait_for_a_lock()
        assert not chain_lock_held()  # the insert waits for the task, not holding the chain
    finally:
        release.set()
    holder()
    row = inserting()
    row.refresh_from_db()
    assert row.chain_seq == 1


@pytest.mark.postgres
def test_closing_a_cancel_locks_its_task_before_the_audit_chain(
    mocked_api, audit_chain_key, caplog
):
    """Inserting a refused attempt's row share-locks its task, then takes the audit
    chain's lock. A cancel closing on that task meanwhile locks the task's row before it
    takes the chain's lock, so it waits for the other, and the two never wait for each
    other (a deadlock)."""
    task = make_task(12)
    in_read, release = threading.Event(), threading.Event()

    def busy(request):  # the fresh read: held, then LAAFFIC refuses to answer it
        in_read.set()
        assert release.wait(WAIT)
        return 200, {}, '{"code": 1, "msg": "system busy", "data": null}'

    mocked_api.add_callback("POST", api_url("queryDetail"), callback=busy)
    targets = [CancelTarget.for_task(task)]
    cancelling = in_thread(service.cancel, targets, Submission(username="ann"))
    assert in_read.wait(WAIT)

    share_locked, cancel_waits = threading.Event(), threading.Event()

    def refused_row_inserted():  # the locks of inserting a refused row on the task, in order
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {RecallTask._meta.db_table} WHERE id = %s FOR KEY SHARE", [task.pk]
            )
            share_locked.set()
            assert cancel_waits.wait(WAIT)
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])

    other = in_thread(refused_row_inserted)
    assert share_locked.wait(WAIT)
    release.set()
    assert wait_for_a_lock()  # the cancel, closing, waits for the task
    cancel_waits.set()

    other()  # no deadlock was detected in either transaction
    [result] = cancelling().results
    assert result.outcome == Outcome.FAILED and result.recorded
    assert CancelAttempt.objects.get().outcome == Outcome.FAILED
    assert "in one transaction" not in caplog.text


def chain_lock_held() -> bool:
    """Whether a transaction on the test database holds the audit chain's advisory lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone()[0] > 0
