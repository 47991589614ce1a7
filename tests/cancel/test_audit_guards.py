"""The database's own guards on the audit log, on SQLite and PostgreSQL: a finished
attempt and a recorded check are kept as they are even in SQL, while the app's own writes
(finishing an open row, linking it, a deleted user's link set to NULL) go through."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from laaffic_recall.models import AuditChainCheck, CancelAttempt, Outcome
from laaffic_recall.verify import verify_chain
from tests.support.audit import finished
from tests.support.mirror import make_task

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_chain_key")]

ATTEMPTS = CancelAttempt._meta.db_table
CHECKS = AuditChainCheck._meta.db_table

# A new value for each column of a finished row, as an insider would write it.
NEW_VALUES = {
    "correlation_id": lambda: "1" * 32,
    "username": lambda: "director",
    "started_at": lambda: timezone.now(),
    "finished_at": lambda: timezone.now(),
    "duration": lambda: None,
    "cancel_type": lambda: 2,
    "target_id": lambda: 99,
    "task_key_id": lambda: 99,
    "request_body": lambda: None,
    "http_status": lambda: 500,
    "response_code": lambda: 7,
    "response_message": lambda: "edited",
    "outcome": lambda: "failed",
    "confirmed_by_reread": lambda: True,
    "first_outcome": lambda: "refused",
    "settled_by": lambda: "sync",
    "settled_at": lambda: timezone.now(),
    "seen_status": lambda: 2,
    "not_sent": lambda: "hidden",
    "blocked_by": lambda: 41,
    "error_detail": lambda: "edited",
    "reason": lambda: "edited",
    "client_ip": lambda: "10.9.9.9",
    "mirror_confirmed": lambda: False,
    "seal_mac": lambda: "ab" * 32,
    "chain_seq": lambda: 77,
    "chain_mac": lambda: "ab" * 32,
}


def assert_refused(statement: str, *params) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending trigger events
    with (
        pytest.raises(DatabaseError, match=r"append-only|cannot be changed"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, params)


def test_every_column_of_a_finished_row_is_listed():
    columns = {f.column for f in CancelAttempt._meta.concrete_fields}
    links = {"id", "user_id", "task_id", "node_id"}
    assert columns - links == set(NEW_VALUES)


@pytest.mark.parametrize("column", sorted(NEW_VALUES))
def test_no_column_of_a_finished_row_can_be_changed_in_sql(column):
    row = finished(12, http_status=200, client_ip="10.0.0.1", mirror_confirmed=True)

    assert_refused(
        f"UPDATE {ATTEMPTS} SET {column} = %s WHERE id = %s", NEW_VALUES[column](), row.pk
    )

    assert CancelAttempt.objects.values_list("username", "outcome").get(pk=row.pk) == (
        "ann",
        Outcome.SUCCEEDED,
    )


def test_no_attempt_can_be_deleted_in_sql_open_or_finished():
    done = finished(12)
    open_row = CancelAttempt.objects.create(cancel_type=1, target_id=13, task_key_id=13)
    for row in (done, open_row):
        assert_refused(f"DELETE FROM {ATTEMPTS} WHERE id = %s", row.pk)
    assert CancelAttempt.objects.count() == 2


def test_a_recorded_check_can_be_neither_changed_nor_deleted_in_sql():
    finished(12)
    verify_chain()
    assert_refused(f"UPDATE {CHECKS} SET through_seq = 0")
    assert_refused(f"DELETE FROM {CHECKS}")
    assert AuditChainCheck.objects.get().through_seq == 1


def test_the_apps_own_writes_still_go_through():
    user = get_user_model().objects.create_user("ann")
    task = make_task(12)
    row = CancelAttempt.objects.create(
        cancel_type=1, target_id=12, task=task, task_key_id=12, user=user, username="ann"
    )
    row.outcome = Outcome.UNKNOWN
    row.save()  # pending to unknown, sealed again
    row.outcome = Outcome.SUCCEEDED
    row.save()  # settled, then linked

    user.delete()
    task.delete()

    row.refresh_from_db()
    assert (row.user_id, row.task_id, row.chain_seq) == (None, None, 1)
    assert verify_chain().ok
