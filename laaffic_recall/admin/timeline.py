"""The task page's timeline: what LAAFFIC showed of the task and what was asked of it,
newest first. The template words each event; this module only puts them in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..models import CancelAttempt, RecallTask
from .clock import TaskReading


@dataclass(frozen=True)
class Event:
    """One line of the timeline. ``kind``: "created" (at LAAFFIC), "changed" (the read
    that stored the task as it is now), "read" (the last read, which found no change), or
    "cancel" (an attempt, with ``attempt``)."""

    at: datetime
    kind: str
    attempt: CancelAttempt | None = None


def task_timeline(
    task: RecallTask, reading: TaskReading, attempts: list[CancelAttempt]
) -> list[Event]:
    events = [Event(a.started_at, "cancel", a) for a in attempts]
    changed = task.detail_synced_at
    if changed is not None:
        events.append(Event(changed, "changed"))
    if changed is None or reading.at > changed:
        events.append(Event(reading.at, "read"))
    if task.created_at_remote is not None:
        events.append(Event(task.created_at_remote, "created"))
    order = {"read": 0, "changed": 1, "cancel": 2, "created": 3}
    return sorted(events, key=lambda e: (e.at, -order[e.kind]), reverse=True)
