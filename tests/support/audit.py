"""Rows of the cancel audit log, made directly (as the cancel service would leave them)."""

from __future__ import annotations

from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.template.loader import render_to_string
from django.utils import timezone, translation

from laaffic_recall.guards import guards_lifted
from laaffic_recall.models import CancelAttempt, CancelType, Outcome, RecallTask
from laaffic_recall.verify import ANCHOR_PREFIX

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


BUSY_OUTCOMES = (Outcome.SUCCEEDED, Outcome.REFUSED, Outcome.FAILED)


def busy_day(task: RecallTask, username: str, reasons: list[str]) -> None:
    """The attempts a busy day leaves on ``task``: succeeded, refused and failed, each with
    a long message and one of ``reasons``."""
    for outcome, reason in zip(BUSY_OUTCOMES, reasons, strict=True):
        CancelAttempt.objects.create(
            cancel_type=CancelType.TASK,
            target_id=task.key_id,
            task=task,
            task_key_id=task.key_id,
            outcome=outcome,
            username=username,
            response_code=-18 if outcome == Outcome.REFUSED else 0,
            response_message="port program unusual, the task has already moved on " * 2,
            reason=reason,
        )


def finished(target_id: int = 12, outcome: str = Outcome.SUCCEEDED, **fields) -> CancelAttempt:
    """A finished attempt to cancel task ``target_id``, written as the cancel service does."""
    now = timezone.now()
    fields.setdefault("username", "ann")
    return CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=target_id,
        task_key_id=target_id,
        outcome=outcome,
        finished_at=now,
        duration=now - now,
        request_body={"type": 1, "id": target_id},
        response_message="success",
        **fields,
    )


def message(row: CancelAttempt, language: str = "en", limit: int = 300) -> str:
    """The row's message as the audit admin words it for a reader of ``language``."""
    context = {"attempt": row, "limit": limit}
    with translation.override(language):
        return render_to_string("admin/laaffic_recall/cancelattempt/message.html", context).strip()


def run_verify(capsys, *args: str) -> tuple[str, str | None]:
    """``laaffic_audit_verify`` with ``args``: (its stdout, the problem it raised or None)."""
    problem = None
    try:
        call_command("laaffic_audit_verify", *args)
    except CommandError as exc:
        if exc.returncode != 1:
            raise
        problem = str(exc)
    return capsys.readouterr().out, problem


def anchor_in(out: str) -> str:
    """The anchor line a run of ``laaffic_audit_verify`` printed."""
    return next(line for line in out.splitlines() if line.startswith(ANCHOR_PREFIX))


def refuse_attempt_updates(execute, sql, params, many, context):
    """A database execute wrapper that fails every UPDATE of the audit log ("disk full"),
    as when the database breaks after the request was sent: use it with
    ``connection.execute_wrapper(refuse_attempt_updates)``."""
    if sql.lstrip().upper().startswith("UPDATE") and "cancelattempt" in sql:
        raise OperationalError("disk full")
    return execute(sql, params, many, context)


def raw_sql(statement: str, *params) -> None:
    """Run SQL as the database's owner would, past the audit log's triggers."""
    with guards_lifted(connection), connection.cursor() as cursor:
        cursor.execute(statement, params)
