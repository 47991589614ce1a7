"""Each sync recorded as a ``SyncRun``, and the lease that keeps two schedulers apart.

A run's row is written when it starts (so a run that dies still shows) and finished when
it ends, with its counts, its failures as text, or the error that ended it. The sync also
prunes runs older than ``SYNC_RUNS_KEEP_DAYS``. The lock is one ``SyncLock`` row taken by
an insert or by a conditional update of an expired lease: atomic on SQLite and PostgreSQL
alike, and freed by itself ``SYNC_LOCK_SECONDS`` after a scheduler died holding it.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..conf import app_settings
from ..models import SyncLock, SyncRun, SyncTrigger
from .results import SyncSummary

LOCK_NAME = "laaffic_sync"
FAILURES_TEXT_MAX = 20_000


def run_recorded(
    trigger: str,
    window: tuple[datetime, datetime] | None,
    body: Callable[[], SyncSummary],
    next_due: datetime | None = None,
) -> SyncSummary:
    """Run ``body`` (one sync) as a recorded ``SyncRun``; its error is recorded and re-raised."""
    start, end = (_storable(t) for t in window) if window else (None, None)
    run = SyncRun.objects.create(
        trigger=SyncTrigger(trigger), window_start=start, window_end=end, next_due_at=next_due
    )
    try:
        summary = body()
    except BaseException as exc:
        run.error = _error_text(exc)
        run.finished_at = timezone.now()
        run.save(update_fields=["error", "finished_at"])
        raise
    finish(run, summary)
    prune()
    return summary


def _storable(value: datetime) -> datetime:
    """A window's end as the database takes it: aware under USE_TZ, naive (in the current
    time zone) without it."""
    if settings.USE_TZ and timezone.is_naive(value):
        return timezone.make_aware(value)
    if not settings.USE_TZ and timezone.is_aware(value):
        return timezone.make_naive(value)
    return value


def finish(run: SyncRun, summary: SyncSummary) -> None:
    run.finished_at = timezone.now()
    run.tasks_seen = summary.tasks_seen
    run.tasks_created = summary.tasks_created
    run.tasks_updated = summary.tasks_updated
    run.nodes_written = summary.nodes_created + summary.nodes_updated + summary.nodes_removed
    run.details_fetched = summary.details_fetched
    run.pages_fetched = summary.pages_fetched
    run.failure_count = len(summary.failures)
    run.failures = "\n".join(str(f) for f in summary.failures)[:FAILURES_TEXT_MAX]
    run.save()


def _error_text(exc: BaseException) -> str:
    """The error as the client words it (its texts carry no secrets), else its type."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        text = type(exc).__name__
    return text[:2000]


def prune(now: datetime | None = None) -> int:
    """Delete runs older than ``SYNC_RUNS_KEEP_DAYS``; returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=app_settings.SYNC_RUNS_KEEP_DAYS)
    deleted, _detail = SyncRun.objects.filter(started_at__lt=cutoff).delete()
    return deleted


def schedule_next(run_began: datetime, due: datetime) -> None:
    """Note on the mirror syncs a scheduler started since ``run_began`` when it syncs next."""
    mirror_syncs().filter(started_at__gte=run_began).update(next_due_at=due)


def mirror_syncs():
    """The runs that sync the mirror; a refresh of a few tasks from the admin is not one."""
    return SyncRun.objects.exclude(trigger=SyncTrigger.REFRESH)


def last_run() -> SyncRun | None:
    return mirror_syncs().order_by("-started_at", "-id").first()


def last_success(last: SyncRun | None = None) -> SyncRun | None:
    """The last mirror sync that finished without a failure; ``last``, the last run
    (``last_run()``), when it is one, so that a caller holding it saves the query."""
    if last is not None and succeeded(last):
        return last
    return (
        mirror_syncs()
        .filter(finished_at__isnull=False, failure_count=0, error="")
        .order_by("-started_at", "-id")
        .first()
    )


def succeeded(run: SyncRun) -> bool:
    """Whether a run finished without a failure (``last_success``'s filter)."""
    return run.finished_at is not None and run.failure_count == 0 and run.error == ""


# --------------------------------------------------------------------------- the lock


def new_holder() -> str:
    """Host, process and a token unique to the lease, as the lock's row shows it."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SyncLease:
    """The sync lock held by one process; ``acquire`` returns False when another has it."""

    def __init__(self, holder: str | None = None, name: str = LOCK_NAME):
        self.name = name
        self.holder = holder or new_holder()
        self.held = False
        self._renewed = 0.0

    def _expiry(self) -> datetime:
        return timezone.now() + timedelta(seconds=app_settings.SYNC_LOCK_SECONDS)

    def acquire(self) -> bool:
        now = timezone.now()
        taken = SyncLock.objects.filter(name=self.name, expires_at__lt=now).update(
            holder=self.holder, acquired_at=now, expires_at=self._expiry()
        )
        if not taken:
            try:
                with transaction.atomic():
                    SyncLock.objects.create(
                        name=self.name,
                        holder=self.holder,
                        acquired_at=now,
                        expires_at=self._expiry(),
                    )
            except IntegrityError:
                return False
        self.held = True
        self._renewed = time.monotonic()
        return True

    def renew(self, force: bool = False) -> None:
        """Push the lease's end further (at most every tenth of the lease, unless forced)."""
        if not self.held:
            return
        lease = app_settings.SYNC_LOCK_SECONDS
        if force or time.monotonic() - self._renewed >= lease / 10:
            SyncLock.objects.filter(name=self.name, holder=self.holder).update(
                expires_at=self._expiry()
            )
            self._renewed = time.monotonic()

    def release(self) -> None:
        if self.held:
            SyncLock.objects.filter(name=self.name, holder=self.holder).delete()
            self.held = False

    def current(self) -> SyncLock | None:
        """The lock's row as it stands (whoever holds it)."""
        return SyncLock.objects.filter(name=self.name).first()
