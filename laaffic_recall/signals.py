"""Signals a host project (and the app itself) can listen to, and the app's senders.

- ``task_synced(sender=RecallTask, task=RecallTask)``: a task's row or node list was just
  changed from LAAFFIC's answer (by a sync, a refresh, or a cancel's re-read), or the task
  has a cancel in doubt that the answer may settle. A task read again unchanged is not
  announced.
- ``cancel_attempted(sender=CancelAttempt, attempt=CancelAttempt)``: an attempt finished
  (succeeded, refused, failed, unknown or skipped), e.g. to notify a chat or ticket system.

What they announce is already stored, so a receiver that fails (a host project's, say) is
logged and undoes nothing for the caller, nor keeps the other receivers from running (the
app's own among them: the reconcile of cancels in doubt, the admin's history).
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

from .models import CancelAttempt, RecallTask

logger = logging.getLogger("laaffic_recall")

task_synced = Signal()
cancel_attempted = Signal()


def send_task_synced(task: RecallTask) -> None:
    _send(task_synced, "task_synced", f"task {task.key_id}", sender=RecallTask, task=task)


def send_cancel_attempted(attempt: CancelAttempt) -> None:
    _send(
        cancel_attempted,
        "cancel_attempted",
        f"cancel attempt {attempt.pk}",
        sender=CancelAttempt,
        attempt=attempt,
    )


def _send(signal: Signal, name: str, about: str, **kwargs: Any) -> None:
    for receiver, result in signal.send_robust(**kwargs):
        if isinstance(result, Exception):
            logger.error(
                "A %s receiver (%s) failed for %s",
                name,
                _receiver_name(receiver),
                about,
                exc_info=result,
            )


def _receiver_name(receiver: Any) -> str:
    name = getattr(receiver, "__qualname__", None)
    module = getattr(receiver, "__module__", None)
    return f"{module}.{name}" if name and module else repr(receiver)
