"""The app's landing page in the admin: what needs attention now, the mirror in numbers,
two charts of the last 14 days, and the last sync.

Every query is bounded (a count or a group over an indexed column, or a range of the last
days) so the page costs the same at a hundred tasks and at a hundred thousand.
``overview(request, site_name)`` builds it once; the template only presents it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext, pgettext

from ..conf import app_settings
from ..models import (
    VIEW_ATTEMPTS_PERMISSION,
    VIEW_TASKS_PERMISSION,
    CancelAttempt,
    Outcome,
    RecallNode,
    RecallTask,
    Status,
    SyncRun,
)
from ..sync.runs import last_run, last_success
from ..verify import broken_seals
from .charts import Series, stacked_bars
from .display import STATUS_CLASSES

CHART_DAYS = 14
# Chart colours by outcome: the outcome badges' classes (see admin.css).
CHART_OUTCOMES = [
    Outcome.SUCCEEDED,
    Outcome.FAILED,
    Outcome.REFUSED,
    Outcome.UNKNOWN,
    Outcome.SKIPPED,
]


@dataclass(frozen=True)
class Figure:
    label: str
    count: int
    url: str
    status: int | None = None  # the status counted, shown as its badge


@dataclass(frozen=True)
class Attention:
    """One kind of trouble: how many, where to see them, what to do first."""

    kind: str
    title: str
    count: int
    url: str
    next_step: str


@dataclass(frozen=True)
class SyncState:
    run: SyncRun | None
    run_url: str
    runs_url: str
    last_success: SyncRun | None
    stale: bool
    stale_minutes: int
    next_due: datetime | None
    overdue: bool


@dataclass(frozen=True)
class Overview:
    statuses: tuple[Figure, ...]
    total: int
    running_rounds: Figure
    will_call_today: Figure
    attention: tuple[Attention, ...]
    sync: SyncState
    cancels_chart: str
    tasks_chart: str
    can_view_attempts: bool


def _url(site: str, name: str, params: dict | None = None, args=()) -> str:
    """A page of the app on ``site``; "" when that site does not serve it."""
    try:
        url = reverse(f"{site}:laaffic_recall_{name}", args=args)
    except NoReverseMatch:
        return ""
    return f"{url}?{urlencode(params)}" if params else url


def _local_text(value: datetime) -> str:
    """A time for a list filter's query string, with its offset (as Django's own date
    filter writes it)."""
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return str(value.replace(microsecond=0))


def sync_state(site: str, now: datetime | None = None) -> SyncState:
    """The last run, the last successful run, and whether the mirror is stale."""
    now = now or timezone.now()
    run = last_run()
    success = last_success(run)
    minutes = app_settings.SYNC_STALE_MINUTES
    finished = success.finished_at if success is not None else None
    stale = finished is None or finished < now - timedelta(minutes=minutes)
    next_due = run.next_due_at if run is not None else None
    return SyncState(
        run=run,
        run_url=_url(site, "syncrun_change", args=[run.pk]) if run else "",
        runs_url=_url(site, "syncrun_changelist"),
        last_success=success,
        stale=stale,
        stale_minutes=minutes,
        next_due=next_due,
        # A scheduler that has not started its next run well after it was due is gone.
        overdue=bool(
            run and run.finished_at and next_due and next_due < now - timedelta(minutes=5)
        ),
    )


def _days(today: date) -> list[date]:
    return [today - timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]


def _start_of(day: date) -> datetime:
    """Midnight of ``day`` in the current time zone (naive for a site without USE_TZ)."""
    midnight = datetime(day.year, day.month, day.day)
    return timezone.make_aware(midnight) if settings.USE_TZ else midnight


def _since_each_day(days: list[date], field: str) -> dict[str, Count]:
    """Counts of the rows since each day's midnight (and since tomorrow's), one filtered
    count each: the range is read once, compared with the bounds in SQL (no per-row date
    function, which SQLite would run in Python). A day's figure is the difference of two."""
    bounds = [_start_of(d) for d in days] + [_start_of(days[-1] + timedelta(days=1))]
    return {
        f"since{i}": Count(field, filter=Q(**{f"{field}__gte": bound}))
        for i, bound in enumerate(bounds)
    }


def _daily(row: Mapping[str, Any], days: list[date]) -> list[int]:
    return [row[f"since{i}"] - row[f"since{i + 1}"] for i in range(len(days))]


def cancels_per_day(days: list[date]) -> list[Series]:
    # Every outcome named, so the (outcome, started_at) index serves each as a range.
    rows = (
        CancelAttempt.objects.filter(outcome__in=Outcome.values, started_at__gte=_start_of(days[0]))
        .values("outcome")
        .annotate(**_since_each_day(days, "started_at"))
        .order_by()
    )
    counts: dict[str, list[int]] = {o: [0] * len(days) for o in CHART_OUTCOMES}
    for row in rows:
        outcome = Outcome.UNKNOWN if row["outcome"] == Outcome.PENDING else row["outcome"]
        if outcome in counts:
            counts[outcome] = [
                a + b for a, b in zip(counts[outcome], _daily(row, days), strict=True)
            ]
    return [Series(str(Outcome(o).label), f"outcome-{o}", counts[o]) for o in CHART_OUTCOMES]


def tasks_per_day(days: list[date]) -> list[Series]:
    row = RecallTask.objects.filter(created_at_remote__gte=_start_of(days[0])).aggregate(
        **_since_each_day(days, "created_at_remote")
    )
    return [Series(gettext("Tasks created"), "tasks", _daily(row, days))]


