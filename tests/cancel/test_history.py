"""Each cancel that changed a task is also an entry of Django admin's history on its task;
one that changed nothing is not listed there as "Changed"."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.urls import reverse

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.models import CancelAttempt, Outcome
from laaffic_recall.sync import service as sync
from tests.support.mirror import make_task
from tests.support.vendor import CANCELLED, IN_PROGRESS, PENDING, add_cancel, add_detail

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():
    return get_user_model().objects.create_user("agent", is_staff=True)


def cancel(task, user) -> CancelAttempt:
    service.cancel([CancelTarget.for_task(task)], Submission(user=user, username=user.username))
    return CancelAttempt.objects.order_by("-id").first()


def entries(task) -> list[tuple[str, int, str]]:
    return [
        (e.user.username, e.action_flag, e.change_message)
        for e in LogEntry.objects.filter(object_id=str(task.pk)).order_by("id")
    ]


def test_a_successful_cancel_is_in_the_tasks_history_with_its_outcome(
    mocked_api, agent, admin_client, client
):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)

    cancel(task, agent)

    assert entries(task) == [
        ("agent", CHANGE, "Cancel (Whole task (by recall key)) of 12: Succeeded.")
    ]
    history = admin_client.get(reverse("admin:laaffic_recall_recalltask_history", args=[task.pk]))
    assert "Cancel (Whole task (by recall key)) of 12: Succeeded." in history.content.decode()
    client.force_login(agent)
    recent = client.get(reverse("admin:index")).content.decode()
    assert "#12 Campaign 12" in recent.split("My actions")[1]  # the agent's "Recent actions"


def test_an_attempt_that_changed_nothing_is_not_a_change_in_the_history(mocked_api, agent, client):
    task = make_task(12, status=PENDING)
    add_detail(mocked_api, 12, IN_PROGRESS)
    cancel(task, agent)
    assert CancelAttempt.objects.get().outcome == Outcome.SKIPPED
    assert entries(task) == []
    client.force_login(agent)
    recent = client.get(reverse("admin:index")).content.decode()
    assert "Changed:" not in recent and "#12 Campaign 12" not in recent


def test_an_unknown_outcome_is_in_the_history_once_settled_as_succeeded(mocked_api, agent):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body="<html>502</html>", status=502)
    add_detail(mocked_api, 12, PENDING)
    cancel(task, agent)

    add_detail(mocked_api, 12, CANCELLED)
    sync.sync_task_details([12])

    assert [message for _user, _flag, message in entries(task)] == [
        "Cancel (Whole task (by recall key)) of 12: Succeeded. Settled by re-reading the "
        "task from LAAFFIC.",
    ]


def test_no_entry_without_a_user(mocked_api):
    task = make_task(12, status=PENDING)
    add_detail(mocked_api, 12, IN_PROGRESS)
    service.cancel([CancelTarget.for_task(task)], Submission(username="script"))
    assert CancelAttempt.objects.get().outcome == Outcome.SKIPPED
    assert not LogEntry.objects.exists()


def test_a_history_that_cannot_be_written_never_breaks_the_cancel(
    mocked_api, agent, monkeypatch, caplog
):
    def broken(*args, **kwargs):
        raise DatabaseError("log table gone")

    monkeypatch.setattr(LogEntry.objects, "create", broken)
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)
    attempt = cancel(task, agent)
    assert attempt.outcome == Outcome.SUCCEEDED
    assert "Could not write the admin history" in caplog.text
