"""ACTION_TIME_BUDGET: one action starts no new cancel once its budget is spent; the
targets not started are recorded as not sent and named, so the agent knows which to retry."""

from __future__ import annotations

import pytest

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.conf import app_settings
from laaffic_recall.models import CancelAttempt, NotSent, Outcome
from tests.support.admin import TASKS, last_message
from tests.support.audit import message
from tests.support.mirror import make_task
from tests.support.vendor import CANCELLED, PENDING, add_cancel, add_detail, calls_to, sent_bodies

pytestmark = pytest.mark.django_db


def test_the_default_budget_is_sixty_seconds():
    assert app_settings.ACTION_TIME_BUDGET == 60.0


def test_a_spent_budget_starts_the_first_target_only_and_records_the_rest(mocked_api, settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "ACTION_TIME_BUDGET": 0}
    tasks = [make_task(key) for key in (12, 13, 14)]
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)

    report = service.cancel([CancelTarget.for_task(t) for t in tasks], Submission())

    assert sent_bodies(mocked_api) == [{"type": 1, "id": 12}]
    outcomes = {r.target.target_id: r for r in report.results}
    assert outcomes[12].outcome == Outcome.SUCCEEDED
    for key in (13, 14):
        assert outcomes[key].outcome == Outcome.SKIPPED and outcomes[key].not_started
    for row in CancelAttempt.objects.filter(target_id__in=[13, 14]):
        assert (row.not_sent, row.error_detail) == (NotSent.BUDGET, "")
        assert message(row, "en") == (
            "Nothing sent: the action ran out of time before this one; select it and try again."
        )
        chinese = "未发送：此操作在处理到这一项之前已用完时间；请选中它再试一次。"  # noqa: RUF001
        assert message(row, "zh-hans") == chinese


def test_the_agent_is_told_which_targets_to_retry(mocked_api, agent_client, settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "ACTION_TIME_BUDGET": 0}
    first, second = make_task(12), make_task(13)
    add_detail(mocked_api, 12, PENDING)  # ordered newest first: same time, higher key first
    add_detail(mocked_api, 13, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_cancel(mocked_api, 1, 13)
    add_detail(mocked_api, 12, CANCELLED)
    add_detail(mocked_api, 13, CANCELLED)

    response = agent_client.post(
        TASKS,
        {"action": "cancel_tasks", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )

    assert len(calls_to(mocked_api, "cancel")) == 1
    _level, text = last_message(response)
    assert text.startswith('<span class="laaffic-cancel-headline">Stopped 1 recall task. 1 not')
    assert "Not stopped: the action ran out of time before this one; select it and try" in text
