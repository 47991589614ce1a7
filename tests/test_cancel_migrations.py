"""Migration 0006 applies over an existing log with two cancels of one task in flight."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

APP = "laaffic_recall"
BEFORE = (APP, "0005_cancelattempt_append_only_base_manager")
AFTER = (APP, "0006_cancelattempt_one_inflight_cancel_per_task")


@pytest.mark.django_db(transaction=True)
def test_older_pending_rows_of_a_task_become_unknown_before_the_constraint():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate([BEFORE])
        apps = executor.loader.project_state([BEFORE]).apps
        attempt = apps.get_model(APP, "CancelAttempt")
        task = apps.get_model(APP, "RecallTask")
        task.objects.create(key_id=12, status=0)
        now = timezone.now()
        older = attempt.objects.create(
            cancel_type=1, target_id=12, task_key_id=12, started_at=now - timedelta(minutes=1)
        )
        newer = attempt.objects.create(cancel_type=3, target_id=101, task_key_id=12)
        alone = attempt.objects.create(cancel_type=1, target_id=13, task_key_id=13)

        executor = MigrationExecutor(connection)
        executor.migrate([AFTER])

        outcomes = dict(attempt.objects.values_list("pk", "outcome"))
        assert outcomes == {older.pk: "unknown", newer.pk: "pending", alone.pk: "pending"}
        assert "one cancel per task" in attempt.objects.get(pk=older.pk).error_detail
        assert task.objects.get(key_id=12).cancel_in_doubt is True
    finally:
        MigrationExecutor(connection).migrate(latest)
