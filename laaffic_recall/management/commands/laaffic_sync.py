"""``manage.py laaffic_sync``: mirror LAAFFIC auto-recall tasks and their node lists."""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime, timedelta

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ...client.errors import ApiError, ConfigurationError, TransportError
from ...conf import app_settings
from ...models import SyncTrigger
from ...sync.results import SyncProgress, SyncSummary
from ...sync.runs import SyncLease, schedule_next
from ...sync.service import sync_task_details, sync_tasks
from ..base import TranslatedCommand

DEFAULT_DAYS = 7


def parse_when(value: str) -> datetime:
    """``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM[:SS]`` or ISO 8601; naive means TIME_ZONE."""
    text = value.strip()
    parsed = None
    try:
        parsed = parse_datetime(text)
        if parsed is None and (day := parse_date(text)) is not None:
            parsed = datetime(day.year, day.month, day.day)
    except ValueError:
        parsed = None
    if parsed is None:
        raise CommandError(
            _("%(value)r is not a date or time; use YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS].")
            % {"value": value}
        )
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(value)
    return number


def positive_float(value: str) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError(value)
    return number


class Skipped(Exception):
    """Another sync holds the lock: this one did not run."""


class Unreachable(CommandError):
    """Nothing answers at the base URL (connection refused): the run stopped at its first
    call. A loop records it and goes on; a single run exits 1."""


def unreachable_text() -> str:
    """What a refused connection means, and how to point this process at the right address."""
    url = str(app_settings.BASE_URL).rstrip("/")
    text = _("Nothing answers at %(url)s (connection refused), so nothing was synced.") % {
        "url": url
    }
    hint = str(app_settings.UNREACHABLE_HINT or "") or _(
        "Check LAAFFIC_RECALL['BASE_URL'] (LAAFFIC_BASE_URL in the bundled site) and that "
        "this machine can reach it."
    )
    return f"{text} {hint}"


