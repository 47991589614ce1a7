"""Cancel LAAFFIC auto-recall tasks for a person, audited, and never sent twice by accident.

``cancel(targets, submission)`` is the one entry point (the admin calls it). Per target:
a fresh ``queryDetail`` (a parent task id typed by hand is first found with
``queryPage``) -> skipped if not Pending -> a pending ``CancelAttempt`` committed -> one
``cancel`` call, never retried -> the outcome on the same row -> a re-read that updates the
mirror (or, if it fails after a success, marks the mirror Cancelled and ``unconfirmed``)
-> ``cancel_attempted``. Targets of one call run ``CANCEL_WORKERS`` at a time.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import DatabaseError, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import audit, preflight, sync
from .audit import Submission, status_label
from .cancel_results import AttemptResult, BatchTooLarge, CancelReport, CancelTarget, ParentLookup
from .client import (
    ApiError,
    ConfigurationError,
    LaafficClient,
    LaafficError,
    OutcomeUnknownError,
    TransportError,
)
from .conf import app_settings, get_client
from .models import CancelType, Outcome, RecallNode, RecallTask, Status
from .preflight import Preflight

__all__ = [
    "AttemptResult",
    "BatchTooLarge",
    "CancelReport",
    "CancelTarget",
    "ParentLookup",
    "Submission",
    "cancel",
    "look_up_parent",
]

logger = logging.getLogger("laaffic_recall")


# --------------------------------------------------------------------------- entry points


def cancel(targets: Sequence[CancelTarget], submission: Submission) -> CancelReport:
    """Cancel each target once, with bounded concurrency; never raises for a target's failure.

    Raises ``BatchTooLarge`` (before anything is done) past ``MAX_CANCEL_BATCH`` targets.
    """
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
        # Run here, one by one: inside the caller's transaction (ATOMIC_REQUESTS, a test)
        # worker threads could not see its uncommitted rows and might wait on its locks;
        # SQLite takes one writer at a time anyway.
        with get_client() as client:
            results = [_guarded(t, submission, client) for t in unique]
    else:
        results = _run_threaded(unique, submission, workers)
    return CancelReport(submission.correlation_id, tuple(results))


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
    except DatabaseError:
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

    def unsent(outcome: str, row_detail: str, fresh: Preflight | None = None, **extra):
        row = audit.record_unsent(
            submission,
            cancel_type=target.cancel_type,
            target_id=target.target_id,
            outcome=outcome,
            error_detail=row_detail,
            started_at=started,
            task=fresh.task if fresh else None,
            node=fresh.node if fresh else None,
        )
        audit.announce(row)
        extra.setdefault("detail", row_detail)
        return AttemptResult(target, outcome, attempt_id=row.pk, **extra)

    # 1. The state right now, never the mirror's.
    try:
        fresh = preflight.check(target, client)
    except LaafficError as exc:
        detail = _("it could not be re-read from LAAFFIC first, so nothing was sent: %(error)s")
        return unsent(Outcome.FAILED, detail % {"error": exc}, hint=getattr(exc, "hint", ""))
    if not fresh.send:
        return unsent(Outcome.SKIPPED, fresh.reason, fresh)

    # 2. The audit row, committed before the request leaves; one in flight per target.
    body = {"type": int(target.cancel_type), "id": target.target_id}
    try:
        attempt = audit.open_attempt(
            submission,
            cancel_type=target.cancel_type,
            target_id=target.target_id,
            task=fresh.task,
            node=fresh.node,
            started_at=started,
            request_body=body,
        )
    except audit.AlreadyInFlight as exc:
        other = exc.existing
        detail = _("It was started by %(user)s at %(when)s.") % {
            "user": other.username or _("someone"),
            "when": timezone.localtime(other.started_at).strftime("%Y-%m-%d %H:%M:%S"),
        }
        return unsent(
            Outcome.REFUSED, audit.IN_PROGRESS_DETAIL, fresh, detail=detail, in_flight=True
        )
    progress.attempt_id = attempt.pk

    # 3. The call, exactly once.
    fields, hint, code_name = _send(client, target, progress)

    # 4. What LAAFFIC now says: settles an unclear answer, and updates the mirror.
    if fields["outcome"] in (Outcome.SUCCEEDED, Outcome.UNKNOWN, Outcome.REFUSED):
        _after_call(fields, fresh, target, client)

    # 5. The outcome on the same row, then the signal.
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
                audit.settle_doubt(attempt.task_key_id)
            except DatabaseError:
                logger.exception("Could not clear cancel_in_doubt of task %s", attempt.task_key_id)
        audit.announce(attempt)
    return AttemptResult(
        target,
        fields["outcome"],
        attempt_id=attempt.pk,
        http_status=fields.get("http_status"),
        response_code=fields.get("response_code"),
        response_message=fields.get("response_message", ""),
        code_name=code_name,
        hint=hint,
        detail=fields.get("error_detail", ""),
        confirmed_by_reread=fields.get("confirmed_by_reread", False),
        mirror_confirmed=fields.get("mirror_confirmed"),
        recorded=recorded,
    )


def _send(client: LaafficClient, target: CancelTarget, progress: _Progress):
    """One cancel call, classified: (row fields, hint for the agent, code name)."""
    progress.sent = True
    try:
        answer = client.cancel(int(target.cancel_type), target.target_id)
    except ApiError as exc:
        detail = f"{exc.code_name}. {exc.hint}" if exc.hint else exc.code_name
        fields = {
            "outcome": Outcome.REFUSED,
            "http_status": exc.http_status,
            "response_code": exc.code,
            "response_message": exc.message,
            "error_detail": detail,
        }
        return fields, exc.hint, exc.code_name
    except OutcomeUnknownError as exc:
        return _transport_fields(Outcome.UNKNOWN, exc), "", ""
    except TransportError as exc:
        return _transport_fields(Outcome.FAILED, exc), "", ""
    except Exception as exc:
        logger.exception("Unexpected error while sending cancel %s", target.key)
        detail = _("unexpected %(error)s while sending; the request may have reached LAAFFIC")
        return (
            {"outcome": Outcome.UNKNOWN, "error_detail": detail % {"error": type(exc).__name__}},
            "",
            "",
        )
    fields = {
        "outcome": Outcome.SUCCEEDED,
        "http_status": answer.http_status,
        "response_code": answer.code,
        "response_message": answer.message,
    }
    return fields, "", ""


def _transport_fields(outcome: str, exc: TransportError) -> dict:
    detail = str(exc)
    if exc.body_excerpt and exc.body_excerpt not in detail:
        detail += f" {exc.body_excerpt}"
    return {"outcome": outcome, "http_status": exc.http_status, "error_detail": detail}


def _after_call(
    fields: dict, fresh: Preflight, target: CancelTarget, client: LaafficClient
) -> None:
    """Re-read the task(s); settle an unknown answer; mark the mirror if the re-read fails."""
    state, error = _reread(fresh, target, client)
    notes = [fields.get("error_detail", "")]
    if fields["outcome"] == Outcome.UNKNOWN:
        if state == Status.CANCELLED:
            fields["outcome"] = Outcome.SUCCEEDED
            fields["confirmed_by_reread"] = True
            notes.append(_("A re-read right after shows it Cancelled."))
        elif state is None and error:
            notes.append(_("The re-read right after failed too: %(error)s") % {"error": error})
        elif state is None:
            notes.append(_("A re-read right after no longer lists it."))
        else:
            notes.append(
                _("A re-read right after shows it %(status)s.") % {"status": status_label(state)}
            )
    if fields["outcome"] != Outcome.SUCCEEDED:
        fields["mirror_confirmed"] = not error
    elif state == Status.CANCELLED and not error:
        fields["mirror_confirmed"] = True
    else:
        fields["mirror_confirmed"] = False
        _mark_cancelled(fresh, target)
        if error:
            notes.append(_("The re-read after the cancel failed: %(error)s") % {"error": error})
        else:
            notes.append(
                _("A re-read right after still shows it %(status)s.")
                % {"status": status_label(state)}
            )
    fields["error_detail"] = " ".join(n for n in notes if n).strip()


def _reread(
    fresh: Preflight, target: CancelTarget, client: LaafficClient
) -> tuple[int | None, str]:
    """(the target's status at LAAFFIC now, or None; an error text if the re-read failed)."""
    try:
        details = [client.query_detail(key) for key in fresh.task_keys]
    except LaafficError as exc:
        return None, str(exc)
    if not details:
        return None, ""
    main = details[0]
    if target.cancel_type == CancelType.NODE:
        state = next((n.status for n in main.nodes if n.key_id == target.target_id), None)
    else:
        state = main.status
    try:
        for detail in details:
            sync.store_detail(detail)
    except DatabaseError:
        logger.exception("Could not store the re-read of task(s) %s", fresh.task_keys)
        return state, _("the mirror could not be updated (database error)")
    return state, ""


def _mark_cancelled(fresh: Preflight, target: CancelTarget) -> None:
    """Mark the mirror as LAAFFIC should now be, flagged ``unconfirmed`` until the next sync."""
    try:
        with transaction.atomic():
            if target.cancel_type == CancelType.NODE and fresh.node is not None:
                RecallNode.objects.filter(
                    task__key_id=fresh.node.task.key_id,
                    position__gte=fresh.node.position,
                    status=Status.PENDING,
                ).update(status=Status.CANCELLED, unconfirmed=True)
            elif target.cancel_type != CancelType.NODE:
                RecallTask.objects.filter(key_id__in=fresh.task_keys).update(
                    status=Status.CANCELLED, unconfirmed=True
                )
    except DatabaseError:
        logger.exception("Could not mark the mirror of %s %s", target.cancel_type, target.target_id)
