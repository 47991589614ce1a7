"""Someone with the database's owner rights rewrites the audit log: every change ends in a
failing ``laaffic_audit_verify`` that names the first row or check in question."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.models import AuditChainCheck, CancelAttempt, Outcome, RecallTask
from laaffic_recall.sync import service as sync
from tests.support.audit import CHAIN_KEY, anchor_in, finished, raw_sql, run_verify
from tests.support.mirror import make_task
from tests.support.vendor import CANCELLED, PENDING, TEST_SETTINGS, add_cancel, add_detail

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_chain_key")]

ATTEMPTS = CancelAttempt._meta.db_table
CHECKS = AuditChainCheck._meta.db_table
NO_UUID = "0" * 32


def uuid_value() -> str:
    return NO_UUID if connection.vendor == "sqlite" else "00000000-0000-0000-0000-000000000000"


def insert_attempt(outcome: str, when, row_id: int | None = None, **columns) -> int:
    """A row inserted in SQL, as an insider without the chain key would write it."""
    values = {
        "correlation_id": uuid_value(),
        "username": "director",
        "started_at": when,
        "finished_at": None if outcome in ("pending", "unknown") else when,
        "cancel_type": 1,
        "target_id": 12,
        "task_key_id": 12,
        "response_message": "",
        "outcome": outcome,
        "confirmed_by_reread": False,
        "error_detail": "",
        "reason": "approved by the director",
        "chain_mac": "",
        "seal_mac": "",
        **columns,
    }
    if row_id is not None:
        values["id"] = row_id
    names = ", ".join(values)
    marks = ", ".join("%s" for _ in values)
    raw_sql(f"INSERT INTO {ATTEMPTS} ({names}) VALUES ({marks})", *values.values())
    return CancelAttempt._base_manager.order_by("-id").values_list("id", flat=True).first()


def truncate(*tables: str) -> None:
    for table in tables:
        if connection.vendor == "postgresql":
            raw_sql(f"TRUNCATE {table}")
        else:
            raw_sql(f"DELETE FROM {table}")


def cancel_twice(mocked_api, first_key: int) -> list[CancelAttempt]:
    """Two ordinary cancels through the service, each Cancelled at LAAFFIC."""
    for key in (first_key, first_key + 1):
        task = make_task(key)
        add_detail(mocked_api, key, PENDING)
        add_cancel(mocked_api, 1, key)
        add_detail(mocked_api, key, CANCELLED)
        report = service.cancel([CancelTarget.for_task(task)], Submission(username="ann"))
        assert report.results[0].outcome == Outcome.SUCCEEDED
    return list(CancelAttempt.objects.filter(target_id__gte=first_key).order_by("id"))


def settle_by_sync(mocked_api, row_id: int) -> None:
    """A sync of task 12, Cancelled at LAAFFIC, meets the open row ``row_id``."""
    RecallTask.objects.filter(key_id=12).update(cancel_in_doubt=True)
    add_detail(mocked_api, 12, CANCELLED)
    sync.sync_task_details([12])
    row = CancelAttempt.objects.get(pk=row_id)
    assert (row.outcome, row.chain_seq) == (Outcome.UNKNOWN, None)  # left as it was


# --------------------------------------------------------------------------- the findings


def test_a_forged_open_row_is_neither_settled_nor_linked_and_verify_names_it(
    mocked_api, capsys, caplog
):
    make_task(12)
    finished(13)
    forged = insert_attempt("unknown", timezone.now())

    settle_by_sync(mocked_api, forged)

    assert f"Cancel attempt {forged} does not match its seal" in caplog.text
    assert CHAIN_KEY not in caplog.text
    problem = run_verify(capsys)[1]
    assert problem.startswith(f"Row {forged} is open but does not match its seal")


def test_an_open_row_edited_in_sql_is_not_settled(mocked_api, capsys):
    make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body="<html>502</html>", status=502)
    add_detail(mocked_api, 12, PENDING)
    service.cancel([CancelTarget.for_task(RecallTask.objects.get())], Submission(username="ann"))
    unknown = CancelAttempt.objects.get()
    assert unknown.outcome == Outcome.UNKNOWN and len(unknown.seal_mac) == 64
    raw_sql(f"UPDATE {ATTEMPTS} SET username = 'director' WHERE id = %s", unknown.pk)

    settle_by_sync(mocked_api, unknown.pk)

    assert run_verify(capsys)[1].startswith(f"Row {unknown.pk} is open but does not match")


def test_rows_cut_from_the_end_and_replaced_by_new_cancels_are_named(mocked_api, capsys):
    rows = [finished(100 + i) for i in range(5)]
    assert run_verify(capsys)[1] is None
    raw_sql(f"DELETE FROM {ATTEMPTS} WHERE id IN (%s, %s)", rows[3].pk, rows[4].pk)

    new = cancel_twice(mocked_api, 200)

    assert [r.chain_seq for r in new] == [4, 5]
    problem = run_verify(capsys)[1]
    assert problem.startswith(f"Link 5 is row {new[1].pk}, but check ")
    assert f"verified it as row {rows[4].pk} with another MAC" in problem


def test_a_finished_row_dated_before_the_chain_began_is_named(capsys):
    rows = [finished(12), finished(13)]
    long_ago = rows[0].started_at - timedelta(days=30)

    forged = insert_attempt("succeeded", long_ago)

    problem = run_verify(capsys)[1]
    assert problem.startswith(f"Row {forged} is finished but not in the chain, which began")


def test_the_database_refuses_to_empty_the_log_or_its_checks(capsys):
    finished(12)
    assert run_verify(capsys)[1] is None
    statements = [f"DELETE FROM {CHECKS}", f"UPDATE {CHECKS} SET ok = %s"]
    if connection.vendor == "sqlite":
        statements.append(f"DELETE FROM {ATTEMPTS}")
    else:
        statements += [f"TRUNCATE {ATTEMPTS}", f"TRUNCATE {CHECKS}"]
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending trigger events
    for statement in statements:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [False] if "%s" in statement else None)
    assert CancelAttempt.objects.count() == 1
    assert AuditChainCheck.objects.get().ok


def test_rows_and_checks_removed_together_are_named_by_the_anchor(capsys):
    rows = [finished(12), finished(13), finished(14)]
    anchor = anchor_in(run_verify(capsys)[0])
    check = AuditChainCheck.objects.get().pk

    raw_sql(f"DELETE FROM {ATTEMPTS} WHERE id = %s", rows[2].pk)
    raw_sql(f"DELETE FROM {CHECKS}")

    assert run_verify(capsys)[1] is None  # nothing in the database remembers row 3
    problem = run_verify(capsys, "--anchor", anchor)[1]
    assert problem.startswith(f"Check {check}, which the anchor names, is missing")


# --------------------------------------------------------------------------- the matrix


@dataclass
class History:
    """An audit log verified once: its unchained and linked rows, and the anchor printed."""

    unchained: list[CancelAttempt]
    linked: list[CancelAttempt]
    anchor: str = ""
    check: int = 0
    verify_args: list[str] = field(default_factory=list)


def edit(h: History, settings, mocked_api) -> tuple[str, int | None]:
    row = h.linked[2]
    raw_sql(f"UPDATE {ATTEMPTS} SET reason = 'approved' WHERE id = %s", row.pk)
    return f"Row {row.pk} (link 3) was changed", row.pk


def delete(h: History, settings, mocked_api):
    raw_sql(f"DELETE FROM {ATTEMPTS} WHERE id = %s", h.linked[2].pk)
    return "Link 3 is missing: a row was removed between", h.linked[3].pk


def insert(h: History, settings, mocked_api):
    row = insert_attempt("succeeded", timezone.now())
    return f"Row {row} is finished but not in the chain", row


def swap(h: History, settings, mocked_api):
    one, two = h.linked[1].pk, h.linked[2].pk
    raw_sql(f"UPDATE {ATTEMPTS} SET chain_seq = -1 WHERE id = %s", one)
    raw_sql(f"UPDATE {ATTEMPTS} SET chain_seq = 2 WHERE id = %s", two)
    raw_sql(f"UPDATE {ATTEMPTS} SET chain_seq = 3 WHERE id = %s", one)
    return f"Row {two} (link 2) does not match its link, nor does the link after it", two


def truncate_rows(h: History, settings, mocked_api):
    truncate(ATTEMPTS)
    return "Links 1 to 5 are missing from the end of the chain", h.linked[-1].pk


def truncate_rows_and_checks(h: History, settings, mocked_api):
    truncate(ATTEMPTS, CHECKS)
    h.verify_args = ["--anchor", h.anchor]
    return f"Check {h.check}, which the anchor names, is missing", None


def tail_cut_then_new_cancels(h: History, settings, mocked_api):
    raw_sql(f"DELETE FROM {ATTEMPTS} WHERE id IN (%s, %s)", h.linked[3].pk, h.linked[4].pk)
    new = cancel_twice(mocked_api, 200)
    return f"Link 5 is row {new[1].pk}, but check {h.check}", new[1].pk


def tail_and_checks_cut_then_new_cancels(h: History, settings, mocked_api):
    raw_sql(f"DELETE FROM {ATTEMPTS} WHERE id IN (%s, %s)", h.linked[3].pk, h.linked[4].pk)
    raw_sql(f"DELETE FROM {CHECKS}")
    cancel_twice(mocked_api, 200)
    h.verify_args = ["--anchor", h.anchor]
    return f"Check {h.check}, which the anchor names, is missing", None


def forged_open_row_settled_by_sync(h: History, settings, mocked_api):
    make_task(12)
    row = insert_attempt("unknown", timezone.now())
    settle_by_sync(mocked_api, row)
    return f"Row {row} is open but does not match its seal", row


def backdated_finished_row(h: History, settings, mocked_api):
    first = (h.unchained or h.linked)[0]
    insert_attempt("succeeded", first.started_at - timedelta(days=30), row_id=-7)
    count = len(h.unchained)
    now = "1 finished row is" if count == 0 else f"{count + 1} finished rows are"
    return (
        f"{now} outside the chain, where check {h.check} "
        f"({AuditChainCheck.objects.get().checked_at.isoformat(timespec='seconds')}) "
        f"counted {count}"
    ), None


def edited_check(h: History, settings, mocked_api):
    raw_sql(f"DELETE FROM {ATTEMPTS} WHERE id = %s", h.linked[4].pk)
    raw_sql(f"UPDATE {CHECKS} SET through_seq = 4, through_row = %s", h.linked[3].pk)
    return f"Check {h.check} (", None


def changed_key(h: History, settings, mocked_api):
    settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "AUDIT_CHAIN_KEY": "another key"}
    return f"Row {h.linked[0].pk} (link 1) does not match its link, nor does", h.linked[0].pk


SCENARIOS = [
    edit,
    delete,
    insert,
    swap,
    truncate_rows,
    truncate_rows_and_checks,
    tail_cut_then_new_cancels,
    tail_and_checks_cut_then_new_cancels,
    forged_open_row_settled_by_sync,
    backdated_finished_row,
    edited_check,
    changed_key,
]


@pytest.mark.parametrize("key_from_the_start", [True, False], ids=["keyed", "key-set-later"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_tampering_ends_in_a_failing_verify_that_names_the_row(
    scenario, key_from_the_start, settings, mocked_api, capsys
):
    h = History(unchained=[], linked=[])
    if not key_from_the_start:
        settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "AUDIT_CHAIN_KEY": ""}
        h.unchained = [finished(10), finished(11)]
        settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "AUDIT_CHAIN_KEY": CHAIN_KEY}
    h.linked = [finished(100 + i) for i in range(5)]
    out, problem = run_verify(capsys)
    assert problem is None
    h.anchor, h.check = anchor_in(out), AuditChainCheck.objects.get().pk

    expected, row = scenario(h, settings, mocked_api)

    out, problem = run_verify(capsys, *h.verify_args)
    assert problem is not None, out
    assert problem.startswith(expected), problem
    assert AuditChainCheck.objects.order_by("id").last().problem_row == row
