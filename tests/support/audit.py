"""Rows of the cancel audit log, made directly (as the cancel service would leave them)."""

from __future__ import annotations

from django.db import OperationalError

from laaffic_recall.models import CancelAttempt, RecallTask

# The audit chain key of the tests that need a chain (the ``chain_key`` fixture sets it).
CHAIN_KEY = "test-audit-chain-key"


def attempt_on(task: RecallTask, cancel_type: int, target_id: int, outcome: str, **fields):
    """An attempt to cancel ``target_id`` (of ``cancel_type``), recorded on ``task``."""
    return CancelAttempt.objects.create(
        cancel_type=cancel_type,
        target_id=target_id,
        task=task,
        task_key_id=task.key_id,
        outcome=outcome,
        **fields,
    )


def refuse_attempt_updates(execute, sql, params, many, context):
    """A database execute wrapper that fails every UPDATE of the audit log ("disk full"),
    as when the database breaks after the request was sent: use it with
    ``connection.execute_wrapper(refuse_attempt_updates)``."""
    if sql.lstrip().upper().startswith("UPDATE") and "cancelattempt" in sql:
        raise OperationalError("disk full")
    return execute(sql, params, many, context)
