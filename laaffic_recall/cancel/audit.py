"""The cancel audit trail: who asked, the ``CancelAttempt`` rows, and one cancel per task.

An attempt that may send a request is inserted ``pending`` in its own committed (durable)
transaction before its fresh read and its request, so a crash, a killed worker or a lost
connection still leaves a trace. Opening it is where the guard holds: a task is blocked
while an attempt that concerns it is open, pending (in flight) or unknown or stale pending
(in doubt until a refresh of the task settles it), whatever the cancel type. An attempt
concerns the task it is recorded on (``task_key_id``) and, for a cancel by parent task id,
every mirrored task of that parent. ``open_attempt`` checks this under row locks on the
tasks and inserts its pending row in the same transaction; the partial unique constraints
on pending rows back it up in the database, whichever process it runs in. Attempts left
open are settled from the real state by the next sync of their task (``reconcile.py``).
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

from django.db import IntegrityError, transaction
from django.db.models import Exists, Field, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from ..conf import app_settings
from ..models import (
    OPEN_OUTCOMES,
    AppendOnlyError,
    CancelAttempt,
    CancelSubmission,
    CancelType,
    Outcome,
    RecallTask,
    fits_code,
)
from ..transactions import savepoint_if_nested
from .results import NO_SCOPE, BlockingAttempt, CancelTarget, Scope

logger = logging.getLogger("laaffic_recall")


@dataclass(frozen=True)
class Submission:
    """Who asked for a cancel, from where and why; shared by the attempts of one confirmation.

    ``visible`` is what this user may see of the mirror (the task admin's
    ``get_queryset(request)``, which a host may narrow, e.g. to a team), or None for no
    restriction (code, commands): the service sends nothing that would stop a task outside it.
    """

    user: Any = None
    username: str = ""
    client_ip: str | None = None
    reason: str = ""
    correlation_id: uuid.UUID = field(default_factory=uuid.uuid4)
    visible: QuerySet[RecallTask] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_request(
        cls,
        request: Any,
        reason: str = "",
        correlation_id: uuid.UUID | None = None,
        visible: QuerySet[RecallTask] | None = None,
    ) -> Submission:
        user = getattr(request, "user", None)
        if user is not None and not user.is_authenticated:
            user = None
        return cls(
            user=user,
            username=user.get_username() if user is not None else "",
            client_ip=client_ip(request.META),
            reason=(reason or "").strip(),
            correlation_id=correlation_id or uuid.uuid4(),
            visible=visible,
        )


def narrows(queryset: QuerySet) -> bool:
    """Whether ``queryset`` may leave out some rows of its table (a filter or a slice)."""
    return bool(queryset.query.has_filters()) or queryset.query.is_sliced


def hidden_keys(visible: QuerySet | None, keys: Iterable[int]) -> set[int]:
    """The recall keys among ``keys`` outside ``visible`` (what a user may see of the
    mirror; None: every task)."""
    wanted = set(keys)
    if visible is None or not wanted:
        return set()
    return wanted - set(visible.filter(key_id__in=wanted).values_list("key_id", flat=True))


def client_ip(meta: Mapping[str, Any], trusted_proxies: int | None = None) -> str | None:
    """The admin user's address: ``REMOTE_ADDR``, or X-Forwarded-For per TRUSTED_PROXY_COUNT.

    With N trusted proxies in front of the site, the client is the N-th address from the
    right of X-Forwarded-For (the one the outermost trusted proxy saw); anything left of
    it could have been forged by the client. A shorter header falls back to REMOTE_ADDR.
    """
    count = app_settings.TRUSTED_PROXY_COUNT if trusted_proxies is None else trusted_proxies
    remote = _ip(meta.get("REMOTE_ADDR"))
    if count <= 0:
        return remote
    hops = [h.strip() for h in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",") if h.strip()]
    if len(hops) < count:
        return remote
    return _ip(hops[-count]) or remote


def _ip(value: Any) -> str | None:
    text = str(value or "").strip()
    candidates = [text]
    if text.startswith("[") and "]" in text:  # [::1]:8080
        candidates.append(text[1 : text.index("]")])
    elif text.count(":") == 1:  # 10.0.0.1:8080
        candidates.append(text.split(":")[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


# --------------------------------------------------------------------------- one submission


def claim_submission(token: uuid.UUID, username: str) -> tuple[CancelSubmission, bool]:
    """(the submission of this confirmation token, whether this request claimed it).

    Committed at once, before anything is sent: a second POST of the same token finds
    the first's row (in progress while ``finished_at`` is empty) and must start nothing.
    """
    try:
        with savepoint_if_nested():
            row = CancelSubmission.objects.create(token=token, username=username[:150])
        return row, True
    except IntegrityError:
        return CancelSubmission.objects.get(token=token), False


def finish_submission(row: CancelSubmission, summary: Any, level: str) -> None:
    """Keep what the agent was told (as values, worded again in the reader's language), to
    say it again to a repeated POST."""
    row.summary, row.level, row.finished_at = summary, level, timezone.now()
    row.save(update_fields=["summary", "level", "finished_at"])


# --------------------------------------------------------------------------- the guard


class CancelBlocked(Exception):
    """Another attempt keeps the task from being cancelled now; nothing may be sent."""

    def __init__(self, existing: CancelAttempt):
        self.existing = existing
        self.blocked_by = BlockingAttempt.of(existing)
        state = "in doubt" if self.blocked_by.in_doubt else "in flight"
        super().__init__(f"cancel attempt {existing.pk} of task {existing.task_key_id} {state}")

    @property
    def in_doubt(self) -> bool:
        return self.blocked_by.in_doubt


def parent_ids(task_keys: Collection[int]) -> list[int]:
    """The parent task ids of the mirrored tasks among ``task_keys``."""
    if not task_keys:
        return []
    parents = (
        RecallTask.objects.filter(key_id__in=list(task_keys), parent_task_id__isnull=False)
        .values_list("parent_task_id", flat=True)
        .distinct()
    )
    return [parent for parent in parents if parent is not None]


def concerning(task_keys: Collection[int], parents: Collection[int]) -> Q:
    """Attempts recorded on one of the tasks, or cancelling one of their parents."""
    condition = Q(task_key_id__in=list(task_keys))
    if parents:
        condition |= Q(cancel_type=CancelType.PARENT, target_id__in=list(parents))
    return condition


def open_rows(
    cancel_type: int, target_id: int, task_keys: Collection[int], parents: Collection[int]
) -> list[CancelAttempt]:
    """The open attempts on this target, on one of the tasks, or cancelling one of their
    ``parents``, newest first."""
    condition = concerning(task_keys, parents) | Q(cancel_type=cancel_type, target_id=target_id)
    return list(
        CancelAttempt.objects.filter(condition, outcome__in=list(OPEN_OUTCOMES)).order_by(
            "-started_at", "-id"
        )
    )


def blocking_row(rows: list[CancelAttempt]) -> CancelAttempt:
    """Of the open attempts ``rows`` (some), the one that blocks a new cancel: one in
    flight is named first (wait for it); else one in doubt (refresh first)."""
    live = [r for r in rows if r.effective_outcome == Outcome.PENDING]
    return (live or rows)[0]


def blocking_attempts(tasks: Iterable[RecallTask]) -> dict[int, BlockingAttempt]:
    """The tasks (by key) a cancel would be refused for now, and why: another cancel in
    flight, or one whose outcome is unknown (refresh the task first)."""
    tasks = list(tasks)
    keys = {t.key_id for t in tasks}
    parents = {t.parent_task_id for t in tasks if t.parent_task_id is not None}
    if not keys:
        return {}
    rows = CancelAttempt.objects.filter(
        concerning(keys, parents), outcome__in=list(OPEN_OUTCOMES)
    ).order_by("-started_at", "-id")
    found: dict[int, BlockingAttempt] = {}
    for row in rows:
        blocking = BlockingAttempt.of(row)
        hit = keys & {row.task_key_id}
        if row.cancel_type == CancelType.PARENT:
            hit |= {t.key_id for t in tasks if t.parent_task_id == row.target_id}
        for key in hit:
            known = found.get(key)
            if known is None or (known.in_doubt and not blocking.in_doubt):
                found[key] = blocking
    return found


def concerned_task_keys(attempt: CancelAttempt) -> set[int]:
    """The mirrored tasks an attempt concerns (its own, and a parent's other tasks)."""
    return concerned_keys(attempt.cancel_type, attempt.target_id, attempt.task_key_id)


def concerned_keys(cancel_type: int, target_id: int, task_key_id: int | None) -> set[int]:
    """The mirrored tasks an attempt of this target recorded on ``task_key_id`` concerns."""
    keys = {task_key_id} if task_key_id is not None else set()
    if cancel_type == CancelType.PARENT:
        keys.update(
            RecallTask.objects.filter(parent_task_id=target_id).values_list("key_id", flat=True)
        )
    return keys


def lock_tasks(task_key_ids: Iterable[int]) -> None:
    """Lock the rows of these tasks, in key order, until the end of the transaction.

    A transaction that finishes an attempt locks every row it writes before
    ``CancelAttempt.save()`` takes the audit chain's lock, as every writer of the chain
    does: none then waits for a row while holding it.
    """
    locked = RecallTask.objects.filter(key_id__in=sorted(set(task_key_ids))).order_by("key_id")
    list(locked.select_for_update().values_list("pk", flat=True))


def _base_fields(
    submission: Submission, target: CancelTarget, scope: Scope, started_at: datetime
) -> dict[str, Any]:
    return {
        "correlation_id": submission.correlation_id,
        "user": submission.user,
        "username": submission.username[:150],
        "client_ip": submission.client_ip,
        "reason": submission.reason,
        "cancel_type": target.cancel_type,
        "target_id": target.target_id,
        "task": scope.task,
        "task_key_id": scope.task_key_id,
        "node": scope.node,
        "started_at": started_at,
    }


def open_attempt(
    submission: Submission, target: CancelTarget, scope: Scope, started_at: datetime
) -> CancelAttempt:
    """Commit a pending row for a cancel about to be checked and sent, recorded on the
    scope's task, or raise ``CancelBlocked`` when another attempt on one of the tasks the
    cancel concerns (a parent's several tasks) is in flight or in doubt.

    Pending rows left behind by a dead worker that block it become unknown (in doubt).
    Durable: raises ``RuntimeError`` inside an outer ``atomic()`` (the row must really be
    committed).
    """
    fields = _base_fields(submission, target, scope, started_at)
    own = [scope.task_key_id] if scope.task_key_id is not None else []
    keys = sorted({*scope.task_keys, *own})
    cancel_type, target_id = target.key
    for last_try in (False, True):
        attempt = CancelAttempt(**fields, outcome=Outcome.PENDING, request_body=target.request_body)
        try:
            with transaction.atomic(durable=True):
                # Lock order: task rows by key, then the attempt; see settle_doubt(). Under
                # the locks this statement sees every row committed by an earlier opener.
                locked = RecallTask.objects.filter(key_id__in=keys).order_by("key_id")
                found = dict(locked.select_for_update().values_list("pk", "parent_task_id"))
                parents = {parent for parent in found.values() if parent is not None}
                rows = open_rows(cancel_type, target_id, keys, parents)
                if not rows:
                    if attempt.task_id not in found:  # the task was removed from the mirror
                        attempt.task = None
                    attempt.save(force_insert=True)
                    mark_in_doubt(keys)
                    return attempt
        except IntegrityError:
            # A concurrent opener of an unmirrored task got there first (no row to lock).
            rows = open_rows(cancel_type, target_id, keys, parent_ids(keys))
            if not rows and last_try:
                raise
        if rows:
            _blocked(rows)
    raise AssertionError("unreachable")


def _blocked(rows: list[CancelAttempt]) -> NoReturn:
    """Refuse the new attempt for the open ``rows``; those left pending by a dead worker
    become unknown (in doubt) first."""
    stale = [row for row in rows if row.is_stale]
    expire(stale)
    exc = CancelBlocked(blocking_row(rows))
    if exc.in_doubt:
        # Make sure a refresh of the task settles it, also of a task the attempt concerns
        # that was mirrored after it was opened (a parent's later recall task).
        mark_in_doubt(concerned_task_keys(exc.existing))
    raise exc from None


def mark_in_doubt(task_key_ids: Iterable[int]) -> None:
    """Flag tasks whose cancel is in flight or unknown, so their next sync reconciles it."""
    keys = list(task_key_ids)
    if keys:
        RecallTask.objects.filter(key_id__in=keys, cancel_in_doubt=False).update(
            cancel_in_doubt=True
        )


def expire(rows: Iterable[CancelAttempt]) -> None:
    """Turn pending rows older than STALE_ATTEMPT_SECONDS into unknown: their worker most
    likely died, and the next refresh of the task settles them."""
    for row in rows:
        row.outcome = Outcome.UNKNOWN
        row.error_detail = join_notes(
            row.error_detail,
            _(
                "Still in flight after %(seconds)s seconds: its worker most likely stopped, "
                "so the outcome is unknown until a sync of the task settles it."
            )
            % {"seconds": app_settings.STALE_ATTEMPT_SECONDS},
        )
        try:
            row.save()
        except AppendOnlyError:  # finished meanwhile by its own worker
            continue
        mark_in_doubt(concerned_task_keys(row))


def record_unsent(
    submission: Submission,
    target: CancelTarget,
    outcome: str,
    error_detail: str,
    started_at: datetime,
    scope: Scope = NO_SCOPE,
    *,
    not_sent: str = "",
    blocked_by: int | None = None,
) -> CancelAttempt:
    """Append a finished row for an attempt that sent nothing (skipped, refused here, failed):
    why this app sent nothing (``NotSent``) and the open attempt that kept it from sending
    are kept as values, worded when the row is shown."""
    now = timezone.now()
    return CancelAttempt.objects.create(
        **_base_fields(submission, target, scope, started_at),
        outcome=outcome,
        not_sent=not_sent,
        blocked_by=blocked_by,
        error_detail=error_detail,
        finished_at=now,
        duration=now - started_at,
    )


def finish(attempt: CancelAttempt, **fields: Any) -> None:
    """Write the outcome of an attempt on its own (pending) row.

    Only the given fields and the times are written, so a user, task or node deleted
    meanwhile (their link set to NULL) is not written back. A vendor code beyond the
    column's 64 bits is kept in ``error_detail`` instead.
    """
    code = fields.get("response_code")
    if not fits_code(code):
        note = _("LAAFFIC answered code %(code)s.") % {"code": code}
        fields.update(
            response_code=None, error_detail=join_notes(note, fields.get("error_detail", ""))
        )
    for name, value in fields.items():
        setattr(attempt, name, value)
    attempt.finished_at = timezone.now()
    attempt.duration = attempt.finished_at - attempt.started_at
    names = {f.attname for f in map(attempt._meta.get_field, fields) if isinstance(f, Field)}
    attempt.save(update_fields=sorted(names | {"finished_at", "duration"}))


def settle_doubt(task_key_ids: int | Iterable[int] | None, locked: Collection[int] = ()) -> None:
    """Clear ``RecallTask.cancel_in_doubt`` of these tasks once no open attempt concerns them.

    ``locked``: keys of task rows the caller's transaction already holds locked.
    """
    if task_key_ids is None:
        return
    keys = sorted({task_key_ids} if isinstance(task_key_ids, int) else set(task_key_ids))
    if not keys:
        return
    with transaction.atomic(savepoint=False):
        # Lock the task rows first, as open_attempt() does, so a pending row committed by a
        # concurrent opener is seen by the statement below.
        unlocked = [key for key in keys if key not in locked]
        if unlocked:
            in_doubt = RecallTask.objects.filter(key_id__in=unlocked, cancel_in_doubt=True)
            found = in_doubt.order_by("key_id").select_for_update().values_list("pk")
            if not list(found) and len(unlocked) == len(keys):
                return  # none of them in doubt
        still_open = CancelAttempt.objects.filter(
            Q(task_key_id=OuterRef("key_id"))
            | Q(cancel_type=CancelType.PARENT, target_id=OuterRef("parent_task_id")),
            outcome__in=list(OPEN_OUTCOMES),
        )
        RecallTask.objects.filter(key_id__in=keys, cancel_in_doubt=True).exclude(
            Exists(still_open)
        ).update(cancel_in_doubt=False)


def settle_attempt_doubt(attempt: CancelAttempt) -> None:
    """``settle_doubt`` for every task a finished attempt concerned."""
    settle_doubt(concerned_task_keys(attempt))


def join_notes(*parts: str) -> str:
    """Sentences of an ``error_detail``, blank ones left out."""
    return " ".join(p.strip() for p in parts if p and p.strip())
