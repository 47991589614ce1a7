"""What one cancel costs the database: the confirmation and the confirmed POST read only
what they use (no sync state, no reconcile of the cancel's own reads), in a fixed number
of queries that does not grow with the tasks or attempts stored."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from laaffic_recall.cancel import reconcile
from laaffic_recall.models import CancelAttempt, Outcome, SyncRun
from laaffic_recall.sync.service import sync_task_details
from tests.support.admin import TASKS
from tests.support.audit import attempt_on
from tests.support.mirror import make_task
from tests.support.vendor import CANCELLED, PENDING, add_cancel, add_detail

pytestmark = pytest.mark.django_db

# Measured inside a test's transaction (savepoints instead of transactions): the
# confirmation 9 (11 while it read the sync state it does not show), the confirmed cancel
# of one task, its row sealed and chained, 31 on SQLite and 32 on PostgreSQL, whose audit
# chain takes an advisory lock. Of the 31: the request 4 (session, user, permissions), the
# change list 4 (its count in a savepoint, the selection), the service's check that it
# runs in no caller's transaction 2 (a savepoint, only inside a test's), the attempt
# opened 7 (the tasks locked with their parent ids, the open attempts that would block it,
# the row inserted, its seal, the tasks flagged in doubt, the savepoint), the attempt
# closed 10 in one savepoint (what was read, before and after the request, stored: the
# task locked and written, its nodes read and written; the row finished: its stored values
# under lock, the last link, one UPDATE writing the outcome and the link; the doubt
# settled on the task already locked), the admin history 4 (its content type read once per
# process). The result is worded from the tasks as stored: nothing is read back. Outside a
# test, on SQLite without a chain key (bench/profile_cancel.py), the same confirm runs 24
# queries.
CONFIRMATION_QUERIES = 9


def confirm_queries() -> int:
    return 32 if connection.vendor == "postgresql" else 31


def confirm(agent_client, task):
    return agent_client.post(
        TASKS + "?status__exact=0",
        {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"},
    )


def test_the_confirmation_reads_neither_the_sync_state_nor_more_than_it_shows(
    mocked_api, agent_client, django_assert_max_num_queries
):
    task = make_task(12)
    with django_assert_max_num_queries(CONFIRMATION_QUERIES) as captured:
        response = agent_client.post(
            TASKS + "?status__exact=0",
            {"action": "cancel_tasks", "index": 0, "_selected_action": [task.pk]},
        )
    assert response.status_code == 200 and "#12" in response.content.decode()
    tables = " ".join(q["sql"] for q in captured.captured_queries)
    assert SyncRun._meta.db_table not in tables


def test_the_task_list_still_says_when_the_last_sync_ran(agent_client):
    with CaptureQueriesContext(connection) as captured:
        response = agent_client.get(TASKS)
    assert "laaffic-freshness" in response.content.decode()
    assert SyncRun._meta.db_table in " ".join(q["sql"] for q in captured.captured_queries)


def test_a_confirmed_cancel_runs_a_fixed_number_of_queries(
    mocked_api, agent_client, audit_chain_key, django_assert_max_num_queries
):
    # Other tasks with finished attempts: none of it is read.
    for key in range(40, 60):
        attempt_on(make_task(key), 1, key, Outcome.SUCCEEDED)
    task = make_task(12, task_name="Spring")
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)

    with django_assert_max_num_queries(confirm_queries()) as captured:
        response = confirm(agent_client, task)

    assert response.status_code == 302
    assert CancelAttempt.objects.get(target_id=12).outcome == Outcome.SUCCEEDED
    assert SyncRun._meta.db_table not in " ".join(q["sql"] for q in captured.captured_queries)
    entry = LogEntry.objects.get()
    assert entry.object_id == str(task.pk) and entry.object_repr == "#12 Spring"


def test_the_cancels_own_reads_reconcile_nothing_but_a_sync_of_the_task_does(
    mocked_api, agent_client, monkeypatch
):
    reconciled = []
    original = reconcile.reconcile_task
    monkeypatch.setattr(
        reconcile, "reconcile_task", lambda task: reconciled.append(task.key_id) or original(task)
    )
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)

    confirm(agent_client, task)

    assert reconciled == []  # both reads ran while its own attempt was the open one
    attempt = CancelAttempt.objects.get()
    assert attempt.outcome == Outcome.SUCCEEDED
    task.refresh_from_db()
    assert task.cancel_in_doubt is False  # settled by the cancel itself

    # Outside a cancel, a sync of a task in doubt reconciles it as before.
    other = make_task(13, cancel_in_doubt=True)
    unknown = attempt_on(other, 1, 13, Outcome.UNKNOWN)
    add_detail(mocked_api, 13, CANCELLED)
    sync_task_details([13])
    assert reconciled == [13]
    unknown.refresh_from_db()
    assert unknown.outcome == Outcome.SUCCEEDED
