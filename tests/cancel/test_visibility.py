"""The cancel service keeps to what the submitter may see (``Submission.visible``): right
before sending, every task the cancel would stop is checked against it, and a cancel that
would stop a task outside it is refused, recorded, and names no such task."""

from __future__ import annotations

import json

import pytest

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.models import CancelAttempt, NotSent, Outcome, RecallTask
from tests.support.audit import message
from tests.support.mirror import make_task
from tests.support.vendor import (
    PENDING,
    add_cancel,
    add_detail,
    api_url,
    calls_to,
    detail_data,
    envelope,
    signed,
)

pytestmark = pytest.mark.django_db

PARENT = 500
HIDDEN_KEY = 7013


def team_a(username: str = "agent") -> Submission:
    return Submission(
        username=username, visible=RecallTask.objects.filter(task_name__startswith="Team A")
    )


def mirrors_a_hidden_sibling_while_reading(mocked_api) -> None:
    """The fresh read of task 12 answers Pending; meanwhile a sync mirrors a task of the
    same parent that belongs to another team."""

    def detail(request):
        if not RecallTask.objects.filter(key_id=HIDDEN_KEY).exists():
            make_task(HIDDEN_KEY, parent_task_id=PARENT, task_name="Team B secret")
        return 200, {}, json.dumps(envelope(detail_data(12, PENDING)))

    mocked_api.add_callback("POST", api_url("queryDetail"), callback=detail, match=[signed])
    add_cancel(mocked_api, 2, PARENT)


def test_a_task_of_the_parent_mirrored_after_the_lookup_is_checked_before_sending(mocked_api):
    mine = make_task(12, parent_task_id=PARENT, task_name="Team A reminder")
    mirrors_a_hidden_sibling_while_reading(mocked_api)

    report = service.cancel([CancelTarget.for_parent(PARENT, [mine])], team_a())

    assert calls_to(mocked_api, "cancel") == []
    [result] = report.results
    assert result.outcome == Outcome.REFUSED and result.hidden
    assert str(HIDDEN_KEY) not in result.detail
    row = CancelAttempt.objects.get()
    assert row.outcome == Outcome.REFUSED and row.request_body is None
    assert row.task_key_id == 12
    assert (row.not_sent, row.error_detail) == (NotSent.HIDDEN, "")
    assert message(row) == (
        f"Not sent by this app: parent task {PARENT} has recall tasks that agent may not "
        "see; a cancel by parent task id would stop them too."
    )


def test_without_a_visibility_rule_the_same_cancel_is_sent(mocked_api):
    mine = make_task(12, parent_task_id=PARENT, task_name="Team A reminder")
    mirrors_a_hidden_sibling_while_reading(mocked_api)
    add_detail(mocked_api, 12, PENDING)
    add_detail(mocked_api, HIDDEN_KEY, PENDING)

    service.cancel([CancelTarget.for_parent(PARENT, [mine])], Submission(username="cron"))

    assert len(calls_to(mocked_api, "cancel")) == 1


def test_a_task_cancel_of_a_task_outside_the_rule_is_refused_before_any_read(mocked_api):
    other = make_task(13, task_name="Team B reminder")

    report = service.cancel([CancelTarget.for_task(other)], team_a())

    assert calls_to(mocked_api, "queryDetail") == calls_to(mocked_api, "cancel") == []
    [result] = report.results
    assert result.outcome == Outcome.REFUSED and result.hidden
    row = CancelAttempt.objects.get()
    assert row.outcome == Outcome.REFUSED and row.task_key_id is None
    assert (row.not_sent, row.error_detail) == (NotSent.HIDDEN, "")
    assert message(row) == "Not sent by this app: agent may not see this recall task."
