"""The audit chain on PostgreSQL: concurrent cancels never fork it, and the trigger keeps
finished rows as they are, even in SQL."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.models import CancelAttempt, CancelType, Outcome
from laaffic_recall.verify import verify_chain
from tests.support.concurrency import WAIT, in_thread
from tests.support.mirror import make_task
from tests.support.vendor import CANCELLED, PENDING, add_cancel, add_detail, calls_to

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("audit_chain_key")]

TABLE = CancelAttempt._meta.db_table
AGENTS = 50


def finished(target_id: int = 12, **fields) -> CancelAttempt:
    now = timezone.now()
    return CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=target_id,
        task_key_id=target_id,
        outcome=Outcome.SUCCEEDED,
        finished_at=now,
        **fields,
    )


def refused_by_the_database(statement: str, *params) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)
    except DatabaseError as exc:
        if "append-only" in str(exc) or "cannot be changed" in str(exc):
            return True
        raise
    return False


@pytest.mark.django_db(transaction=True)
def test_fifty_agents_cancelling_at_once_leave_one_unbroken_chain(mocked_api):
    tasks = [make_task(1000 + i) for i in range(AGENTS)]
    for task in tasks:
        add_detail(mocked_api, task.key_id, PENDING)  # the fresh read
        add_cancel(mocked_api, 1, task.key_id)
        add_detail(mocked_api, task.key_id, CANCELLED)  # the re-read
    start = threading.Barrier(AGENTS)

    def agent(task):
        start.wait(WAIT)
        return service.cancel([CancelTarget.for_task(task)], Submission(username=f"a{task.pk}"))

    joins = [in_thread(agent, task) for task in tasks]
    reports = [join() for join in joins]

    assert [r.results[0].outcome for r in reports] == [Outcome.SUCCEEDED] * AGENTS
    assert len(calls_to(mocked_api, "cancel")) == AGENTS
    seqs = sorted(CancelAttempt.objects.values_list("chain_seq", flat=True))
    assert seqs == list(range(1, AGENTS + 1))
    report = verify_chain()
    assert report.ok, report.problem
    assert report.links == AGENTS


@pytest.mark.django_db(transaction=True)
def test_rows_finished_at_once_in_threads_are_linked_once_each():
    rows = [
        CancelAttempt.objects.create(cancel_type=1, target_id=2000 + i, task_key_id=2000 + i)
        for i in range(AGENTS)
    ]
    start = threading.Barrier(AGENTS)

    def settle(row):
        start.wait(WAIT)
        row.outcome = Outcome.SUCCEEDED if row.target_id % 2 else Outcome.FAILED
        row.save()

    for join in [in_thread(settle, row) for row in rows]:
        join()

    links = list(CancelAttempt.objects.order_by("chain_seq").values_list("chain_seq", flat=True))
    assert links == list(range(1, AGENTS + 1))
    assert verify_chain().ok


@pytest.mark.django_db
def test_the_trigger_refuses_an_update_of_a_finished_row():
    row = finished(12, reason="ticket 7")
    assert refused_by_the_database(f"UPDATE {TABLE} SET reason = 'ticket 8' WHERE id = %s", row.pk)
    assert refused_by_the_database(
        f"UPDATE {TABLE} SET chain_mac = %s WHERE id = %s", "0" * 64, row.pk
    )
    row.refresh_from_db()
    assert row.reason == "ticket 7"


@pytest.mark.django_db
def test_the_trigger_refuses_a_delete():
    row = finished(12)
    assert refused_by_the_database(f"DELETE FROM {TABLE} WHERE id = %s", row.pk)
    assert CancelAttempt.objects.filter(pk=row.pk).exists()


@pytest.mark.django_db
def test_the_trigger_lets_an_open_row_be_finished():
    row = CancelAttempt.objects.create(cancel_type=1, target_id=12, task_key_id=12)
    assert not refused_by_the_database(
        f"UPDATE {TABLE} SET outcome = 'unknown' WHERE id = %s", row.pk
    )


@pytest.mark.django_db
def test_deleting_the_user_and_task_nulls_their_links_and_the_chain_still_verifies():
    user = get_user_model().objects.create_user("ann")
    task = make_task(12)
    row = finished(12, user=user, username="ann", task=task)

    user.delete()
    task.delete()

    row.refresh_from_db()
    assert (row.user_id, row.task_id, row.username, row.task_key_id) == (None, None, "ann", 12)
    assert verify_chain().ok


@pytest.mark.django_db
def test_the_trigger_refuses_to_point_a_link_at_another_user():
    ann = get_user_model().objects.create_user("ann")
    bob = get_user_model().objects.create_user("bob")
    row = finished(12, user=ann, username="ann")
    assert refused_by_the_database(f"UPDATE {TABLE} SET user_id = %s WHERE id = %s", bob.pk, row.pk)
