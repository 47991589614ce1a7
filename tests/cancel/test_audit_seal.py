"""An open cancel attempt is sealed from its first write: the app settles, finishes and
links only a row that still matches its seal."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission, expire, finish
from laaffic_recall.checks import check_seals
from laaffic_recall.models import BrokenSealError, CancelAttempt, CancelType, Outcome
from laaffic_recall.verify import broken_seals, verify_chain
from tests.support.audit import CHAIN_KEY, raw_sql
from tests.support.mirror import make_task
from tests.support.vendor import (
    CANCELLED,
    PENDING,
    TEST_SETTINGS,
    add_cancel_callback,
    add_detail,
    envelope,
)

pytestmark = pytest.mark.django_db

TABLE = CancelAttempt._meta.db_table


def opened(**fields) -> CancelAttempt:
    fields.setdefault("started_at", timezone.now())
    return CancelAttempt.objects.create(
        cancel_type=CancelType.TASK, target_id=12, task_key_id=12, username="ann", **fields
    )


def stored_seal(row: CancelAttempt) -> str:
    return CancelAttempt.objects.values_list("seal_mac", flat=True).get(pk=row.pk)


@pytest.mark.usefixtures("audit_chain_key")
def test_a_row_is_sealed_when_opened_and_sealed_again_while_it_stays_open(settings):
    settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "AUDIT_CHAIN_KEY": CHAIN_KEY}
    row = opened(started_at=timezone.now() - timedelta(hours=1))
    first = stored_seal(row)
    assert len(first) == 64 and broken_seals() == []

    expire([row])  # pending past STALE_ATTEMPT_SECONDS: unknown

    row.refresh_from_db()
    assert row.outcome == Outcome.UNKNOWN
    assert stored_seal(row) not in ("", first) and broken_seals() == []


@pytest.mark.usefixtures("audit_chain_key")
def test_the_service_does_not_finish_its_own_row_once_it_was_changed_in_sql(mocked_api, caplog):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)

    def tamper(request):
        raw_sql(f"UPDATE {TABLE} SET reason = 'approved by the director'")
        return (200, {}, json.dumps(envelope(None)))

    add_cancel_callback(mocked_api, 1, 12, tamper)
    add_detail(mocked_api, 12, CANCELLED)
    with caplog.at_level(logging.ERROR, logger="laaffic_recall"):
        report = service.cancel([CancelTarget.for_task(task)], Submission(username="ann"))

    assert report.results[0].recorded is False
    row = CancelAttempt.objects.get()
    assert (row.outcome, row.chain_seq) == (Outcome.PENDING, None)
    assert f"Cancel attempt {row.pk} does not match its seal" in caplog.text
    assert CHAIN_KEY not in caplog.text


@pytest.mark.usefixtures("audit_chain_key")
def test_a_row_changed_in_sql_cannot_be_finished_through_the_orm():
    row = opened()
    raw_sql(f"UPDATE {TABLE} SET username = 'director' WHERE id = %s", row.pk)

    with pytest.raises(BrokenSealError):
        finish(row, outcome=Outcome.SUCCEEDED)
    assert broken_seals() == [row.pk]


def test_without_a_key_rows_stay_unsealed_and_are_settled_as_they_are():
    row = opened(outcome=Outcome.UNKNOWN)
    raw_sql(f"UPDATE {TABLE} SET username = 'director' WHERE id = %s", row.pk)

    finish(row, outcome=Outcome.SUCCEEDED)

    row.refresh_from_db()
    assert (row.seal_mac, row.chain_seq, row.outcome) == ("", None, Outcome.SUCCEEDED)
    assert broken_seals() == []


@pytest.mark.usefixtures("audit_chain_key")
def test_a_system_check_names_open_rows_that_do_not_match_their_seal():
    opened()
    bad = opened(outcome=Outcome.UNKNOWN)
    raw_sql(f"UPDATE {TABLE} SET reason = 'x' WHERE id = %s", bad.pk)

    assert check_seals(databases=None) == []  # runs only when asked to read the database
    [warning] = check_seals(databases=["default"])

    assert warning.id == "laaffic_recall.W008"
    assert warning.msg.startswith(
        f"1 open cancel attempt(s) do not match their seal (first: {bad.pk})"
    )
    assert broken_seals() == [bad.pk]  # not the intact row
    call_command("check", "--database", "default")  # a warning: commands still run


@pytest.mark.usefixtures("audit_chain_key")
def test_seals_and_links_sign_the_values_as_the_database_stores_them():
    # An IPv4-mapped address is stored in Django's form, a key past 32 bits in the JSON body.
    row = opened(
        client_ip="::ffff:102:304",
        reason="  why\nnot  ",
        request_body={"type": 1, "id": 2**62},
    )
    assert broken_seals() == []

    finish(row, outcome=Outcome.SUCCEEDED, http_status=200, response_code=0, error_detail="é")

    row.refresh_from_db()
    assert row.chain_seq == 1
    assert verify_chain(record=False).problem == ""
