"""One cancel per task at a time, whatever its type, and none while one is in doubt.

A task is blocked while an attempt that concerns it is open: pending (in flight), or
unknown or stale pending (in doubt until a refresh of the task settles it). An attempt
concerns the task it is recorded on (``task_key_id``) and, for a cancel by parent task
id, every mirrored task of that parent. ``audit.open_attempt`` checks this under row
locks on the tasks and inserts its pending row in the same committed transaction; the
partial unique constraints on pending rows back it up in the database.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from django.db.models import Q

from .cancel_results import CancelBlocker
from .models import OPEN_OUTCOMES, CancelAttempt, CancelType, Outcome, RecallTask


class CancelBlocked(Exception):
    """Another attempt keeps the task from being cancelled now; nothing may be sent."""

    def __init__(self, existing: CancelAttempt):
        self.existing = existing
        self.blocker = CancelBlocker.of(existing)
        state = "in doubt" if self.blocker.in_doubt else "in flight"
        super().__init__(f"cancel attempt {existing.pk} of task {existing.task_key_id} {state}")

    @property
    def in_doubt(self) -> bool:
        return self.blocker.in_doubt


def parent_ids(task_keys: Collection[int]) -> list[int]:
    """The parent task ids of the mirrored tasks among ``task_keys``."""
    if not task_keys:
        return []
    return list(
        RecallTask.objects.filter(key_id__in=list(task_keys), parent_task_id__isnull=False)
        .values_list("parent_task_id", flat=True)
        .distinct()
    )


def concerning(task_keys: Collection[int], parents: Collection[int]) -> Q:
    """Attempts recorded on one of the tasks, or cancelling one of their parents."""
    condition = Q(task_key_id__in=list(task_keys))
    if parents:
        condition |= Q(cancel_type=CancelType.PARENT, target_id__in=list(parents))
    return condition


def blocking_attempt(
    cancel_type: int, target_id: int, task_keys: Collection[int]
) -> CancelAttempt | None:
    """The open attempt that blocks a new cancel of this target and its tasks, if any.

    One in flight is named first (wait for it); else one in doubt (refresh first).
    """
    condition = concerning(task_keys, parent_ids(task_keys)) | Q(
        cancel_type=cancel_type, target_id=target_id
    )
    rows = list(
        CancelAttempt.objects.filter(condition, outcome__in=list(OPEN_OUTCOMES)).order_by(
            "-started_at", "-id"
        )
    )
    live = [r for r in rows if r.effective_outcome == Outcome.PENDING]
    return (live or rows or [None])[0]


def blockers(tasks: Iterable[RecallTask]) -> dict[int, CancelBlocker]:
    """For a confirmation page: the tasks (by key) a cancel would now be refused for."""
    tasks = list(tasks)
    keys = {t.key_id for t in tasks}
    parents = {t.parent_task_id for t in tasks if t.parent_task_id is not None}
    if not keys:
        return {}
    rows = CancelAttempt.objects.filter(
        concerning(keys, parents), outcome__in=list(OPEN_OUTCOMES)
    ).order_by("-started_at", "-id")
    found: dict[int, CancelBlocker] = {}
    for row in rows:
        blocker = CancelBlocker.of(row)
        hit = {row.task_key_id} & keys
        if row.cancel_type == CancelType.PARENT:
            hit |= {t.key_id for t in tasks if t.parent_task_id == row.target_id}
        for key in hit:
            known = found.get(key)
            if known is None or (known.in_doubt and not blocker.in_doubt):
                found[key] = blocker
    return found


def concerned_task_keys(attempt: CancelAttempt) -> set[int]:
    """The mirrored tasks an attempt concerns (its own, and a parent's other tasks)."""
    keys = {attempt.task_key_id} if attempt.task_key_id is not None else set()
    if attempt.cancel_type == CancelType.PARENT:
        keys.update(
            RecallTask.objects.filter(parent_task_id=attempt.target_id).values_list(
                "key_id", flat=True
            )
        )
    return keys
