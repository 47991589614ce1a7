"""The cancel service refuses to run inside a caller's transaction.

Its promise, "the audit row is committed before the request leaves", cannot hold inside
an outer ``atomic()`` (the row would be a savepoint, rolled back with the caller), so it
fails loudly before anything is read, written or sent. A test case's own transaction
(pytest-django's ``django_db``) is not the caller's and is allowed.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from laaffic_recall.cancel import CancelInTransactionError, CancelTarget, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.models import CancelAttempt
from tests.support.mirror import make_task


def run_inside_atomic(task):
    with transaction.atomic():
        return service.cancel([CancelTarget.for_task(task)], Submission(username="host"))


@pytest.mark.django_db
def test_inside_a_callers_atomic_block_nothing_is_read_written_or_sent(mocked_api):
    task = make_task(12)

    with pytest.raises(CancelInTransactionError) as info:
        run_inside_atomic(task)

    assert "transaction" in str(info.value)
    assert len(mocked_api.calls) == 0
    assert CancelAttempt.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_host_transaction_is_refused_outside_test_cases_too(mocked_api):
    task = make_task(12)
    with pytest.raises(CancelInTransactionError):
        run_inside_atomic(task)
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0
