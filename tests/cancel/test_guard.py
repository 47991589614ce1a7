"""One cancel per task at a time: whatever the cancel type, and never while one is in doubt.

The pending audit row is committed before the fresh read, so an agent whose read was
answered before another agent's whole cancel still cannot send a second request; the
guard is per task (type 1, 2 and 3 alike), and an attempt whose outcome is unknown
blocks new attempts on its task until a refresh settles it.
"""

from __future__ import annotations

import json
import threading

import pytest
from django.db.models.signals import pre_save

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission, blocking_attempts
from laaffic_recall.models import CancelAttempt, CancelType, NotSent, Outcome, RecallTask
from laaffic_recall.sync import service as sync
from tests.support.audit import message
from tests.support.concurrency import WAIT, in_thread
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import (
    CANCELLED,
    COMPLETED,
    PENDING,
    add_cancel,
    add_detail,
    api_url,
    calls_to,
    detail_data,
    envelope,
    signed,
)

PARENT = 2024051800012
NODES = ((101, PENDING), (102, PENDING), (103, PENDING))


class Vendor:
    """A tiny LAAFFIC for task 12 (parent ``PARENT``) with nodes 101-103.

    Cancels take effect (type 1 by key, 2 by parent, 3 from a node onward), a cancel of a
    target no longer Pending is refused with -22, and ``hold()`` keeps the next cancel's
    answer back until released. ``on_first_read`` runs while the first detail read is in
    flight, after its answer was taken: a read that started before whatever it does.
    """

    def __init__(self, rsps):
        self.lock = threading.Lock()
        self.status = {12: PENDING}
        self.nodes = {101: PENDING, 102: PENDING, 103: PENDING}
        self.reads = 0
        self.on_first_read = None
        self.held: tuple[threading.Event, threading.Event] | None = None
        rsps.add_callback("POST", api_url("queryDetail"), callback=self.detail, match=[signed])
        rsps.add_callback("POST", api_url("cancel"), callback=self.cancel, match=[signed])

    def detail(self, request):
        with self.lock:
            self.reads += 1
            first = self.reads == 1
            nodes = tuple(self.nodes.items())
            answer = json.dumps(envelope(detail_data(12, self.status[12], nodes)))
        if first and self.on_first_read is not None:
            self.on_first_read()
        return 200, {}, answer

    def hold(self) -> tuple[threading.Event, threading.Event]:
        self.held = (threading.Event(), threading.Event())
        return self.held

    def cancel(self, request):
        body = json.loads(request.body)
        with self.lock:
            held, self.held = self.held, None  # only the next cancel is held
        if held is not None:
            in_flight, release = held
            in_flight.set()
            assert release.wait(WAIT)
        with self.lock:
            kind, target = body["type"], body["id"]
            if kind == 3:
                if self.nodes.get(target) != PENDING:
                    return 200, {}, json.dumps(envelope(None, code=-22, msg="not pending"))
                keys = sorted(self.nodes)
                for key in keys[keys.index(target) :]:
                    if self.nodes[key] == PENDING:
                        self.nodes[key] = CANCELLED
                return 200, {}, json.dumps(envelope(None))
            if (kind, target) not in ((1, 12), (2, PARENT)) or self.status[12] != PENDING:
                return 200, {}, json.dumps(envelope(None, code=-22, msg="not pending"))
            self.status[12] = CANCELLED
            self.nodes = {k: CANCELLED if s == PENDING else s for k, s in self.nodes.items()}
            return 200, {}, json.dumps(envelope(None))


def task_12() -> RecallTask:
    task = make_task(12, parent_task_id=PARENT)
    make_nodes(task, PENDING, PENDING, PENDING)
    return task


def target(kind: str, task: RecallTask) -> CancelTarget:
    if kind == "task":
        return CancelTarget.for_task(task)
    if kind == "parent":
        return CancelTarget.for_parent(PARENT, [task])
    return CancelTarget.for_node(task.nodes.get(key_id=102))


# --------------------------------------------------------------------------- the read race