class Command(TranslatedCommand):
    # ``stop_event`` (a threading.Event): ends an --every loop when set, for a caller that
    # runs the loop in a thread of its own (the demo), where no signal can reach it.
    stealth_options = ("stop_event",)
    help = gettext_lazy(
        "Mirror LAAFFIC auto-recall tasks created in a time window (default: the last "
        "7 days) and their node lists. Progress goes to stderr, the summary to stdout; "
        "exits non-zero when any page or task failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        since = parser.add_mutually_exclusive_group()
        since.add_argument(
            "--since",
            metavar="DATETIME",
            help=_(
                "Start of the creation-time window (YYYY-MM-DD[ HH:MM[:SS]] or ISO 8601; "
                "without an offset, in the site's TIME_ZONE)."
            ),
        )
        since.add_argument(
            "--days",
            type=float,
            metavar="N",
            help=_("Window of the last N days (default %(default)s).") % {"default": DEFAULT_DAYS},
        )
        parser.add_argument(
            "--until",
            metavar="DATETIME",
            help=_("End of the window, not included (default: now)."),
        )
        parser.add_argument(
            "--task-name",
            metavar="TEXT",
            help=_("Only tasks whose parent task name contains TEXT, or whose parent id is TEXT."),
        )
        parser.add_argument(
            "--key-id",
            type=positive_int,
            nargs="+",
            action="extend",
            default=[],
            metavar="N",
            help=_(
                "Also re-read these tasks. Alone (no --since/--days/--until/--task-name), "
                "only these tasks are re-read and no window is listed."
            ),
        )
        parser.add_argument(
            "--workers",
            type=positive_int,
            metavar="N",
            help=_("Parallel detail calls (default: LAAFFIC_RECALL['SYNC_WORKERS'])."),
        )
        parser.add_argument(
            "--every",
            type=positive_float,
            metavar="SECONDS",
            help=_(
                "Run forever, one sync per period (never two at once), each over the last "
                "--days days. A failed run is recorded and the loop goes on; a configuration "
                "error or a refused signature ends it with exit status 1; SIGTERM or SIGINT "
                "end it after the current run."
            ),
        )

    def handle(self, *args, **options) -> None:
        self.verbosity = options["verbosity"]
        self._progress: SyncProgress | None = None
        self._progress_at = float("-inf")
        self._progress_written = ""
        self._progress_open = False
        self.lease = SyncLease()
        self.next_due: datetime | None = None
        if options["every"] is None:
            try:
                summary = self.sync_once(options, SyncTrigger.COMMAND)
            except Skipped as skipped:
                self.stderr.write(str(skipped), style_func=plain)
                return
            if summary.failures:
                raise CommandError(failure_text(summary))
            return
        if options["since"] or options["until"]:
            raise CommandError(_("--every syncs the last --days days: no --since or --until."))
        self.loop(options, options["every"], options.get("stop_event"))

    def sync_once(self, options, trigger: str) -> SyncSummary:
        """One sync under the lock, its summary printed; raises ``Skipped`` when another
        sync holds the lock, ``CommandError`` when the run could not be made at all."""
        if not self.lease.acquire():
            raise Skipped(skipped_text(self.lease))
        try:
            return self.sync(options, trigger)
        finally:
            self.lease.release()

    def sync(self, options, trigger: str) -> SyncSummary:
        self._progress, self._progress_written = None, ""
        key_ids: list[int] = options["key_id"]
        window_given = any(options[name] for name in ("since", "days", "until", "task_name"))
        common = {
            "workers": options["workers"],
            "progress": self.show_progress,
            "trigger": trigger,
        }
        try:
            if key_ids and not window_given and options["every"] is None:
                summary = sync_task_details(key_ids, **common)
            else:
                start, end = self.window(options)
                if self.verbosity >= 1:
                    self.stderr.write(
                        _("Syncing tasks created from %(start)s to %(end)s.")
                        % {"start": _display(start), "end": _display(end)},
                        style_func=plain,
                    )
                summary = sync_tasks(
                    start,
                    end,
                    options["task_name"],
                    key_ids=key_ids,
                    next_due=self.next_due,
                    **common,
                )
        except (ConfigurationError, ApiError) as exc:
            self.end_progress()
            raise CommandError(str(exc)) from None
        except TransportError as exc:
            self.end_progress()
            if not exc.refused:
                raise
            raise Unreachable(unreachable_text()) from None
        except ValueError as exc:
            self.end_progress()
            raise CommandError(str(exc)) from None
        self.end_progress()
        self.print_summary(summary)
        return summary

    def loop(self, options, every: float, stop: threading.Event | None = None) -> None:
        """One sync per period until SIGTERM or SIGINT (or ``stop`` is set); a period that a
        run overran starts the next run at once (runs never overlap)."""
        stop = stop or threading.Event()
        previous = {}

        def on_signal(signum, frame):
            if stop.is_set():  # a second signal: stop now
                raise KeyboardInterrupt
            stop.set()
            self.stderr.write(
                _("Stopping after the current run (signal %(signal)s).")
                % {"signal": signal.Signals(signum).name},
                style_func=plain,
            )

        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, on_signal)
        self.stderr.write(
            _("Syncing every %(seconds)s seconds; SIGTERM or Ctrl-C stops after a run.")
            % {"seconds": f"{every:g}"},
            style_func=plain,
        )
        try:
            while not stop.is_set():
                began, began_at = time.monotonic(), timezone.now()
                # Recorded on the run from its start, so the loop shows before it ends.
                self.next_due = began_at + timedelta(seconds=every)
                self.loop_once(options)
                due = began + every
                # One period after this run began, or at once if the run overran it.
                next_at = max(began_at + timedelta(seconds=every), timezone.now())
                schedule_next_safely(began_at, next_at)
                stop.wait(max(0.0, due - time.monotonic()))
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stderr.write(_("Sync loop stopped."), style_func=plain)

    def loop_once(self, options) -> None:
        """One period: a failed run is reported and the loop goes on; a run that cannot
        work at all (``CommandError``) ends the loop."""
        try:
            summary = self.sync_once(options, SyncTrigger.SCHEDULE)
        except Skipped as skipped:
            self.stderr.write(str(skipped), style_func=plain)
            return
        except Unreachable as exc:  # recorded as the run's error; the next run may get through
            self.stderr.write(str(exc))
            return
        except DatabaseError as exc:
            self.stderr.write(_("The sync could not use the database: %(error)s") % {"error": exc})
            close_old_connections()
            return
        if summary.failures:
            self.stderr.write(failure_text(summary))

    def window(self, options) -> tuple[datetime, datetime]:
        end = parse_when(options["until"]) if options["until"] else timezone.now()
        if options["since"]:
            start = parse_when(options["since"])
        else:
            days = DEFAULT_DAYS if options["days"] is None else options["days"]
            if days <= 0:
                raise CommandError(_("--days must be positive."))
            start = end - timedelta(days=days)
        if start >= end:
            raise CommandError(_("The window is empty: --since must be before --until."))
        return start, end

    # ---- output

    def show_progress(self, progress: SyncProgress) -> None:
        """Redraw one line on a terminal (10 times a second at most), else a line a second;
        keep the lock's lease alive meanwhile."""
        self._progress = progress
        self.lease.renew()
        interval = 0.1 if self.stderr.isatty() else 1.0
        if self.verbosity >= 1 and time.monotonic() - self._progress_at >= interval:
            self.render_progress(progress)

    def render_progress(self, progress: SyncProgress) -> None:
        line = format_progress(progress)
        if self.stderr.isatty():
            self.stderr.write(f"\r{line}\033[K", style_func=plain, ending="")
            self.stderr.flush()
            self._progress_open = True
        elif line != self._progress_written:
            self.stderr.write(line, style_func=plain)
        self._progress_written, self._progress_at = line, time.monotonic()

    def end_progress(self) -> None:
        """Show the final state if it was throttled away, and end the terminal's line."""
        if (
            self.verbosity >= 1
            and self._progress is not None
            and format_progress(self._progress) != self._progress_written
        ):
            self.render_progress(self._progress)
        if self._progress_open:
            self.stderr.write("", style_func=plain)
            self._progress_open = False

    def print_summary(self, summary: SyncSummary) -> None:
        if self.verbosity < 1 and summary.ok:
            return
        out = self.stdout
        out.write(
            _("Tasks: %(seen)d seen, %(created)d created, %(updated)d updated.")
            % {
                "seen": summary.tasks_seen,
                "created": summary.tasks_created,
                "updated": summary.tasks_updated,
            }
        )
        out.write(
            _("Nodes: %(created)d created, %(updated)d updated, %(removed)d removed.")
            % {
                "created": summary.nodes_created,
                "updated": summary.nodes_updated,
                "removed": summary.nodes_removed,
            }
        )
        out.write(
            _("Details fetched: %(details)d. Pages fetched: %(pages)d. Failures: %(failures)d.")
            % {
                "details": summary.details_fetched,
                "pages": summary.pages_fetched,
                "failures": len(summary.failures),
            }
        )
        if summary.ok:
            out.write(self.style.SUCCESS(_("Sync complete.")))


