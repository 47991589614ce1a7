"""The next sync of a task settles its cancel attempts left unknown or stale in flight."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.models import CancelAttempt, CancelType, Outcome, RecallTask
from laaffic_recall.signals import cancel_attempted, task_synced
from laaffic_recall.sync import service as sync
from tests.support.audit import attempt_on
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    PENDING,
    add_cancel,
    add_detail,
)

pytestmark = pytest.mark.django_db


def unknown_cancel_of(mocked_api, task: RecallTask) -> CancelAttempt:
    """A type-1 cancel answered by a proxy's 502 while the task still shows Pending."""
    add_detail(mocked_api, task.key_id, PENDING)
    add_cancel(mocked_api, 1, task.key_id, body="<html>502</html>", status=502)
    add_detail(mocked_api, task.key_id, PENDING)
    service.cancel([CancelTarget.for_task(task)], Submission(username="agent"))
    attempt = CancelAttempt.objects.get()
    assert attempt.outcome == Outcome.UNKNOWN
    return attempt


@pytest.fixture
def announced():
    seen = []

    def listener(sender, attempt, **kwargs):
        seen.append((attempt.pk, attempt.outcome))

    cancel_attempted.connect(listener)
    yield seen
    cancel_attempted.disconnect(listener)


def test_sync_showing_cancelled_turns_unknown_into_succeeded(mocked_api, announced):
    task = make_task(12)
    attempt = unknown_cancel_of(mocked_api, task)
    announced.clear()

    add_detail(mocked_api, 12, CANCELLED)
    sync.sync_task_details([12])

    attempt.refresh_from_db()
    assert attempt.outcome == Outcome.SUCCEEDED
    assert attempt.confirmed_by_reread is True
    assert "Settled by the sync" in attempt.error_detail and "Cancelled" in attempt.error_detail
    assert announced == [(attempt.pk, Outcome.SUCCEEDED)]
    task.refresh_from_db()
    assert task.cancel_in_doubt is False


@pytest.mark.parametrize(("status", "label"), [(PENDING, "Pending"), (COMPLETED, "Completed")])
def test_sync_showing_the_task_not_cancelled_means_the_cancel_did_not_take_effect(
    mocked_api, status, label
):
    task = make_task(12)
    attempt = unknown_cancel_of(mocked_api, task)

    add_detail(mocked_api, 12, status)
    sync.sync_task_details([12])

    attempt.refresh_from_db()
    assert attempt.outcome == Outcome.FAILED
    assert attempt.confirmed_by_reread is True
    assert f"shows it {label}, so the cancel did not take effect" in attempt.error_detail
    task.refresh_from_db()
    assert task.cancel_in_doubt is False


def test_sync_settles_a_stale_in_flight_row(mocked_api, settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "STALE_ATTEMPT_SECONDS": 60}
    task = make_task(12, cancel_in_doubt=True)
    nodes = make_nodes(task, PENDING, PENDING)
    started = timezone.now() - timedelta(minutes=10)
    dead = attempt_on(task, CancelType.NODE, nodes[0].key_id, Outcome.PENDING, started_at=started)

    add_detail(mocked_api, 12, PENDING, nodes=((101, CANCELLED), (102, CANCELLED)))
    sync.sync_task_details([12])

    dead.refresh_from_db()
    assert dead.outcome == Outcome.SUCCEEDED  # the node shows Cancelled
    task.refresh_from_db()
    assert task.cancel_in_doubt is False


def test_an_unknown_parent_cancel_keeps_its_other_tasks_in_doubt_until_it_is_settled(
    mocked_api,
):
    a = make_task(12, parent_task_id=555, cancel_in_doubt=True)
    b = make_task(13, parent_task_id=555, cancel_in_doubt=True)
    attempt = attempt_on(a, CancelType.PARENT, 555, Outcome.UNKNOWN)

    add_detail(mocked_api, 13, PENDING)
    sync.sync_task_details([13])  # the other task of the parent: nothing of its own to settle
    b.refresh_from_db()
    assert b.cancel_in_doubt is True

    add_detail(mocked_api, 12, CANCELLED)
    sync.sync_task_details([12])  # settles the attempt, and the doubt of both tasks
    attempt.refresh_from_db()
    assert attempt.outcome == Outcome.SUCCEEDED
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.cancel_in_doubt, b.cancel_in_doubt) == (False, False)