@pytest.mark.django_db
def test_a_read_answered_before_another_agents_whole_cancel_cannot_send_a_second_one(mocked_api):
    """Agent B's fresh read is answered "Pending"; agent A's whole cancel runs while that
    answer travels. B's row was committed before its read, so A is refused, not B."""
    task = task_12()
    vendor = Vendor(mocked_api)
    reports = {}

    def agent_a_cancels_meanwhile():
        reports["A"] = service.cancel([CancelTarget.for_task(task)], Submission(username="A"))

    vendor.on_first_read = agent_a_cancels_meanwhile

    reports["B"] = service.cancel([CancelTarget.for_task(task)], Submission(username="B"))

    assert len(calls_to(mocked_api, "cancel")) == 1
    assert reports["B"].results[0].outcome == Outcome.SUCCEEDED
    [refused] = reports["A"].results
    assert refused.outcome == Outcome.REFUSED and refused.in_flight
    assert vendor.status[12] == CANCELLED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_threads_a_read_spanning_another_agents_whole_cancel_sends_one_request(mocked_api):
    task = task_12()
    vendor = Vendor(mocked_api)
    box = {}

    def agent_a_cancels_meanwhile():
        # Another agent, another connection, a whole cancel while B's answer is in flight.
        box["A"] = in_thread(
            service.cancel, [CancelTarget.for_task(task)], Submission(username="A")
        )()

    vendor.on_first_read = agent_a_cancels_meanwhile
    report_b = in_thread(service.cancel, [CancelTarget.for_task(task)], Submission(username="B"))()

    assert len(calls_to(mocked_api, "cancel")) == 1
    assert report_b.results[0].outcome == Outcome.SUCCEEDED
    assert box["A"].results[0].in_flight
    rows = {a.username: a for a in CancelAttempt.objects.all()}
    assert (rows["A"].outcome, rows["B"].outcome) == (Outcome.REFUSED, Outcome.SUCCEEDED)
    assert rows["A"].request_body is None and rows["B"].request_body is not None


# --------------------------------------------------------------------------- across cancel types


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("first", "second"),
    [("task", "parent"), ("parent", "task"), ("node", "task"), ("task", "node")],
)
def test_threads_two_cancel_types_of_the_same_task_send_one_request(mocked_api, first, second):
    task = task_12()
    vendor = Vendor(mocked_api)
    in_flight, release = vendor.hold()

    one = in_thread(service.cancel, [target(first, task)], Submission(username="ann"))
    assert in_flight.wait(WAIT)
    try:
        other = in_thread(service.cancel, [target(second, task)], Submission(username="bob"))()
    finally:
        release.set()
    first_report = one()

    assert len(calls_to(mocked_api, "cancel")) == 1
    assert first_report.results[0].outcome == Outcome.SUCCEEDED
    [refused] = other.results
    assert refused.outcome == Outcome.REFUSED and refused.in_flight
    assert refused.blocked_by.username == "ann"
    row = CancelAttempt.objects.get(username="bob")
    assert (row.outcome, row.task_key_id, row.request_body) == (Outcome.REFUSED, 12, None)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["task", "parent", "node"])
def test_a_pending_row_of_another_type_on_the_task_blocks_before_any_call(mocked_api, kind):
    task = task_12()
    other_type = CancelType.NODE if kind != "node" else CancelType.TASK
    other_id = 101 if kind != "node" else 12
    CancelAttempt.objects.create(
        cancel_type=other_type, target_id=other_id, task_key_id=12, outcome=Outcome.PENDING
    )

    report = service.cancel([target(kind, task)], Submission(username="bob"))

    assert len(mocked_api.calls) == 0  # not even the fresh read
    assert report.results[0].in_flight


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["task", "parent", "node"])
def test_the_guard_refuses_a_cancel_in_flight_before_trying_a_pending_row(mocked_api, kind):
    """The refusal is the guard's own: the database's unique constraints on pending rows
    are not what stops the second cancel."""
    task = task_12()
    flying = CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=12,
        task_key_id=12,
        outcome=Outcome.PENDING,
        username="ann",
    )
    inserted = []

    def spy(sender, instance, **kwargs):
        if instance._state.adding:
            inserted.append(instance.outcome)

    pre_save.connect(spy, sender=CancelAttempt)
    try:
        report = service.cancel([target(kind, task)], Submission(username="bob"))
    finally:
        pre_save.disconnect(spy, sender=CancelAttempt)

    assert len(mocked_api.calls) == 0
    assert inserted == [Outcome.REFUSED]  # the refusal's own row; no pending row tried
    [result] = report.results
    assert (result.outcome, result.in_flight, result.in_doubt) == (Outcome.REFUSED, True, False)
    assert result.blocked_by.attempt_id == flying.pk
    refused = CancelAttempt.objects.get(username="bob")
    assert (refused.not_sent, refused.blocked_by) == (NotSent.IN_FLIGHT, flying.pk)
    assert refused.error_detail == ""
    assert f"in flight (attempt #{flying.pk})" in message(refused)


