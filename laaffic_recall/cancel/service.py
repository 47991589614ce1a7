"""Cancel LAAFFIC auto-recall tasks for a person, audited, and never sent twice by accident.

Each target's pending ``CancelAttempt`` is committed before its task is read afresh and
the request is sent: that is what makes a read answered before another agent's whole
cancel harmless, since that agent is refused.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.db.models import Q
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from django.utils.translation import gettext as _

from ..client.errors import ConfigurationError, LaafficError
from ..client.http import LaafficClient
from ..conf import app_settings, get_client
from ..models import CancelAttempt, CancelType, NotSent, Outcome, RecallTask
from ..signals import send_cancel_attempted
from ..sync.mirror import DetailChanges, FetchedDetail, store_details, write_details
from . import audit, reconcile, remote
from .audit import CancelBlocked, Submission
from .remote import Answer, Preflight
from .results import (
    NO_SCOPE,
    AttemptResult,
    BlockingAttempt,
    CancelReport,
    CancelTarget,
    ParentLookup,
    Scope,
)

logger = logging.getLogger("laaffic_recall")


class CancelInTransactionError(TransactionManagementError):
    """``cancel()`` was called inside a transaction; nothing was read, written or sent."""


class BatchTooLarge(ValueError):
    """More targets than ``MAX_CANCEL_BATCH`` in one call: nothing was done."""

    def __init__(self, count: int, limit: int):
        self.count = count
        self.limit = limit
        super().__init__(f"{count} cancel targets in one call; the limit is {limit}")


# --------------------------------------------------------------------------- entry points


def cancel(targets: Sequence[CancelTarget], submission: Submission) -> CancelReport:
    """Cancel each target once, with bounded concurrency; never raises for a target's failure.

    Must not run inside a transaction (``atomic()``, a view under ``ATOMIC_REQUESTS`` not
    marked ``non_atomic_requests``, a task runner's transaction): each audit row has to be
    committed before its request leaves, and inside the caller's transaction it would only
    be a savepoint, lost with a rollback and invisible to other workers. So it raises
    ``CancelInTransactionError`` there, before anything is done. (A test case's own
    transaction, e.g. pytest-django's ``django_db``, is allowed, as for Django's
    ``atomic(durable=True)``, which it relies on.) Raises ``BatchTooLarge`` (before
    anything is done) past ``MAX_CANCEL_BATCH`` targets.
    """
    _refuse_outer_transaction()
    unique = list({t.key: t for t in targets}.values())
    limit = app_settings.MAX_CANCEL_BATCH
    if len(unique) > limit:
        raise BatchTooLarge(len(unique), limit)
    try:
        client = get_client()
    except ConfigurationError as exc:
        results = [_configuration_failure(t, submission, exc) for t in unique]
        return CancelReport(submission.correlation_id, tuple(results))
    workers = max(1, min(app_settings.CANCEL_WORKERS, len(unique)))
    budget = _Budget(time.monotonic() + app_settings.ACTION_TIME_BUDGET)
    db = transaction.get_connection()
    if workers == 1 or db.in_atomic_block or db.vendor == "sqlite":
        # Run here, one by one: inside a test case's transaction worker threads could not
        # see its uncommitted rows and might wait on its locks; SQLite takes one writer at
        # a time anyway.
        with client:
            results = [budget.run(t, submission, client) for t in unique]
    else:
        client.close()  # each worker thread has its own
        results = _run_threaded(unique, submission, workers, budget)
    return CancelReport(submission.correlation_id, tuple(results))


def look_up_parent(parent_task_id: int, *, client: LaafficClient | None = None) -> ParentLookup:
    """Find and mirror the recall tasks of a parent task id (queryPage's exact id search)."""
    own = client is None
    try:
        client = client or get_client()
    except ConfigurationError as exc:
        return ParentLookup(parent_task_id, error=str(exc))
    try:
        mirrored = set(
            RecallTask.objects.filter(parent_task_id=parent_task_id).values_list(
                "key_id", flat=True
            )
        )
    except (DatabaseError, OverflowError):  # SQLite refuses an id beyond 64 bits this way
        mirrored = set()
    try:
        found = remote.find_parent_tasks(parent_task_id, client)
    except (LaafficError, ConfigurationError) as exc:
        return ParentLookup(parent_task_id, _parent_tasks(parent_task_id), error=str(exc))
    except (DatabaseError, OverflowError):
        logger.exception("Could not mirror the tasks of parent task %s", parent_task_id)
        return ParentLookup(parent_task_id, error=_("Database error while storing the tasks."))
    finally:
        if own:
            client.close()
    found_keys = {t.key_id for t in found}
    new_keys = tuple(sorted(found_keys - mirrored))
    tasks = _parent_tasks(parent_task_id, found_keys)
    return ParentLookup(parent_task_id, tasks, new_keys=new_keys)


def _parent_tasks(parent_task_id: int, found_keys=()) -> tuple[RecallTask, ...]:
    """Every mirrored task of the parent, and those queryPage just found (mirrored now)."""
    condition = Q(parent_task_id=parent_task_id) | Q(key_id__in=list(found_keys))
    try:
        return tuple(RecallTask.objects.filter(condition).order_by("key_id"))
    except (DatabaseError, OverflowError):
        return ()


def _refuse_outer_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        return
    try:
        # Django's own test for "not nested in a caller's atomic block" (it lets a test
        # case's transaction through); costs a savepoint only when in one.
        with transaction.atomic(durable=True):
            pass
    except RuntimeError:
        raise CancelInTransactionError(
            "The cancel service must not run inside a database transaction: its audit row "
            "has to be committed before the request to LAAFFIC leaves. Call it outside "
            "atomic() (a view under ATOMIC_REQUESTS must be marked non_atomic_requests)."
        ) from None


# --------------------------------------------------------------------------- running


class _Budget:
    """ACTION_TIME_BUDGET of one ``cancel()`` call: the first target always starts; no
    other starts once the budget is spent (it is recorded as not sent, to be retried)."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.started = 0
        self.lock = threading.Lock()

    def run(self, target: CancelTarget, submission: Submission, client: LaafficClient):
        with self.lock:
            go = self.started == 0 or time.monotonic() < self.deadline
            self.started += go
        if go:
            return _guarded(target, submission, client)
        return _out_of_time(target, submission)


def _out_of_time(target: CancelTarget, submission: Submission) -> AttemptResult:
    try:
        return _unsent(
            target,
            submission,
            timezone.now(),
            Outcome.SKIPPED,
            "",
            not_sent=NotSent.BUDGET,
            not_started=True,
        )
    except DatabaseError:
        logger.exception("Could not record a cancel attempt")
        return AttemptResult(
            target, Outcome.SKIPPED, recorded=False, not_started=True, not_sent=NotSent.BUDGET
        )


def _run_threaded(
    targets: list[CancelTarget], submission: Submission, workers: int, budget: _Budget
) -> list[AttemptResult]:
    """``workers`` threads take targets from a queue, each with its own client (one HTTP
    session) and its own DB connection, which it closes when the queue is empty."""
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for index, target in enumerate(targets):
        todo.put((index, target))
    results: list[AttemptResult | None] = [None] * len(targets)

    def worker() -> None:
        try:
            with get_client() as client:
                while True:
                    try:
                        index, target = todo.get_nowait()
                    except queue.Empty:
                        return
                    results[index] = budget.run(target, submission, client)
        finally:
            connections.close_all()  # this thread's own connections

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="laaffic-cancel") as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    return [
        result or AttemptResult(target, Outcome.FAILED, detail=_("not run"), recorded=False)
        for result, target in zip(results, targets, strict=True)
    ]


@dataclass
class _Progress:
    """How far one target got, for a result when something unexpected stops it."""

    attempt_id: int | None = None
    sent: bool = False


def _guarded(target: CancelTarget, submission: Submission, client: LaafficClient):
    """Run one target; an unexpected error becomes a result, never an exception."""
    progress = _Progress()
    try:
        return _cancel_one(target, submission, client, progress)
    except Exception as exc:
        logger.exception(
            "Cancel of %s %s failed unexpectedly", target.cancel_type, target.target_id
        )
        return AttemptResult(
            target,
            Outcome.UNKNOWN if progress.sent else Outcome.FAILED,
            attempt_id=progress.attempt_id,
            detail=_("unexpected error: %(error)s") % {"error": type(exc).__name__},
            recorded=False,
        )


# --------------------------------------------------------------------------- one target


def _cancel_one(
    target: CancelTarget, submission: Submission, client: LaafficClient, progress: _Progress
) -> AttemptResult:
    started = timezone.now()

    # 1. Which task(s) it concerns: the mirror, or queryPage for a parent id typed by hand.
    try:
        scope = remote.resolve(target, client)
    except LaafficError as exc:
        return _unsent(
            target,
            submission,
            started,
            Outcome.FAILED,
            str(exc),
            not_sent=NotSent.UNREADABLE,
            hint=_hint(exc),
        )
    if scope.skip:
        return _unsent(target, submission, started, Outcome.SKIPPED, "", scope, scope.skip)
    if not_visible(submission, scope.task_keys, mirrored_only=True):
        return _not_visible(target, submission, started, scope)

    # 2. The audit row, committed before the fresh read and the request; one per task.
    try:
        attempt = audit.open_attempt(submission, target, scope, started)
    except CancelBlocked as exc:
        return _refused_here(target, submission, started, scope, exc.blocked_by)
    progress.attempt_id = attempt.pk

    with reconcile.cancel_reading(scope.task_keys):
        # 3. The state right now, never the mirror's.
        try:
            preflight = remote.check(target, scope, client)
        except Exception as exc:
            return _close(attempt, target, _unreadable(target, exc), scope=scope)
        if not preflight.send:
            skipped = Answer(Outcome.SKIPPED, error_detail=preflight.reason)
            return _close(attempt, target, skipped, preflight, scope)
        # What the cancel stops now: a parent's tasks found or mirrored since step 1 too.
        if not_visible(submission, _stopped_keys(target, scope, preflight)):
            refused = Answer(Outcome.REFUSED, not_sent=NotSent.HIDDEN)
            closed = _close(attempt, target, refused, reads=preflight.fetched)
            return replace(closed, hidden=True)

        # 4. The request, exactly once; then what LAAFFIC says now (a request that
        # certainly did not reach LAAFFIC changed nothing there to re-read).
        progress.sent = True
        answer, read = remote.send(client, target), remote.Reread()
        if answer.outcome != Outcome.FAILED:
            read = remote.reread(preflight, target, client)
            answer = remote.confirm(answer, read)
        reads = (*preflight.fetched, *read.fetched)
        return _close(attempt, target, answer, preflight, scope, reads)


def not_visible(
    submission: Submission, task_keys: Collection[int], *, mirrored_only: bool = False
) -> set[int]:
    """The tasks among ``task_keys`` outside what the submitter may see (none when the
    submission's ``visible`` leaves out no task). A task not in the mirror counts as not
    visible, unless ``mirrored_only``."""
    if submission.visible is None or not audit.narrows(submission.visible) or not task_keys:
        return set()
    hidden = audit.hidden_keys(submission.visible, task_keys)
    if mirrored_only and hidden:
        hidden &= set(
            RecallTask.objects.filter(key_id__in=list(hidden)).values_list("key_id", flat=True)
        )
    return hidden


def _stopped_keys(target: CancelTarget, scope: Scope, preflight: Preflight) -> set[int]:
    """Every task the cancel may stop: those read just now, and for a parent every task
    of it the mirror holds now."""
    keys = {*scope.task_keys, *preflight.task_keys}
    if target.cancel_type == CancelType.PARENT:
        keys.update(
            RecallTask.objects.filter(parent_task_id=target.target_id).values_list(
                "key_id", flat=True
            )
        )
    return keys


def _not_visible(
    target: CancelTarget, submission: Submission, started: datetime, scope: Scope
) -> AttemptResult:
    """Refused before anything is sent: the cancel would stop a task the submitter may
    not see. The row names only tasks they may see."""
    shown = Scope()
    if scope.task is not None and not not_visible(submission, [scope.task.key_id]):
        shown = Scope(scope.task.key_id, (scope.task.key_id,), task=scope.task)
    return _unsent(
        target, submission, started, Outcome.REFUSED, "", shown, NotSent.HIDDEN, hidden=True
    )


def _hint(exc: Exception) -> str:
    return getattr(exc, "hint", "")


def _unsent(
    target: CancelTarget,
    submission: Submission,
    started: datetime,
    outcome: str,
    row_detail: str,
    scope: Scope = NO_SCOPE,
    not_sent: str = "",
    **extra,
) -> AttemptResult:
    """A finished row for an attempt that sent nothing, and its result (whose ``detail``
    for the agent is the row's, unless given). ``not_sent``: why this app sent nothing,
    when it refused or failed the attempt itself, with the attempt that blocked it (the
    result's ``blocked_by``), kept as values, worded when shown."""
    blocked_by: BlockingAttempt | None = extra.get("blocked_by")
    row = audit.record_unsent(
        submission,
        target,
        outcome,
        row_detail,
        started,
        scope,
        not_sent=not_sent,
        blocked_by=blocked_by.attempt_id if blocked_by is not None else None,
    )
    send_cancel_attempted(row)
    extra.setdefault("detail", row_detail)
    extra.setdefault("not_sent", not_sent)
    return AttemptResult(target, outcome, attempt_id=row.pk, **extra)


def _refused_here(
    target: CancelTarget,
    submission: Submission,
    started: datetime,
    scope: Scope,
    blocked_by: BlockingAttempt,
) -> AttemptResult:
    """Another attempt on the task is in flight or in doubt: refused locally, nothing sent."""
    return _unsent(
        target,
        submission,
        started,
        Outcome.REFUSED,
        "",
        scope,
        NotSent.IN_DOUBT if blocked_by.in_doubt else NotSent.IN_FLIGHT,
        in_flight=not blocked_by.in_doubt,
        in_doubt=blocked_by.in_doubt,
        blocked_by=blocked_by,
    )


def _configuration_failure(
    target: CancelTarget, submission: Submission, exc: ConfigurationError
) -> AttemptResult:
    """Nothing sent: this site's LAAFFIC settings are incomplete. The row keeps the
    error's text (for the administrator) and says so in the reader's language."""
    try:
        return _unsent(
            target,
            submission,
            timezone.now(),
            Outcome.FAILED,
            str(exc),
            not_sent=NotSent.SETTINGS,
            configuration=True,
        )
    except DatabaseError:
        logger.exception("Could not record a cancel attempt")
        return AttemptResult(
            target, Outcome.FAILED, detail=str(exc), recorded=False, configuration=True
        )


def _unreadable(target: CancelTarget, exc: Exception) -> Answer:
    """The fresh read failed, so nothing was sent: the row keeps the error's text, and
    says so in the reader's language."""
    if isinstance(exc, LaafficError):
        error = str(exc)
    else:  # e.g. the mirror could not store what was read
        logger.exception("Fresh read of %s %s failed", target.cancel_type, target.target_id)
        error = type(exc).__name__
    return Answer(Outcome.FAILED, error_detail=error, not_sent=NotSent.UNREADABLE, hint=_hint(exc))


def _close(
    attempt: CancelAttempt,
    target: CancelTarget,
    answer: Answer,
    preflight: Preflight | None = None,
    scope: Scope = NO_SCOPE,
    reads: Sequence[FetchedDetail] = (),
) -> AttemptResult:
    """The answer on the attempt's own row, what was read in the mirror, the doubt on the
    tasks settled, the signals."""
    answer, recorded, seen = _record(attempt, target, answer, preflight, scope, reads)
    if recorded:
        send_cancel_attempted(attempt)
    return AttemptResult(
        target,
        answer.outcome,
        attempt_id=attempt.pk,
        http_status=answer.http_status,
        response_code=answer.response_code,
        response_message=answer.response_message,
        code_name=answer.code_name,
        hint=answer.hint,
        detail=answer.error_detail,
        not_sent=answer.not_sent,
        covered_nodes=preflight.covered_nodes if preflight is not None else (),
        task_keys=preflight.task_keys if preflight is not None and preflight.send else (),
        confirmed_by_reread=answer.confirmed_by_reread,
        mirror_confirmed=answer.mirror_confirmed,
        recorded=recorded,
        seen=seen,
    )


def _record(
    attempt: CancelAttempt,
    target: CancelTarget,
    answer: Answer,
    preflight: Preflight | None,
    scope: Scope,
    reads: Sequence[FetchedDetail],
) -> tuple[Answer, bool, tuple[RecallTask, ...]]:
    """Write the reads, the mark of a success the re-read did not show, the row and the
    settled doubt in one transaction; (the answer as recorded, whether the row was
    written, the tasks as stored). Should that fail, each is tried on its own: a mirror
    that cannot be written never keeps the row open, nor a row that cannot be written
    the mirror stale."""
    fields = _row_fields(target, answer, preflight, scope)
    read = {item.detail.key_id for item in reads}
    try:
        with transaction.atomic():
            settled: set[int] = set()
            if answer.outcome != Outcome.UNKNOWN:
                task_key_id = fields.get("task_key_id", attempt.task_key_id)
                settled = audit.concerned_keys(*target.key, task_key_id)
            if not settled <= read:
                audit.lock_tasks(settled | read)  # before the audit chain's lock
            changes = write_details(reads)
            if preflight is not None and _to_mark(answer):
                remote.mark_cancelled(preflight, target)
            audit.finish(attempt, **fields)
            audit.settle_doubt(settled, locked=settled | read)
    except Exception:
        logger.warning(
            "Could not close cancel attempt %s in one transaction; writing each part apart",
            attempt.pk,
            exc_info=True,
        )
        # The row as stored: a link decided in the rolled-back transaction is not its.
        attempt.refresh_from_db(fields=["chain_seq", "chain_mac", "seal_mac"])
        return _record_apart(attempt, target, answer, preflight, scope, reads)
    _send_synced(changes)
    return answer, True, changes.stored


def _record_apart(
    attempt: CancelAttempt,
    target: CancelTarget,
    answer: Answer,
    preflight: Preflight | None,
    scope: Scope,
    reads: Sequence[FetchedDetail],
) -> tuple[Answer, bool, tuple[RecallTask, ...]]:
    """``_record``'s parts, each in its own transaction, each failure logged."""
    seen: tuple[RecallTask, ...] = ()
    if reads:
        try:
            changes = store_details(reads)
        except Exception:
            keys = sorted({item.detail.key_id for item in reads})
            logger.exception("Could not store the re-read of task(s) %s", keys)
            answer = remote.unstored(answer)
        else:
            _send_synced(changes)
            seen = changes.stored
    if preflight is not None and _to_mark(answer):
        try:
            with transaction.atomic():
                remote.mark_cancelled(preflight, target)
        except DatabaseError:
            logger.exception("Could not mark the mirror of %s", target.key)
    try:
        with transaction.atomic():
            audit.finish(attempt, **_row_fields(target, answer, preflight, scope))
    except Exception:
        logger.exception(
            "Cancel %s %s ended %s but its audit row %s could not be written; it stays "
            "pending until a sync of the task settles it",
            target.cancel_type,
            target.target_id,
            answer.outcome,
            attempt.pk,
        )
        return answer, False, seen
    if answer.outcome != Outcome.UNKNOWN:
        try:
            with transaction.atomic():
                audit.settle_attempt_doubt(attempt)
        except DatabaseError:
            logger.exception("Could not clear cancel_in_doubt of task %s", attempt.task_key_id)
    return answer, True, seen


def _to_mark(answer: Answer) -> bool:
    """Whether the mirror is to be marked Cancelled: a success the re-read did not show."""
    return answer.outcome == Outcome.SUCCEEDED and not answer.mirror_confirmed


def _send_synced(changes: DetailChanges) -> None:
    """``task_synced`` for what a cancel's reads changed; a host's failing receiver is
    logged, never the cancel's failure."""
    try:
        changes.send_synced()
    except Exception:
        logger.exception("A task_synced receiver failed")


def _row_fields(
    target: CancelTarget, answer: Answer, preflight: Preflight | None, scope: Scope
) -> dict[str, Any]:
    """The attempt row's fields for ``answer``. The row names the task and node the fresh
    read found: a parent's Pending task may differ from the one the mirror suggested; a
    node LAAFFIC no longer lists was removed."""
    fields = answer.row_fields()
    if target.cancel_type == CancelType.PARENT and scope.task_keys:
        covers = _("Recall tasks of this parent task: %(keys)s.") % {
            "keys": ", ".join(f"#{key}" for key in scope.task_keys)
        }
        fields["error_detail"] = audit.join_notes(fields["error_detail"], covers)
    if preflight is None or not preflight.send:
        fields["request_body"] = None  # nothing was sent
    if preflight is not None and not preflight.send:
        seen = preflight.node if target.cancel_type == CancelType.NODE else preflight.task
        fields["seen_status"] = seen.status if seen is not None else None
    if preflight is not None and preflight.task is not None:
        fields.update(task=preflight.task, task_key_id=preflight.task.key_id)
    if preflight is not None and target.cancel_type == CancelType.NODE:
        fields["node"] = preflight.node
    return fields
