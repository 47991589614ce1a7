"""Cancel LAAFFIC auto-recall tasks for a person, audited, and never sent twice by accident.

``cancel(targets, submission)`` is the one entry point (the admin calls it). Per target:
its task(s) from the mirror (a parent task id typed by hand is first found with
``queryPage``) -> a pending ``CancelAttempt`` committed, or a local refusal if another
cancel of the task is in flight or in doubt -> a fresh ``queryDetail`` -> the row finished
as skipped if not Pending, else one ``cancel`` call, never retried -> the outcome on the
same row -> a re-read that updates the mirror (or, if it fails after a success, marks the
mirror Cancelled and ``unconfirmed``) -> ``cancel_attempted``. Targets of one call run
``CANCEL_WORKERS`` at a time. Committing the row before the fresh read is what makes a
read answered before another agent's whole cancel harmless: that agent is refused.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import DatabaseError, connections, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from django.utils.translation import gettext as _

from . import audit, cancel_call, cancel_guard, preflight
from .audit import Submission
from .cancel_results import (
    AttemptResult,
    BatchTooLarge,
    CancelBlocker,
    CancelReport,
    CancelTarget,
    ParentLookup,
)
from .client import (
    ConfigurationError,
    LaafficClient,
    LaafficError,
)
from .conf import app_settings, get_client
from .models import CancelAttempt, CancelType, Outcome, RecallTask, fits_code
from .preflight import Preflight, Scope

__all__ = [
    "AttemptResult",
    "BatchTooLarge",
    "CancelBlocker",
    "CancelInTransactionError",
    "CancelReport",
    "CancelTarget",
    "ParentLookup",
    "Submission",
    "cancel",
    "cancel_blockers",
    "look_up_parent",
]

logger = logging.getLogger("laaffic_recall")


# --------------------------------------------------------------------------- entry points


class CancelInTransactionError(TransactionManagementError):
    """``cancel()`` was called inside a transaction; nothing was read, written or sent."""


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
    limit = int(app_settings.MAX_CANCEL_BATCH)
    if len(unique) > limit:
        raise BatchTooLarge(len(unique), limit)
    try:
        get_client().close()
    except ConfigurationError as exc:
        results = [_config_failure(t, submission, exc) for t in unique]
        return CancelReport(submission.correlation_id, tuple(results))
    workers = max(1, min(int(app_settings.CANCEL_WORKERS), len(unique)))
    db = transaction.get_connection()
    if workers == 1 or db.in_atomic_block or db.vendor == "sqlite":
        # Run here, one by one: inside a test case's transaction worker threads could not
        # see its uncommitted rows and might wait on its locks; SQLite takes one writer at
        # a time anyway.
        with get_client() as client:
            results = [_guarded(t, submission, client) for t in unique]
    else:
        results = _run_threaded(unique, submission, workers)
    return CancelReport(submission.correlation_id, tuple(results))


def cancel_blockers(tasks: Iterable[RecallTask]) -> dict[int, CancelBlocker]:
    """The tasks (by key) a cancel would be refused for now, and why: another cancel in
    flight, or one whose outcome is unknown (refresh the task first). For confirmation
    pages; ``CancelBlocker.describe()`` says it for an agent."""
    return cancel_guard.blockers(tasks)


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


def look_up_parent(parent_task_id: int, *, client: LaafficClient | None = None) -> ParentLookup:
    """Find and mirror the recall tasks of a parent task id (queryPage's exact id search)."""
    own = client is None
    try:
        client = client or get_client()
        return ParentLookup(
            parent_task_id, tuple(preflight.find_parent_tasks(parent_task_id, client))
        )
    except LaafficError as exc:
        return ParentLookup(parent_task_id, error=str(exc))
    except (DatabaseError, OverflowError):  # SQLite refuses an id beyond 64 bits this way
        logger.exception("Could not mirror the tasks of parent task %s", parent_task_id)
        return ParentLookup(parent_task_id, error=_("Database error while storing the tasks."))
    finally:
        if own and client is not None:
            client.close()


# --------------------------------------------------------------------------- running


def _run_threaded(
    targets: list[CancelTarget], submission: Submission, workers: int
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
                    results[index] = _guarded(target, submission, client)
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
    sent: bool = False
    attempt_id: int | None = None


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


def _config_failure(target: CancelTarget, submission: Submission, exc: Exception):
    started = timezone.now()
    try:
        row = audit.record_unsent(
            submission,
            cancel_type=target.cancel_type,
            target_id=target.target_id,
            outcome=Outcome.FAILED,
            error_detail=str(exc),
            started_at=started,
        )
    except DatabaseError:
        logger.exception("Could not record a cancel attempt")
        return AttemptResult(target, Outcome.FAILED, detail=str(exc), recorded=False)
    audit.announce(row)
    return AttemptResult(target, Outcome.FAILED, attempt_id=row.pk, detail=str(exc))


def _cancel_one(
    target: CancelTarget, submission: Submission, client: LaafficClient, progress: _Progress
) -> AttemptResult:
    started = timezone.now()

    def unsent(outcome: str, row_detail: str, scope: Scope | None = None, **extra):
        row = audit.record_unsent(
            submission,
            cancel_type=target.cancel_type,
            target_id=target.target_id,
            outcome=outcome,
            error_detail=row_detail,
            started_at=started,
            task=scope.task if scope else None,
            node=scope.node if scope else None,
            task_key_id=scope.task_key_id if scope else None,
        )
        audit.announce(row)
        extra.setdefault("detail", row_detail)
        return AttemptResult(target, outcome, attempt_id=row.pk, **extra)

    # 1. Which task(s) it concerns: the mirror, or queryPage for a parent id typed by hand.
    try:
        scope = preflight.resolve(target, client)
    except LaafficError as exc:
        detail = _("it could not be looked up at LAAFFIC, so nothing was sent: %(error)s")
        return unsent(Outcome.FAILED, detail % {"error": exc}, hint=getattr(exc, "hint", ""))
    if scope.skip:
        return unsent(Outcome.SKIPPED, scope.skip, scope)

    # 2. The audit row, committed before the fresh read and the request; one per task.
    try:
        attempt = audit.open_attempt(
            submission,
            cancel_type=target.cancel_type,
            target_id=target.target_id,
            task=scope.task,
            node=scope.node,
            task_key_id=scope.task_key_id,
            task_keys=scope.task_keys,
            started_at=started,
            request_body={"type": int(target.cancel_type), "id": target.target_id},
        )
    except cancel_guard.CancelBlocked as exc:
        blocker = exc.blocker
        return unsent(
            Outcome.REFUSED,
            blocker.record_detail(),
            scope,
            detail=blocker.describe(),
            in_flight=not blocker.in_doubt,
            in_doubt=blocker.in_doubt,
            blocker=blocker,
        )
    progress.attempt_id = attempt.pk

    # 3. The state right now, never the mirror's.
    try:
        fresh = preflight.check(target, scope, client)
    except Exception as exc:
        if isinstance(exc, LaafficError):
            error = str(exc)
        else:  # e.g. the mirror could not store what was read
            logger.exception("Fresh read of %s %s failed", target.cancel_type, target.target_id)
            error = _("unexpected %(error)s") % {"error": type(exc).__name__}
        detail = _("it could not be re-read from LAAFFIC first, so nothing was sent: %(error)s")
        fields = {
            "outcome": Outcome.FAILED,
            "error_detail": detail % {"error": error},
            "request_body": None,  # nothing was sent
        }
        return _close(attempt, target, fields, hint=getattr(exc, "hint", ""))
    if not fresh.send:
        fields = {"outcome": Outcome.SKIPPED, "error_detail": fresh.reason, "request_body": None}
        return _close(attempt, target, _on_fresh(fields, fresh, target))

    # 4. The call, exactly once.
    progress.sent = True
    fields, hint, code_name = cancel_call.send(client, target)

    # 5. What LAAFFIC now says: settles an unclear answer, and updates the mirror.
    if fields["outcome"] in (Outcome.SUCCEEDED, Outcome.UNKNOWN, Outcome.REFUSED):
        cancel_call.after_call(fields, fresh, target, client)
    return _close(
        attempt,
        target,
        _on_fresh(fields, fresh, target),
        hint=hint,
        code_name=code_name,
        covered_nodes=fresh.covered_nodes,
    )


def _on_fresh(fields: dict, fresh: Preflight, target: CancelTarget) -> dict:
    """Record the attempt on the task and node the fresh read found: a parent's Pending
    task may differ from the one the mirror suggested; a node LAAFFIC no longer lists was
    removed from the mirror."""
    if fresh.task is not None:
        fields.update(task=fresh.task, task_key_id=fresh.task.key_id)
    if target.cancel_type == CancelType.NODE:
        fields["node"] = fresh.node
    return fields


def _close(attempt: CancelAttempt, target: CancelTarget, fields: dict, **extra) -> AttemptResult:
    """The outcome on the attempt's own row, the doubt on its tasks settled, the signal."""
    code = fields.get("response_code")
    if not fits_code(code):
        fields["response_code"] = None
        note = _("LAAFFIC answered code %(code)s.") % {"code": code}
        fields["error_detail"] = " ".join(filter(None, [note, fields.get("error_detail", "")]))
    recorded = True
    try:
        audit.finish(attempt, **fields)
    except Exception:
        recorded = False
        logger.exception(
            "Cancel %s %s ended %s but its audit row %s could not be written; it stays "
            "pending until a sync of the task settles it",
            target.cancel_type,
            target.target_id,
            fields["outcome"],
            attempt.pk,
        )
    if recorded:
        if fields["outcome"] != Outcome.UNKNOWN:
            try:
                audit.settle_attempt_doubt(attempt)
            except DatabaseError:
                logger.exception("Could not clear cancel_in_doubt of task %s", attempt.task_key_id)
        audit.announce(attempt)
    return AttemptResult(
        target,
        fields["outcome"],
        attempt_id=attempt.pk,
        http_status=fields.get("http_status"),
        response_code=code,
        response_message=fields.get("response_message", ""),
        detail=fields.get("error_detail", ""),
        confirmed_by_reread=fields.get("confirmed_by_reread", False),
        mirror_confirmed=fields.get("mirror_confirmed"),
        recorded=recorded,
        **extra,
    )