def attention(site: str, now: datetime, sync: SyncState, attempts: bool) -> list[Attention]:
    found = []
    if attempts:
        in_doubt = CancelAttempt.objects.unresolved().count()
        if in_doubt:
            found.append(
                Attention(
                    "in-doubt",
                    ngettext(
                        "%(count)d cancel whose outcome is unknown",
                        "%(count)d cancels whose outcome is unknown",
                        in_doubt,
                    )
                    % {"count": in_doubt},
                    in_doubt,
                    _url(site, "cancelattempt_changelist", {"outcome": Outcome.UNKNOWN}),
                    gettext(
                        "Refresh their tasks from LAAFFIC (or wait for the next sync), which "
                        "settles them; cancel again only if the task still runs."
                    ),
                )
            )
        broken = broken_seals()
        if broken:
            found.append(
                Attention(
                    "broken-seal",
                    ngettext(
                        "%(count)d open cancel whose audit row does not match its seal",
                        "%(count)d open cancels whose audit rows do not match their seals",
                        len(broken),
                    )
                    % {"count": len(broken)},
                    len(broken),
                    _url(site, "cancelattempt_change", args=[broken[0]]),
                    gettext(
                        "They were changed outside the app, so it will not settle them and "
                        "their tasks cannot be cancelled again here: ask an administrator to "
                        "check the audit log."
                    ),
                )
            )
        since = now - timedelta(hours=24)
        refused = CancelAttempt.objects.filter(
            outcome=Outcome.REFUSED, started_at__gte=since
        ).count()
        if refused:
            found.append(
                Attention(
                    "refused",
                    ngettext(
                        "%(count)d cancel refused in the last 24 hours",
                        "%(count)d cancels refused in the last 24 hours",
                        refused,
                    )
                    % {"count": refused},
                    refused,
                    _url(
                        site,
                        "cancelattempt_changelist",
                        {"outcome": Outcome.REFUSED, "started_at__gte": _local_text(since)},
                    ),
                    gettext(
                        "Read each one's response message: most mean the task had already "
                        "moved on; fix the cause before trying again."
                    ),
                )
            )
    unconfirmed = RecallTask.objects.filter(unconfirmed=True).count()
    if unconfirmed:
        found.append(
            Attention(
                "unconfirmed",
                ngettext(
                    "%(count)d task marked unconfirmed",
                    "%(count)d tasks marked unconfirmed",
                    unconfirmed,
                )
                % {"count": unconfirmed},
                unconfirmed,
                _url(site, "recalltask_changelist", {"unconfirmed__exact": "1"}),
                gettext(
                    "Select them and use “Refresh from LAAFFIC” to confirm what the cancel assumed."
                ),
            )
        )
    run = sync.run
    if run is not None and (run.error or run.failure_count):
        count = run.failure_count or 1
        found.append(
            Attention(
                "sync-failed",
                ngettext(
                    "The last sync had %(count)d failure",
                    "The last sync had %(count)d failures",
                    count,
                )
                % {"count": count},
                count,
                sync.run_url,
                gettext(
                    "Open the run to read what failed; a busy or unreachable LAAFFIC usually "
                    "passes on the next run."
                ),
            )
        )
    if sync.stale:
        found.append(
            Attention(
                "stale",
                gettext("No successful sync in the last %(minutes)d minutes")
                % {"minutes": sync.stale_minutes},
                1,
                sync.runs_url,
                gettext(
                    "The mirror may be out of date: use “Refresh from LAAFFIC” on a task "
                    "before acting on it."
                ),
            )
        )
    return found


def overview(request: HttpRequest, site: str) -> Overview | None:
    """The page for a user who may view the mirror; None for anyone else."""
    if not request.user.has_perm(VIEW_TASKS_PERMISSION):
        return None
    now = timezone.now()
    today = timezone.localdate(now) if timezone.is_aware(now) else now.date()
    counts = dict(
        RecallTask.objects.values_list("status").annotate(n=Count("id")).order_by("status")
    )
    statuses = [
        Figure(
            str(Status(value).label),
            counts.get(value, 0),
            _url(site, "recalltask_changelist", {"status__exact": value}),
            value,
        )
        for value in STATUS_CLASSES
    ]
    running = RecallNode.objects.filter(status=Status.IN_PROGRESS).count()
    start_of_today = _start_of(today)
    will_call = RecallTask.objects.filter(
        status__in=[Status.PENDING, Status.IN_PROGRESS], created_at_remote__gte=start_of_today
    ).count()
    sync = sync_state(site, now)
    attempts = request.user.has_perm(VIEW_ATTEMPTS_PERMISSION)
    days = _days(today)
    # A date format, in the reader's language: "Nov 23", "11月23日".
    day_format = pgettext("date format of a chart's days", "M j")
    labels = [formats.date_format(d, day_format) for d in days]
    cancels_chart = ""
    if attempts:
        cancels_chart = stacked_bars(
            gettext("Cancels per day, last 14 days, by outcome"), labels, cancels_per_day(days)
        )
    tasks_chart = stacked_bars(
        gettext("Tasks created per day, last 14 days"), labels, tasks_per_day(days)
    )
    return Overview(
        statuses=tuple(statuses),
        total=sum(counts.values()),
        running_rounds=Figure(
            gettext("Rounds running now"),
            running,
            _url(site, "recallnode_changelist", {"status__exact": Status.IN_PROGRESS}),
        ),
        will_call_today=Figure(
            gettext("Created today and still to call"),
            will_call,
            _url(
                site,
                "recalltask_changelist",
                {
                    "status__in": f"{Status.PENDING},{Status.IN_PROGRESS}",
                    "created_at_remote__gte": _local_text(start_of_today),
                },
            ),
        ),
        attention=tuple(attention(site, now, sync, attempts)),
        sync=sync,
        cancels_chart=cancels_chart,
        tasks_chart=tasks_chart,
        can_view_attempts=attempts,
    )
