"""Mirror LAAFFIC auto-recall tasks and their node lists into the local models.

Details are read on ``SYNC_WORKERS`` threads (one client each) and written from the
calling thread only, in batches, so no database connection leaks from the workers. One
failing page, list record or detail is counted in the summary and the rest goes on; only
a configuration error, or a first call that no other can get past (this site's key, IP or
clock refused, or nothing listening at the address), ends a run early.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from ..client.errors import (
    ApiError,
    ConfigurationError,
    LaafficError,
    TransportError,
    vendor_code,
)
from ..client.printable import printable
from ..client.wire import TaskRecord, is_valid_id
from ..conf import app_settings, get_client
from ..models import SyncTrigger
from .fetcher import ClientFactory, DetailFetcher, Result
from .mirror import (
    DetailChanges,
    FetchedDetail,
    NodeChanges,
    RecordChanges,
    store_details,
    store_records,
    to_remote,
)
from .results import SyncFailure, SyncProgress, SyncSummary
from .runs import run_recorded

logger = logging.getLogger("laaffic_recall")

PAGE_SIZE = 100  # the API's maximum
DETAIL_BATCH = 100  # details written per transaction
MAX_PAGES_PER_WINDOW = 1000  # a guard against a server that never ends a window


@dataclass(frozen=True)
class Window:
    """One queryPage window: naive wall-clock times in REMOTE_TIMEZONE, both inclusive."""

    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M:%S}..{self.end:%Y-%m-%d %H:%M:%S}"


def _ceil_second(value: datetime) -> datetime:
    if value.microsecond:
        return value.replace(microsecond=0) + timedelta(seconds=1)
    return value


def split_window(start: datetime, end: datetime, hours: float | None = None) -> list[Window]:
    """``start`` up to (not including) ``end`` as remote windows of at most ``hours``.

    ``start`` and ``end`` are aware (naive means the current time zone). Windows do not
    overlap: each ends one second before the next begins, since the vendor's times have
    whole seconds and its ``endTime`` is inclusive.
    """
    hours = app_settings.SYNC_WINDOW_HOURS if hours is None else hours
    if hours <= 0:
        raise ValueError("SYNC_WINDOW_HOURS must be positive")
    # Both ends round up to whole seconds, so "until now" includes tasks created in the
    # current second and "the last 7 days" stays exactly 7 days long.
    first, stop = _ceil_second(to_remote(start)), _ceil_second(to_remote(end))
    if stop <= first:
        raise ValueError("the sync window is empty: it must start before it ends")
    step, second = timedelta(hours=hours), timedelta(seconds=1)
    windows, cursor = [], first
    while cursor < stop:
        upper = min(cursor + step, stop)
        windows.append(Window(cursor, upper - second))
        cursor = upper
    return windows


# --------------------------------------------------------------------------- the run


class _Run:
    """One sync: pages read and stored in this thread, details read by the fetcher's
    workers and stored here in batches, counts and failures gathered for the summary."""

    def __init__(
        self,
        workers: int | None,
        client_factory: ClientFactory | None,
        progress: Callable[[SyncProgress], None] | None,
    ):
        workers = app_settings.SYNC_WORKERS if workers is None else workers
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.factory = client_factory or get_client
        self.client = self.factory()  # fails fast on a configuration error
        self.fetcher = DetailFetcher(self.factory, workers)
        self.progress_callback = progress
        self.any_success = False
        self.seen: set[int] = set()
        self.created: set[int] = set()
        self.updated: set[int] = set()
        self.nodes = NodeChanges()
        self.failures: list[SyncFailure] = []
        self.details_fetched = self.details_done = 0
        self.pages_fetched = self.pages_done = self.pages_total = 0
        self.windows_done = self.windows_total = 0
        self.ready: list[FetchedDetail] = []

    # ---- outcome bookkeeping

    def fail(self, what: str, key: object, exc: Exception) -> None:
        """Count a failure, or re-raise it when the whole run cannot succeed: a configuration
        error at any time; before anything succeeded, a refusal for a fault of this site
        (key, IP, clock) or a refused connection (every other call would wait through its
        retries to be refused too)."""
        if isinstance(exc, ConfigurationError):
            raise exc
        if not self.any_success and (
            (isinstance(exc, ApiError) and vendor_code(exc.code).site_fault)
            or (isinstance(exc, TransportError) and exc.refused)
        ):
            raise exc
        if isinstance(exc, LaafficError):
            message = printable(str(exc))
            logger.warning("LAAFFIC sync: %s %s failed: %s", what, key, message)
        else:  # a database error or a bug: keep the traceback in the log
            message = printable(f"{type(exc).__name__}: {exc}")
            logger.warning("LAAFFIC sync: %s %s failed: %s", what, key, message, exc_info=exc)
        self.failures.append(SyncFailure(what, str(key), message))

    def report(self) -> None:
        if self.progress_callback:
            self.progress_callback(
                SyncProgress(
                    windows_done=self.windows_done,
                    windows_total=self.windows_total,
                    pages_done=self.pages_done,
                    pages_total=max(self.pages_total, self.pages_done),
                    details_done=self.details_done,
                    details_total=len(self.fetcher.submitted),
                )
            )

    def summary(self) -> SyncSummary:
        return SyncSummary(
            tasks_seen=len(self.seen),
            tasks_created=len(self.created),
            tasks_updated=len(self.updated - self.created),
            nodes_created=self.nodes.created,
            nodes_updated=self.nodes.updated,
            nodes_removed=self.nodes.removed,
            details_fetched=self.details_fetched,
            pages_fetched=self.pages_fetched,
            windows=self.windows_total,
            failures=tuple(self.failures),
        )

    # ---- list pages

    def sync_window(self, window: Window, task_name: str | None) -> None:
        current, pages = 1, 0
        while True:
            requested_at = timezone.now()
            try:
                page = self.client.query_page(
                    current, PAGE_SIZE, window.start, window.end, task_name
                )
            except Exception as exc:  # counted (or fatal, see fail); the run goes on
                self.fail("page", f"{window} page {current}", exc)
                self.pages_done += 1
                if current < pages:  # the rest of the window is still worth reading
                    current += 1
                    continue
                return
            self.any_success = True
            self.pages_fetched += 1
            self.pages_done += 1
            if page.pages > pages:
                self.pages_total += page.pages - pages
                pages = page.pages
            new = self.store_page(window, current, page.records, requested_at)
            self.report()
            self.collect(final=False)
            full = len(page.records) >= min(PAGE_SIZE, page.size or PAGE_SIZE)
            if not page.records or not full or (pages and current >= pages):
                return
            if not pages and not new:
                return  # no page count and nothing new: the server repeats itself
            if current >= MAX_PAGES_PER_WINDOW:
                self.failures.append(
                    SyncFailure(
                        "page", f"{window} page {current}", "too many pages; window not finished"
                    )
                )
                return
            current += 1

    def store_page(
        self, window: Window, current: int, records: list[TaskRecord], requested_at: datetime
    ) -> bool:
        """Upsert one page and queue its details; True when it held keys not seen before."""
        new = any(r.key_id not in self.seen for r in records)
        self.seen.update(r.key_id for r in records)
        try:
            changes = store_records(records, requested_at=requested_at)
        except Exception:
            # One bad record must not sink its page: store them one by one (a
            # configuration error then ends the run, see fail()).
            logger.info("LAAFFIC sync: %s page %s stored record by record", window, current)
            changes = self.store_one_by_one(records, requested_at)
        self.created |= changes.created
        self.updated |= changes.updated
        for key_id in sorted(changes.needs_detail):
            self.fetcher.submit(key_id)
        return new

    def store_one_by_one(self, records: list[TaskRecord], requested_at: datetime) -> RecordChanges:
        """Each record in its own transaction; one that fails is counted with its key (its
        row, if any, stays as it was and its detail is not read this time)."""
        latest = {r.key_id: r for r in records}  # duplicates: last wins, as in a batch
        created: set[int] = set()
        updated: set[int] = set()
        needs_detail: set[int] = set()
        for key_id, record in latest.items():
            try:
                changes = store_records([record], requested_at=requested_at)
            except Exception as exc:
                self.fail("task", key_id, exc)
                continue
            created |= changes.created
            updated |= changes.updated
            needs_detail |= changes.needs_detail
        return RecordChanges(frozenset(created), frozenset(updated), frozenset(needs_detail))

    # ---- details

    def collect(self, final: bool) -> None:
        """Write finished details in full batches; with ``final``, wait for all of them."""
        while True:
            while (result := self.fetcher.take(block=False)) is not None:
                self.receive(result)
            while len(self.ready) >= DETAIL_BATCH:
                self.write(self.ready[:DETAIL_BATCH])
                self.ready = self.ready[DETAIL_BATCH:]
            if not final:
                return
            if not self.fetcher.outstanding:
                if self.ready:
                    self.write(self.ready)
                    self.ready = []
                return
            self.receive(self.fetcher.take(block=True))

    def receive(self, result: Result) -> None:
        key_id, fetched, exc = result
        self.details_done += 1
        if exc is not None:
            self.fail("detail", key_id, exc)
        elif fetched is not None:
            self.any_success = True
            self.ready.append(fetched)
        self.report()

    def write(self, batch: list[FetchedDetail]) -> None:
        try:
            self.add(store_details(batch))
        except Exception:
            # One bad answer must not sink its batch: store them one by one (a
            # configuration error then ends the run, see fail()).
            for item in batch:
                try:
                    self.add(store_details([item]))
                except Exception as exc:
                    self.fail("detail", item.detail.key_id, exc)

    def add(self, changes: DetailChanges) -> None:
        self.details_fetched += len(changes.stored) + len(changes.stale)
        self.seen.update(t.key_id for t in changes.stored)
        self.seen.update(changes.stale)
        self.created |= changes.created
        self.updated |= changes.updated
        self.nodes += changes.nodes

    def close(self) -> None:
        self.fetcher.close()
        self.client.close()


def _run(
    body: Callable[[_Run], None],
    workers: int | None,
    client_factory: ClientFactory | None,
    progress: Callable[[SyncProgress], None] | None,
) -> SyncSummary:
    run = _Run(workers, client_factory, progress)
    try:
        body(run)
        run.collect(final=True)
    finally:
        run.close()
    summary = run.summary()
    logger.info(
        "LAAFFIC sync: %d tasks seen (%d created, %d updated), %d details, %d failures",
        summary.tasks_seen,
        summary.tasks_created,
        summary.tasks_updated,
        summary.details_fetched,
        len(summary.failures),
    )
    return summary


def _clean_keys(key_ids: Iterable[int]) -> list[int]:
    keys = []
    for key in key_ids:
        if not is_valid_id(key):
            raise ValueError(f"a task key must be a positive 64-bit integer, not {key!r}")
        if key not in keys:
            keys.append(key)
    return keys


# --------------------------------------------------------------------------- public API


def sync_tasks(
    start: datetime,
    end: datetime,
    task_name: str | None = None,
    *,
    key_ids: Iterable[int] = (),
    workers: int | None = None,
    client_factory: ClientFactory | None = None,
    progress: Callable[[SyncProgress], None] | None = None,
    trigger: str = SyncTrigger.COMMAND,
    next_due: datetime | None = None,
) -> SyncSummary:
    """Mirror the tasks created from ``start`` up to ``end`` and their node lists.

    ``task_name`` is the vendor's filter (fuzzy parent task name or exact parent task id);
    ``key_ids`` are re-read in any case. Raises ``ConfigurationError``, an ``ApiError``
    for a fault of this site (``VendorCode.site_fault``) or a refused connection's
    ``TransportError`` when the first call shows that nothing can work; every other
    failure is counted in the summary. The run is recorded as a ``SyncRun`` of ``trigger``,
    with ``next_due`` when a scheduler already knows when it syncs again.
    """
    windows = split_window(start, end)
    keys = _clean_keys(key_ids)

    def body(run: _Run) -> None:
        run.windows_total = len(windows)
        for key_id in keys:
            run.fetcher.submit(key_id)
        for window in windows:
            run.sync_window(window, task_name or None)
            run.windows_done += 1
        run.report()

    return run_recorded(
        trigger,
        (start, end),
        lambda: _run(body, workers, client_factory, progress),
        next_due=next_due,
    )


def sync_task_details(
    key_ids: Iterable[int],
    *,
    workers: int | None = None,
    client_factory: ClientFactory | None = None,
    progress: Callable[[SyncProgress], None] | None = None,
    trigger: str = SyncTrigger.COMMAND,
) -> SyncSummary:
    """Re-read the named tasks' details and node lists now (new keys are created); the run
    is recorded as a ``SyncRun`` of ``trigger``."""
    keys = _clean_keys(key_ids)

    def body(run: _Run) -> None:
        for key_id in keys:
            run.fetcher.submit(key_id)
        run.report()

    return run_recorded(trigger, None, lambda: _run(body, workers, client_factory, progress))


def sync_recent(*, days: float = 7, trigger: str = SyncTrigger.SCHEDULE, **kwargs) -> SyncSummary:
    """``sync_tasks`` over the last ``days`` days: a one-line job for a scheduler."""
    end = timezone.now()
    return sync_tasks(end - timedelta(days=days), end, trigger=trigger, **kwargs)
