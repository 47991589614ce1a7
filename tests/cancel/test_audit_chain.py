"""The audit chain: each finished attempt is linked once, and the verifier names the first
row that was changed, removed or slipped in."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission, finish
from laaffic_recall.chain import chain_key
from laaffic_recall.models import AuditChainCheck, CancelAttempt, Outcome
from laaffic_recall.sync import service as sync
from laaffic_recall.verify import verify_chain
from tests.support.audit import CHAIN_KEY, anchor_in, finished, raw_sql, run_verify
from tests.support.mirror import make_task
from tests.support.vendor import CANCELLED, PENDING, TEST_SETTINGS, add_cancel, add_detail

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_chain_key")]

TABLE = CancelAttempt._meta.db_table


def links() -> list[tuple[int, int | None]]:
    return list(CancelAttempt._base_manager.order_by("id").values_list("id", "chain_seq"))


def test_finished_rows_are_linked_in_order_and_verify(capsys):
    rows = [finished(12), finished(13, Outcome.REFUSED), finished(14, Outcome.FAILED)]

    assert links() == [(rows[0].pk, 1), (rows[1].pk, 2), (rows[2].pk, 3)]
    assert all(len(r.chain_mac) == 64 for r in CancelAttempt.objects.all())
    out, problem = run_verify(capsys)
    assert problem is None
    assert f"Verified 3 links, up to row {rows[2].pk} (link 3)." in out


def test_a_row_is_linked_when_it_becomes_final_not_when_it_is_opened(capsys):
    early = CancelAttempt.objects.create(cancel_type=1, target_id=12, outcome=Outcome.PENDING)
    later = finished(13)
    assert links() == [(early.pk, None), (later.pk, 1)]

    finish(early, outcome=Outcome.UNKNOWN, error_detail="read timed out")
    early.refresh_from_db()
    assert early.chain_seq is None  # still open

    early.outcome = Outcome.SUCCEEDED
    early.confirmed_by_reread = True
    early.save()  # as a sync settles it

    assert links() == [(early.pk, 2), (later.pk, 1)]
    assert run_verify(capsys)[1] is None


def test_a_cancel_left_unknown_is_linked_when_a_sync_settles_it(mocked_api, capsys):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body="<html>502</html>", status=502)
    add_detail(mocked_api, 12, PENDING)
    service.cancel([CancelTarget.for_task(task)], Submission(username="ann"))
    unknown = CancelAttempt.objects.get()
    later = finished(13)
    assert (unknown.outcome, unknown.chain_seq) == (Outcome.UNKNOWN, None)

    add_detail(mocked_api, 12, CANCELLED)
    sync.sync_task_details([12])

    unknown.refresh_from_db()
    assert (unknown.outcome, unknown.chain_seq) == (Outcome.SUCCEEDED, 2)
    assert later.chain_seq == 1
    out, problem = run_verify(capsys)
    assert problem is None and "Verified 2 links" in out


def test_a_row_edited_in_sql_is_named(capsys):
    rows = [finished(12), finished(13), finished(14)]
    raw_sql(f"UPDATE {TABLE} SET reason = %s WHERE id = %s", "ticket 9", rows[1].pk)

    out, problem = run_verify(capsys)

    assert problem.startswith(f"Row {rows[1].pk} (link 2) was changed")
    assert f"up to row {rows[0].pk} (link 1)" in out
    check = AuditChainCheck.objects.get()
    assert (check.ok, check.problem_row, check.through_seq) == (False, rows[1].pk, 1)


def test_an_edited_last_row_is_named(capsys):
    rows = [finished(12), finished(13)]
    raw_sql(f"UPDATE {TABLE} SET outcome = %s WHERE id = %s", Outcome.FAILED, rows[1].pk)

    assert run_verify(capsys)[1].startswith(f"Row {rows[1].pk} (link 2, the last) does not match")


def test_a_deleted_row_is_named_by_its_neighbours(capsys):
    rows = [finished(12), finished(13), finished(14)]
    raw_sql(f"DELETE FROM {TABLE} WHERE id = %s", rows[1].pk)

    problem = run_verify(capsys)[1]

    assert problem == (
        f"Link 2 is missing: a row was removed between row {rows[0].pk} (link 1) and row "
        f"{rows[2].pk} (link 3)."
    )


def test_rows_removed_from_the_end_since_the_last_good_run_are_named(capsys):
    rows = [finished(12), finished(13), finished(14)]
    assert run_verify(capsys)[1] is None
    raw_sql(f"DELETE FROM {TABLE} WHERE id = %s", rows[2].pk)

    problem = run_verify(capsys)[1]

    assert problem.startswith("Link 3 is missing from the end of the chain")
    assert f"(as row {rows[2].pk})" in problem


def test_several_rows_removed_from_the_end_are_named(capsys):
    rows = [finished(12), finished(13), finished(14)]
    assert run_verify(capsys)[1] is None
    raw_sql(f"DELETE FROM {TABLE} WHERE id IN (%s, %s)", rows[1].pk, rows[2].pk)

    problem = run_verify(capsys)[1]

    assert problem.startswith("Links 2 to 3 are missing from the end of the chain")
    assert f"(up to row {rows[2].pk})" in problem


def insert_by_hand(chain_seq=None, chain_mac="") -> CancelAttempt:
    raw_sql(
        f"INSERT INTO {TABLE} (correlation_id, username, started_at, finished_at, cancel_type, "
        "target_id, response_message, outcome, confirmed_by_reread, error_detail, reason, "
        "chain_seq, chain_mac, seal_mac) VALUES (%s, %s, %s, %s, 1, 99, '', 'succeeded', %s, "
        "'', '', %s, %s, '')",
        "0" * 32 if connection.vendor == "sqlite" else "00000000-0000-0000-0000-000000000000",
        "mallory",
        timezone.now(),
        timezone.now(),
        False,
        chain_seq,
        chain_mac,
    )
    return CancelAttempt.objects.get(target_id=99)


def test_a_row_inserted_by_hand_without_a_link_is_named(capsys):
    rows = [finished(12), finished(13)]
    forged = insert_by_hand()

    problem = run_verify(capsys)[1]

    assert forged.pk > rows[1].pk
    assert problem == (
        f"Row {forged.pk} is finished but not in the chain, which began at row "
        f"{rows[0].pk}: it was inserted by hand, or written while no chain key was set."
    )


def test_a_row_inserted_by_hand_with_a_forged_link_is_named(capsys):
    finished(12), finished(13)
    forged = insert_by_hand(chain_seq=3, chain_mac="ab" * 32)

    problem = run_verify(capsys)[1]

    assert problem.startswith(f"Row {forged.pk} (link 3, the last) does not match its link")


def test_a_chain_whose_first_links_are_gone_is_named(capsys):
    rows = [finished(12), finished(13), finished(14)]
    raw_sql(f"DELETE FROM {TABLE} WHERE id IN (%s, %s)", rows[0].pk, rows[1].pk)

    problem = run_verify(capsys)[1]

    assert problem == f"Links 1 to 2 are missing: the chain starts at row {rows[2].pk} (link 3)."


def test_another_key_is_reported_at_the_first_row(settings, capsys):
    rows = [finished(12), finished(13), finished(14)]
    settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "AUDIT_CHAIN_KEY": "another key"}

    problem = run_verify(capsys)[1]

    assert problem.startswith(f"Row {rows[0].pk} (link 1) does not match its link, nor does")
    assert "the key is not the one the chain was written with" in problem


def test_rows_written_before_a_key_was_set_are_unchained_not_tampered(settings, capsys):
    settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "AUDIT_CHAIN_KEY": ""}
    old = [finished(12), finished(13)]
    assert links() == [(old[0].pk, None), (old[1].pk, None)]
    settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "AUDIT_CHAIN_KEY": CHAIN_KEY}
    new = finished(14)

    out, problem = run_verify(capsys)

    assert problem is None
    assert "2 rows were written before a chain key was set: unchained." in out
    assert links()[-1] == (new.pk, 1)
    assert AuditChainCheck.objects.get().unchained == 2


def test_rows_written_while_the_key_was_missing_later_are_named(settings, capsys):
    finished(12)
    settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "AUDIT_CHAIN_KEY": ""}
    gap = finished(13)
    settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "AUDIT_CHAIN_KEY": CHAIN_KEY}

    assert run_verify(capsys)[1].startswith(f"Row {gap.pk} is finished but not in the chain")


def test_without_a_key_the_verifier_says_what_to_set(settings):
    finished(12)
    settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "AUDIT_CHAIN_KEY": ""}
    with pytest.raises(CommandError, match=r"LAAFFIC_RECALL\['AUDIT_CHAIN_KEY'\]"):
        call_command("laaffic_audit_verify")
    assert not AuditChainCheck.objects.exists()


def test_the_key_is_never_stored(capsys):
    finished(12)
    verify_chain()
    call_command("dumpdata", "laaffic_recall")
    dumped = capsys.readouterr().out
    assert chain_key() == CHAIN_KEY.encode()
    assert "chain_mac" in dumped and CHAIN_KEY not in dumped


def test_an_empty_log_verifies(capsys):
    out, problem = run_verify(capsys)
    assert problem is None and "No verified link yet." in out


def test_rows_created_in_bulk_are_linked_too(capsys):
    now = timezone.now()
    rows = CancelAttempt.objects.bulk_create(
        [
            CancelAttempt(cancel_type=1, target_id=12, outcome=Outcome.SKIPPED, finished_at=now),
            CancelAttempt(cancel_type=1, target_id=13, outcome=Outcome.PENDING),
        ]
    )
    assert links() == [(rows[0].pk, 1), (rows[1].pk, None)]
    assert run_verify(capsys)[1] is None


def test_a_good_run_prints_an_anchor_that_a_later_run_checks(capsys):
    rows = [finished(12), finished(13)]
    out, problem = run_verify(capsys)
    anchor = anchor_in(out)
    check = AuditChainCheck.objects.get()
    assert problem is None and "The audit chain is intact." in out
    assert anchor.startswith(f"laaffic-audit-anchor-1 check={check.pk} link=2 row={rows[1].pk} ")
    assert f"link-mac={rows[1].chain_mac} " in anchor + " " and CHAIN_KEY not in anchor
    finished(14)

    out, problem = run_verify(capsys, "--anchor", anchor)

    assert problem is None and "Verified 3 links" in out


def test_an_anchor_file_is_checked_then_extended(tmp_path, capsys):
    anchors = tmp_path / "anchors.txt"
    finished(12)
    assert run_verify(capsys, "--anchor-file", str(anchors))[1] is None  # no file yet
    first = anchors.read_text().splitlines()
    finished(13)
    assert run_verify(capsys, "--anchor-file", str(anchors))[1] is None
    lines = anchors.read_text().splitlines()
    assert len(first) == 1 and lines[0] == first[0] and "link=2" in lines[1]

    raw_sql(f"DELETE FROM {TABLE}")
    raw_sql(f"DELETE FROM {AuditChainCheck._meta.db_table}")

    problem = run_verify(capsys, "--anchor-file", str(anchors))[1]
    assert problem.endswith("which the anchor names, is missing: the recorded checks were deleted.")
    assert len(anchors.read_text().splitlines()) == 2  # a failing run adds no anchor


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda line: line.replace("link=1", "link=2"), "The anchor does not match the chain key"),
        (lambda line: line[:20], "This is not an anchor printed by laaffic_audit_verify"),
    ],
    ids=["edited", "cut"],
)
def test_an_anchor_that_is_not_one_is_refused(change, said, capsys):
    finished(12)
    anchor = anchor_in(run_verify(capsys)[0])

    with pytest.raises(CommandError, match=said):
        call_command("laaffic_audit_verify", "--anchor", change(anchor))


def test_an_anchor_of_another_key_is_refused(settings, capsys):
    finished(12)
    anchor = anchor_in(run_verify(capsys)[0])
    settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "AUDIT_CHAIN_KEY": "another key"}

    with pytest.raises(CommandError, match="printed by a site with another key"):
        call_command("laaffic_audit_verify", "--anchor", anchor)
