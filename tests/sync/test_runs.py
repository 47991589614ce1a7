"""Every sync is recorded as a ``SyncRun``; old runs are pruned; the lock's lease."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from laaffic_recall.client.errors import ConfigurationError
from laaffic_recall.models import RecallTask, SyncLock, SyncRun, SyncTrigger
from laaffic_recall.sync import sync_recent, sync_task_details, sync_tasks
from laaffic_recall.sync.runs import SyncLease, last_run, last_success
from tests.support.admin import TASKS
from tests.support.vendor import SECRET

pytestmark = pytest.mark.django_db


def recent(fake, *keys: int, status: int = 1) -> None:
    now = timezone.now().replace(tzinfo=None)
    for key in keys:
        fake.add_task(key, created=now - timedelta(hours=key), status=status)


def test_a_sync_is_recorded_with_its_window_counts_and_trigger(fake):
    recent(fake, 1, 2)
    end = timezone.now()
    sync_tasks(end - timedelta(days=1), end)

    run = SyncRun.objects.get()
    assert run.trigger == SyncTrigger.COMMAND
    assert run.window_start == end - timedelta(days=1) and run.window_end == end
    assert (run.tasks_seen, run.tasks_created, run.details_fetched) == (2, 2, 2)
    assert run.nodes_written == 6 and run.pages_fetched == 1
    assert run.finished_at >= run.started_at and run.ok
    assert run.failures == "" and run.error == ""


def test_failures_are_recorded_as_text_and_the_run_is_not_ok(fake):
    recent(fake, 1, 2)
    fake.fail_detail(2, code=-22, msg="parameter exception")
    sync_recent(days=1)

    run = SyncRun.objects.get()
    assert run.trigger == SyncTrigger.SCHEDULE
    assert run.failure_count == 1 and not run.ok
    assert run.failures.startswith("detail 2: ") and "parameter exception" in run.failures
    assert last_success() is None


def test_the_last_success_is_the_last_run_given_when_it_succeeded(fake, django_assert_num_queries):
    recent(fake, 1, 2)
    sync_recent(days=1)
    succeeded = last_run()
    with django_assert_num_queries(0):
        assert last_success(succeeded) == succeeded

    fake.fail_detail(2, code=-22, msg="parameter exception")
    sync_recent(days=1)
    failed = last_run()
    assert failed != succeeded
    with django_assert_num_queries(1):
        assert last_success(failed) == succeeded


def test_a_run_that_cannot_start_is_recorded_with_its_error_and_no_secret(fake, settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "API_KEY": ""}
    with pytest.raises(ConfigurationError):
        sync_task_details([1])

    run = SyncRun.objects.get()
    assert run.finished_at is not None and not run.ok
    assert "API_KEY" in run.error and SECRET not in run.error


def test_the_admin_refresh_is_recorded_as_such(admin_client, fake):
    recent(fake, 1)
    sync_tasks(timezone.now() - timedelta(days=1), timezone.now())
    task = RecallTask.objects.get(key_id=1)
    admin_client.post(
        TASKS,
        {"action": "refresh_tasks", "index": "0", "_selected_action": [str(task.pk)]},
    )
    assert list(SyncRun.objects.values_list("trigger", flat=True)) == ["refresh", "command"]


def test_runs_older_than_the_kept_days_are_pruned_by_the_sync(fake, settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "SYNC_RUNS_KEEP_DAYS": 3}
    now = timezone.now()
    old = SyncRun.objects.create(trigger="command", started_at=now - timedelta(days=4))
    kept = SyncRun.objects.create(trigger="command", started_at=now - timedelta(days=2))
    recent(fake, 1)
    sync_recent(days=1)
    assert not SyncRun.objects.filter(pk=old.pk).exists()
    assert SyncRun.objects.filter(pk=kept.pk).exists()
    assert SyncRun.objects.count() == 2


# --------------------------------------------------------------------------- the lock


def test_one_lease_at_a_time_and_free_again_once_released():
    first, second = SyncLease("one"), SyncLease("two")
    assert first.acquire()
    assert not second.acquire()
    assert second.current().holder == "one"
    second.release()  # not held: frees nothing
    assert SyncLock.objects.get().holder == "one"
    first.release()
    assert second.acquire()
    assert SyncLock.objects.get().holder == "two"


def test_an_expired_lease_is_taken_over(settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "SYNC_LOCK_SECONDS": 60}
    SyncLock.objects.create(
        name="laaffic_sync", holder="dead", expires_at=timezone.now() - timedelta(seconds=1)
    )
    lease = SyncLease("alive")
    taken = timezone.now()
    assert lease.acquire()
    lock = SyncLock.objects.get()
    assert lock.holder == "alive"
    assert lock.expires_at >= taken + timedelta(seconds=60)
    # The dead scheduler, back to life, cannot free the new holder's lease.
    SyncLease("dead").release()
    assert SyncLock.objects.get().holder == "alive"


def test_renewing_pushes_the_end_of_the_lease(settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "SYNC_LOCK_SECONDS": 600}
    lease = SyncLease("one")
    assert lease.acquire()
    SyncLock.objects.update(expires_at=timezone.now() + timedelta(seconds=5))
    renewed = timezone.now()
    lease.renew(force=True)
    assert SyncLock.objects.get().expires_at >= renewed + timedelta(seconds=600)