def unknown_node_attempt(task: RecallTask) -> CancelAttempt:
    """A cancel from node 102 of ``task`` whose outcome is unknown."""
    return attempt_on(task, CancelType.NODE, 102, Outcome.UNKNOWN)


def test_node_attempt_is_settled_by_the_node_status(mocked_api):
    task = make_task(12, cancel_in_doubt=True)
    make_nodes(task, PENDING, PENDING)
    attempt = unknown_node_attempt(task)

    add_detail(mocked_api, 12, IN_PROGRESS, nodes=((101, IN_PROGRESS), (102, PENDING)))
    sync.sync_task_details([12])

    attempt.refresh_from_db()
    assert attempt.outcome == Outcome.FAILED and "Pending" in attempt.error_detail


@pytest.mark.parametrize(
    ("task_status", "outcome"), [(CANCELLED, Outcome.SUCCEEDED), (COMPLETED, Outcome.FAILED)]
)
def test_a_node_no_longer_listed_is_settled_when_its_task_has_ended(
    mocked_api, task_status, outcome
):
    task = make_task(12, cancel_in_doubt=True)
    make_nodes(task, PENDING, PENDING)
    attempt = unknown_node_attempt(task)

    add_detail(mocked_api, 12, task_status, nodes=((101, task_status),))  # node 102 is gone
    sync.sync_task_details([12])

    attempt.refresh_from_db()
    assert attempt.outcome == outcome and attempt.confirmed_by_reread
    assert not RecallTask.objects.get(key_id=12).cancel_in_doubt


def test_a_node_no_longer_listed_stays_unknown_while_its_task_runs(mocked_api):
    task = make_task(12, cancel_in_doubt=True)
    make_nodes(task, PENDING, PENDING)
    attempt = unknown_node_attempt(task)

    add_detail(mocked_api, 12, IN_PROGRESS, nodes=((101, IN_PROGRESS),))
    sync.sync_task_details([12])

    attempt.refresh_from_db()
    assert attempt.outcome == Outcome.UNKNOWN


def test_tasks_without_a_cancel_in_doubt_cost_no_query(django_assert_num_queries):
    task = make_task(12)
    with django_assert_num_queries(0):
        task_synced.send(sender=RecallTask, task=task)


def test_finished_attempts_are_never_touched_by_a_sync(mocked_api):
    task = make_task(12, cancel_in_doubt=True)
    refused = CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=12,
        task_key_id=12,
        outcome=Outcome.REFUSED,
        response_code=-18,
    )
    add_detail(mocked_api, 12, CANCELLED)
    sync.sync_task_details([12])
    refused.refresh_from_db()
    assert (refused.outcome, refused.response_code) == (Outcome.REFUSED, -18)
    task.refresh_from_db()
    assert task.cancel_in_doubt is False


def test_a_flag_left_without_any_open_attempt_is_cleared_by_the_next_sync(mocked_api):
    task = make_task(12, cancel_in_doubt=True)
    CancelAttempt.objects.create(
        cancel_type=CancelType.TASK, target_id=12, task_key_id=12, outcome=Outcome.SUCCEEDED
    )
    add_detail(mocked_api, 12, CANCELLED)
    sync.sync_task_details([12])
    task.refresh_from_db()
    assert task.cancel_in_doubt is False


def test_an_attempt_in_flight_keeps_the_flag_through_a_sync(mocked_api):
    task = make_task(12, cancel_in_doubt=True)
    live = CancelAttempt.objects.create(cancel_type=CancelType.TASK, target_id=12, task_key_id=12)
    add_detail(mocked_api, 12, PENDING)
    sync.sync_task_details([12])
    task.refresh_from_db()
    live.refresh_from_db()
    assert task.cancel_in_doubt is True and live.outcome == Outcome.PENDING
