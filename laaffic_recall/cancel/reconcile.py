"""Settle cancels left in doubt from what a sync of their task shows.

An attempt whose outcome is unknown, or that stayed pending past
``STALE_ATTEMPT_SECONDS`` (its worker most likely died), is settled by the next sync or
refresh of its task: ``on_task_synced`` receives ``task_synced``, which a sync sends for
every task with a cancel in doubt even when nothing changed, and costs nothing for a task
without one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import DatabaseError
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import (
    OPEN_OUTCOMES,
    AppendOnlyError,
    CancelAttempt,
    CancelType,
    Outcome,
    RecallNode,
    RecallTask,
    SettledBy,
    Status,
    status_label,
)
from ..signals import send_cancel_attempted
from .audit import concerned_task_keys, concerning, join_notes, settle_doubt

logger = logging.getLogger("laaffic_recall")

# Tasks whose cancel is running in this thread: see cancel_reading().
_cancelling: ContextVar[frozenset[int]] = ContextVar("laaffic_cancelling", default=frozenset())


@contextmanager
def cancel_reading(task_keys: Iterable[int]) -> Iterator[None]:
    """While a cancel reads and re-reads its own tasks, their syncs reconcile nothing.

    The cancel's pending attempt is then the only open attempt on them (opening it was
    refused otherwise, and it blocks any other), and it is neither unknown nor stale:
    the reconcile would only look and find nothing to settle (two queries per read).
    """
    token = _cancelling.set(_cancelling.get() | frozenset(task_keys))
    try:
        yield
    finally:
        _cancelling.reset(token)


def reconcile_task(task: RecallTask) -> list[CancelAttempt]:
    """Settle the task's unknown and stale pending attempts from its freshly synced state.

    Target Cancelled: the cancel took effect, the attempt becomes succeeded. Anything else
    (still Pending, or run since): it did not take effect, the attempt becomes failed.
    Both are marked ``confirmed_by_reread`` and explained in ``error_detail``.
    """
    rows = list(CancelAttempt.objects.unresolved().filter(task_key_id=task.key_id))
    if not rows:
        # Nothing to settle; clear a flag left behind only if no attempt is open at all
        # (one in flight right now, e.g. the cancel re-reading this very task, keeps it).
        parents = [task.parent_task_id] if task.parent_task_id is not None else []
        open_rows = CancelAttempt.objects.filter(
            concerning([task.key_id], parents), outcome__in=list(OPEN_OUTCOMES)
        )
        if not open_rows.exists():
            settle_doubt(task.key_id)
        return []
    node_keys = [r.target_id for r in rows if r.cancel_type == CancelType.NODE]
    node_status = dict(
        RecallNode.objects.filter(task=task, key_id__in=node_keys).values_list("key_id", "status")
    )
    resolved = []
    when = timezone.now().isoformat(timespec="seconds")
    for row in rows:
        if row.cancel_type == CancelType.NODE:
            state = node_status.get(row.target_id)
            if state is None and task.is_terminal:
                # The node is no longer listed, but the task has ended: a Cancelled task
                # means its rounds were stopped; any other end means they were not.
                state = task.status
        else:
            state = task.status
        if state is None:
            continue  # the node is no longer listed and the task runs on: wait for its end
        if state == Status.CANCELLED:
            row.outcome = Outcome.SUCCEEDED
            note = _("Settled by the sync at %(when)s: LAAFFIC shows it Cancelled.")
        else:
            row.outcome = Outcome.FAILED
            note = _(
                "Settled by the sync at %(when)s: LAAFFIC shows it %(status)s, so the "
                "cancel did not take effect."
            )
        row.error_detail = join_notes(
            row.error_detail, note % {"when": when, "status": status_label(state)}
        )
        row.confirmed_by_reread = True
        row.mirror_confirmed = True
        row.settled_by = SettledBy.SYNC
        row.settled_at = timezone.now()
        try:
            row.save()
        except AppendOnlyError:
            continue
        resolved.append(row)
    settle_doubt({task.key_id}.union(*(concerned_task_keys(r) for r in resolved)))
    for row in resolved:
        send_cancel_attempted(row)
    return resolved


def on_task_synced(sender: Any, task: RecallTask, **kwargs: Any) -> None:
    """``task_synced`` receiver: reconcile open attempts; free for tasks without one."""
    if not getattr(task, "cancel_in_doubt", False) or task.key_id in _cancelling.get():
        return
    try:
        reconcile_task(task)
    except (DatabaseError, AppendOnlyError):
        logger.exception("Could not reconcile the cancel attempts of task %s", task.key_id)