@pytest.mark.django_db
def test_a_pending_parent_cancel_blocks_a_task_of_that_parent_it_is_not_recorded_on(mocked_api):
    task_12()
    sibling = make_task(13, parent_task_id=PARENT)
    CancelAttempt.objects.create(
        cancel_type=CancelType.PARENT, target_id=PARENT, task_key_id=12, outcome=Outcome.PENDING
    )

    report = service.cancel([CancelTarget.for_task(sibling)], Submission(username="bob"))

    assert len(mocked_api.calls) == 0
    assert report.results[0].in_flight


# --------------------------------------------------------------------------- in doubt


@pytest.mark.django_db
def test_a_cancel_in_doubt_blocks_the_task_until_a_refresh_settles_it(mocked_api):
    task = task_12()
    add_detail(mocked_api, 12, PENDING, nodes=NODES)
    add_cancel(mocked_api, 1, 12, body="<html>502</html>", status=502)
    add_detail(mocked_api, 12, PENDING, nodes=NODES)
    service.cancel([CancelTarget.for_task(task)], Submission(username="ann"))
    unknown = CancelAttempt.objects.get()
    assert unknown.outcome == Outcome.UNKNOWN
    calls = len(mocked_api.calls)

    report = service.cancel([target("node", task)], Submission(username="bob"))

    assert len(mocked_api.calls) == calls  # nothing read, nothing sent
    [result] = report.results
    assert result.outcome == Outcome.REFUSED and result.in_doubt and not result.in_flight
    assert result.blocked_by is not None and result.blocked_by.in_doubt
    refused = CancelAttempt.objects.get(username="bob")
    assert refused.request_body is None  # refused here: nothing sent
    assert (refused.not_sent, refused.blocked_by) == (NotSent.IN_DOUBT, unknown.pk)
    assert f"(attempt #{unknown.pk})" in message(refused)
    assert "Refresh from LAAFFIC" in message(refused)

    # The refresh stores the detail, which settles the unknown attempt; then it goes through.
    add_detail(mocked_api, 12, PENDING, nodes=NODES)
    sync.sync_task_details([12])
    unknown.refresh_from_db()
    assert unknown.outcome == Outcome.FAILED
    add_detail(mocked_api, 12, PENDING, nodes=NODES)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED, nodes=NODES)
    again = service.cancel([CancelTarget.for_task(task)], Submission(username="bob"))
    assert again.results[0].outcome == Outcome.SUCCEEDED
    assert len(calls_to(mocked_api, "cancel")) == 2


@pytest.mark.django_db
def test_blockers_tell_the_admin_which_tasks_have_a_cancel_in_flight_or_in_doubt():
    a, b, c = make_task(12, parent_task_id=PARENT), make_task(13), make_task(14)
    sibling = make_task(15, parent_task_id=PARENT)
    make_task(16)
    flying = CancelAttempt.objects.create(
        cancel_type=CancelType.PARENT,
        target_id=PARENT,
        task_key_id=12,
        outcome=Outcome.PENDING,
        username="ann",
    )
    doubt = CancelAttempt.objects.create(
        cancel_type=CancelType.TASK, target_id=13, task_key_id=13, outcome=Outcome.UNKNOWN
    )
    CancelAttempt.objects.create(
        cancel_type=CancelType.TASK, target_id=14, task_key_id=14, outcome=Outcome.SUCCEEDED
    )

    found = blocking_attempts(RecallTask.objects.all())

    assert set(found) == {a.key_id, b.key_id, sibling.key_id}
    assert found[12].attempt_id == flying.pk and not found[12].in_doubt
    assert found[15].attempt_id == flying.pk
    assert found[13].attempt_id == doubt.pk and found[13].in_doubt
    assert found[12].username == "ann"
    assert c.key_id not in found


@pytest.mark.django_db
def test_finished_attempts_of_a_task_do_not_block_it(mocked_api):
    task = task_12()
    for outcome in (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.REFUSED, Outcome.SKIPPED):
        CancelAttempt.objects.create(
            cancel_type=CancelType.TASK, target_id=12, task_key_id=12, outcome=outcome
        )
    add_detail(mocked_api, 12, COMPLETED)

    report = service.cancel([CancelTarget.for_task(task)], Submission(username="bob"))

    assert report.results[0].outcome == Outcome.SKIPPED
