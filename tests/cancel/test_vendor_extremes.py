"""Whatever LAAFFIC answers, the audit row of a sent cancel is finished, never left pending."""

from __future__ import annotations

import pytest

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.models import TEXT_MAX, CancelAttempt, CancelType, Outcome
from tests.support.mirror import make_task
from tests.support.vendor import PENDING, add_cancel, add_detail

pytestmark = pytest.mark.django_db


def cancel_answered(mocked_api, **answer):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, **answer)
    add_detail(mocked_api, 12, PENDING)
    report = service.cancel([CancelTarget.for_task(task)], Submission(username="agent"))
    return report.results[0], CancelAttempt.objects.get()


@pytest.mark.parametrize("code", [3_000_000_000, -3_000_000_000, 2**63 - 1, -(2**63)])
def test_an_unknown_code_beyond_32_bits_is_stored_verbatim(mocked_api, code):
    result, row = cancel_answered(mocked_api, json={"code": code, "msg": "weird"})

    assert (result.outcome, result.recorded) == (Outcome.REFUSED, True)
    assert (row.outcome, row.response_code, row.response_message) == (
        Outcome.REFUSED,
        code,
        "weird",
    )
    assert row.finished_at is not None
    assert row.request_body is not None  # it was sent, and LAAFFIC refused it


@pytest.mark.parametrize("code", [2**63, -(2**63) - 1, 10**30])
def test_a_code_beyond_64_bits_is_kept_in_the_detail_and_the_row_still_finished(mocked_api, code):
    result, row = cancel_answered(mocked_api, json={"code": code, "msg": "weirder"})

    assert (result.outcome, result.recorded, result.response_code) == (
        Outcome.REFUSED,
        True,
        code,
    )
    assert (row.outcome, row.response_code) == (Outcome.REFUSED, None)
    assert str(code) in row.error_detail
    assert row.finished_at is not None
    assert row.request_body is not None  # it was sent, and LAAFFIC refused it
    assert (result.outcome, result.response_code) == (Outcome.REFUSED, code)


def test_a_huge_vendor_message_is_capped_and_the_row_finished(mocked_api):
    message = "x" * 200_000
    result, row = cancel_answered(mocked_api, json={"code": -99, "msg": message})

    assert result.recorded and row.outcome == Outcome.REFUSED
    assert row.response_message == message[:TEXT_MAX]
    assert len(row.error_detail) <= TEXT_MAX


def test_long_texts_are_capped_by_the_model_whoever_writes_them():
    row = CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=12,
        outcome=Outcome.FAILED,
        response_message="m" * (TEXT_MAX + 5),
        error_detail="e" * (TEXT_MAX + 5),
        reason="r" * (TEXT_MAX + 5),
    )
    row.refresh_from_db()
    assert (len(row.response_message), len(row.error_detail), len(row.reason)) == (
        TEXT_MAX,
        TEXT_MAX,
        TEXT_MAX,
    )
