"""When a task was last read from LAAFFIC: one clock for the task page and the task list.

A sync writes a task's row only when LAAFFIC shows something new, so the row's own times
say when it last changed. The task was also read by every successful sync whose window
held its creation time (the list's "Last sync"), and by each "Refresh from LAAFFIC",
which stamps ``synced_at``. The latest of these is when the task was last read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..models import RecallTask, SyncRun
from ..sync.runs import last_success


@dataclass(frozen=True)
class TaskReading:
    """The last read of one task: when, and whether it was the mirror's sync that read it
    (then ``at`` is the list's "Last sync")."""

    at: datetime
    by_sync: bool


def last_read(task: RecallTask) -> TaskReading:
    own = max(t for t in (task.synced_at, task.detail_synced_at) if t is not None)
    run = _sync_that_read(task)
    if run is not None and run.finished_at is not None and run.finished_at >= own:
        return TaskReading(run.finished_at, by_sync=True)
    return TaskReading(own, by_sync=False)


def _sync_that_read(task: RecallTask) -> SyncRun | None:
    """The last successful sync, if its window held the task's creation time."""
    run = last_success()
    created = task.created_at_remote
    if run is None or created is None or run.window_start is None or run.window_end is None:
        return None
    return run if run.window_start <= created <= run.window_end else None