def failure_text(summary: SyncSummary) -> str:
    lines = [
        ngettext(
            "The sync finished with %(count)d failure:",
            "The sync finished with %(count)d failures:",
            len(summary.failures),
        )
        % {"count": len(summary.failures)}
    ]
    lines += [f"  {failure}" for failure in summary.failures]
    return "\n".join(lines)


def skipped_text(lease: SyncLease) -> str:
    holder = lease.current()
    if holder is None:  # freed in the meantime
        return _("Another sync held the lock: this one is skipped.")
    return _("Another sync is running (%(holder)s, since %(since)s): this one is skipped.") % {
        "holder": holder.holder,
        "since": _display(holder.acquired_at),
    }


def schedule_next_safely(began_at: datetime, due: datetime) -> None:
    try:
        schedule_next(began_at, due)
    except DatabaseError:
        close_old_connections()


def plain(text: str) -> str:
    """Progress is not an error: no red (Django styles stderr as errors on a terminal)."""
    return text


def format_progress(progress: SyncProgress) -> str:
    parts = []
    if progress.windows_total:
        parts.append(
            _("windows %(done)d/%(total)d")
            % {"done": progress.windows_done, "total": progress.windows_total}
        )
        parts.append(
            _("pages %(done)d/%(total)d")
            % {"done": progress.pages_done, "total": progress.pages_total}
        )
    parts.append(
        _("details %(done)d/%(total)d")
        % {"done": progress.details_done, "total": progress.details_total}
    )
    return ", ".join(parts)


def _display(value: datetime) -> str:
    if timezone.is_naive(value):  # timezone.now() under USE_TZ = False
        value = timezone.make_aware(value)
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
