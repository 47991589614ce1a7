"""What a cancel asks of LAAFFIC: the task(s) a target concerns, their state now, the one
request (never retried), and the re-read that settles an unclear answer.

``resolve`` reads no state, so that the attempt's pending row is committed on the task(s)
before ``check`` reads them.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from ..client.errors import ApiError, LaafficError, OutcomeUnknownError, TransportError
from ..client.http import LaafficClient
from ..client.wire import TaskRecord
from ..conf import app_settings
from ..models import (
    CancelType,
    NotSent,
    Outcome,
    RecallNode,
    RecallTask,
    SettledBy,
    Status,
    status_label,
)
from ..sync.mirror import FetchedDetail, store_details, store_records, to_remote
from .audit import join_notes
from .results import CancelTarget, Scope

logger = logging.getLogger("laaffic_recall")

LOOKUP_PAGE_SIZE = 100
LOOKUP_MAX_PAGES = 10


# --------------------------------------------------------------------------- before the request


@dataclass(frozen=True)
class Preflight:
    """The target's state just read from LAAFFIC: may the cancel be sent, and if not, why."""

    send: bool
    reason: str = ""
    task: RecallTask | None = None
    node: RecallNode | None = None
    # Tasks to re-read after the call; the first is the one the attempt concerns.
    task_keys: tuple[int, ...] = ()
    # A node cancel: (round, node key) of the chosen node and the later Pending nodes.
    covered_nodes: tuple[tuple[int, int], ...] = ()
    # What was read, when a request is to be sent: stored with the re-read that follows.
    fetched: tuple[FetchedDetail, ...] = ()


def resolve(target: CancelTarget, client: LaafficClient) -> Scope:
    """The task(s) of a target (raises the client's errors of a parent lookup)."""
    if target.cancel_type == CancelType.TASK:
        task = target.task or RecallTask.objects.filter(key_id=target.target_id).first()
        return Scope(target.target_id, (target.target_id,), task=task)
    if target.cancel_type == CancelType.NODE:
        node = RecallNode.objects.select_related("task").filter(key_id=target.target_id).first()
        if node is None:
            return Scope(skip=NotSent.NOT_MIRRORED)
        return Scope(node.task.key_id, (node.task.key_id,), task=node.task, node=node)
    # Every task the type-2 cancel stops: those the caller found (a confirmation page looks
    # them up just before), else queryPage's; plus every one the mirror knows of the parent.
    keys = set(target.task_keys) or {t.key_id for t in find_parent_tasks(target.target_id, client)}
    mirrored = RecallTask.objects.filter(parent_task_id=target.target_id)
    keys |= set(mirrored.values_list("key_id", flat=True))
    if not keys:
        return Scope(skip=NotSent.NO_TASKS)
    tasks = tuple(RecallTask.objects.filter(key_id__in=keys).order_by("key_id"))
    # Recorded on a task the mirror shows Pending if there is one; check() may correct it.
    main = next((t for t in tasks if t.is_pending), tasks[0] if tasks else None)
    main_key = main.key_id if main is not None else min(keys)
    return Scope(main_key, tuple(sorted(keys)), task=main, tasks=tasks)


def check(target: CancelTarget, scope: Scope, client: LaafficClient) -> Preflight:
    """Read the target now (raises the client's errors: then nothing may be sent).

    What was read is stored at once when nothing will be sent; otherwise it is kept on
    the preflight, to be stored with the re-read after the request (the fresher wins).
    """
    if target.cancel_type == CancelType.TASK:
        fetched = _fetch(client, target.target_id)
        if fetched.detail.status != Status.PENDING:
            [task] = _store([fetched])
            return Preflight(False, _not_pending(_("the task"), task.status), task=task)
        return _sending([fetched], scope, task_keys=(target.target_id,))
    if target.cancel_type == CancelType.PARENT:
        return _check_parent(scope, client)
    return _check_node(target, scope, client)


def _sending(fetched: list[FetchedDetail], scope: Scope, **values: Any) -> Preflight:
    """A preflight that lets the request go, on the first of ``task_keys`` as mirrored
    (a task not mirrored yet is stored now, to record the attempt on it)."""
    key = values["task_keys"][0]
    task = next((t for t in (scope.task, *scope.tasks) if t is not None and t.key_id == key), None)
    if task is None:
        task = next(t for t in _store(fetched) if t.key_id == key)
        return Preflight(True, task=task, **values)
    return Preflight(True, task=task, fetched=tuple(fetched), **values)


def _check_parent(scope: Scope, client: LaafficClient) -> Preflight:
    fetched = [_fetch(client, key) for key in scope.task_keys]
    pending = [item.detail.key_id for item in fetched if item.detail.status == Status.PENDING]
    if not pending:
        tasks = _store(fetched)
        states = ", ".join(f"#{t.key_id} {status_label(t.status)}" for t in tasks)
        reason = _(
            "LAAFFIC reports its recall task(s) %(states)s; only a Pending task can be cancelled."
        ) % {"states": states}
        main = next((t for t in tasks if t.key_id == scope.task_key_id), tasks[0])
        return Preflight(False, reason, task=main)
    return _sending(fetched, scope, task_keys=tuple(pending))


def _check_node(target: CancelTarget, scope: Scope, client: LaafficClient) -> Preflight:
    fetched = _fetch(client, scope.task_keys[0])  # a node's scope is its one task
    detail = fetched.detail
    index = next((i for i, n in enumerate(detail.nodes) if n.key_id == target.target_id), None)
    if index is None:
        [task] = _store([fetched])
        reason = _("LAAFFIC no longer lists this node in task #%(task)s.") % {"task": task.key_id}
        return Preflight(False, reason, task=task)
    record = detail.nodes[index]
    if record.status != Status.PENDING:
        [task] = _store([fetched])
        node = RecallNode.objects.select_related("task").get(key_id=target.target_id)
        return Preflight(False, _not_pending(_("the node"), record.status), task=task, node=node)
    covered = tuple(
        (position + 1, each.key_id)
        for position, each in enumerate(detail.nodes)
        if position >= index and each.status == Status.PENDING
    )
    return _sending(
        [fetched], scope, node=scope.node, task_keys=(detail.key_id,), covered_nodes=covered
    )


def _fetch(client: LaafficClient, key_id: int) -> FetchedDetail:
    """A task's detail read now, with when it was asked for and when it came."""
    asked = timezone.now()
    detail = client.query_detail(key_id)
    return FetchedDetail(detail, asked, timezone.now())


def _store(fetched: list[FetchedDetail]) -> list[RecallTask]:
    """Store details just read; each task as the mirror then holds it (a detail a sync
    stored after one of them was asked for is fresher, and stays)."""
    stored = {t.key_id: t for t in store_details(fetched).stored}
    keys = [item.detail.key_id for item in fetched]
    if stale := [key for key in keys if key not in stored]:
        stored.update((t.key_id, t) for t in RecallTask.objects.filter(key_id__in=stale))
    return [stored[key] for key in keys]


def _not_pending(what: str, status: int | None) -> str:
    return _("LAAFFIC reports %(what)s %(status)s; only a Pending one can be cancelled.") % {
        "what": what,
        "status": status_label(status),
    }


def find_parent_tasks(parent_task_id: int, client: LaafficClient) -> list[RecallTask]:
    """queryPage with ``taskName`` = the id (fuzzy name or exact parent id); keep exact ids.

    The creation window reaches PARENT_LOOKUP_DAYS back (a Pending recall task is recent)
    and one day ahead (clock differences); at most LOOKUP_MAX_PAGES pages are read. The
    records found are stored by the mirror's list writer, whose "a fresher detail wins"
    guard keeps a detail stored while the pages were in flight.
    """
    requested_at = timezone.now()
    now = to_remote(requested_at)
    start = now - timedelta(days=app_settings.PARENT_LOOKUP_DAYS)
    end = now + timedelta(days=1)
    found: dict[int, TaskRecord] = {}
    for number in range(1, LOOKUP_MAX_PAGES + 1):
        page = client.query_page(number, LOOKUP_PAGE_SIZE, start, end, str(parent_task_id))
        found.update((r.key_id, r) for r in page.records if r.task_id == parent_task_id)
        if len(page.records) < LOOKUP_PAGE_SIZE or number >= page.pages:
            break
    if not found:
        return []
    store_records(list(found.values()), requested_at=requested_at)
    return list(RecallTask.objects.filter(key_id__in=list(found)).order_by("key_id"))


# --------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class Answer:
    """What became of a cancel request, as its audit row records it, with LAAFFIC's hint
    and the name of its code for the agent."""

    outcome: str
    http_status: int | None = None
    response_code: int | None = None
    response_message: str = ""
    error_detail: str = ""
    # Why this app sent nothing (``NotSent``), when it refused or failed the cancel here.
    not_sent: str = ""
    confirmed_by_reread: bool = False
    mirror_confirmed: bool | None = None
    first_outcome: str = ""
    settled_by: str = ""
    hint: str = ""
    code_name: str = ""

    def row_fields(self) -> dict[str, Any]:
        """The fields of the attempt's row."""
        fields = asdict(self)
        del fields["hint"], fields["code_name"]
        return fields


def send(client: LaafficClient, target: CancelTarget) -> Answer:
    """The cancel request, sent once and never retried, and what its answer means."""
    answer = _send(client, target)
    settled = "" if answer.outcome in (Outcome.UNKNOWN, Outcome.PENDING) else SettledBy.ANSWER
    return replace(answer, first_outcome=answer.outcome, settled_by=settled)


def _send(client: LaafficClient, target: CancelTarget) -> Answer:
    try:
        accepted = client.cancel(int(target.cancel_type), target.target_id)
    except ApiError as exc:
        detail = f"{exc.code_name}. {exc.hint}" if exc.hint else exc.code_name
        return Answer(
            Outcome.REFUSED,
            http_status=exc.http_status,
            response_code=exc.code,
            response_message=exc.message,
            error_detail=detail,
            hint=exc.hint,
            code_name=exc.code_name,
        )
    except OutcomeUnknownError as exc:
        return _transport_answer(Outcome.UNKNOWN, exc)
    except TransportError as exc:
        return _transport_answer(Outcome.FAILED, exc)
    except Exception as exc:
        logger.exception("Unexpected error while sending cancel %s", target.key)
        detail = _("unexpected %(error)s while sending; the request may have reached LAAFFIC")
        return Answer(Outcome.UNKNOWN, error_detail=detail % {"error": type(exc).__name__})
    return Answer(
        Outcome.SUCCEEDED,
        http_status=accepted.http_status,
        response_code=accepted.code,
        response_message=accepted.message,
    )


def _transport_answer(outcome: str, exc: TransportError) -> Answer:
    detail = str(exc)
    if exc.body_excerpt and exc.body_excerpt not in detail:
        detail += f" {exc.body_excerpt}"
    return Answer(outcome, http_status=exc.http_status, error_detail=detail)


@dataclass(frozen=True)
class Reread:
    """The target re-read right after the request: its status at LAAFFIC now (None when
    not listed or not read), the error of a failed re-read, and the answers to store."""

    state: int | None = None
    error: str = ""
    fetched: tuple[FetchedDetail, ...] = ()


def reread(preflight: Preflight, target: CancelTarget, client: LaafficClient) -> Reread:
    """Read the task(s) the request concerned again (nothing is stored here)."""
    try:
        fetched = tuple(_fetch(client, key) for key in preflight.task_keys)
    except LaafficError as exc:
        return Reread(error=str(exc))
    if not fetched:
        return Reread()
    main = fetched[0].detail
    if target.cancel_type == CancelType.NODE:
        state = next((n.status for n in main.nodes if n.key_id == target.target_id), None)
    else:
        state = main.status
    return Reread(state, fetched=fetched)


def confirm(answer: Answer, read: Reread) -> Answer:
    """The answer once the task(s) are re-read: the state decides. An unknown outcome or a
    refusal becomes succeeded (confirmed by re-read) when LAAFFIC now shows the target
    Cancelled. A success the re-read does not show is ``mirror_confirmed`` False: the
    mirror is then marked as LAAFFIC should now be (``mark_cancelled``)."""
    state, error = read.state, read.error
    outcome, confirmed, notes = answer.outcome, False, [answer.error_detail]
    if outcome == Outcome.REFUSED and state == Status.CANCELLED:
        # The state decides: the calls did stop (LAAFFIC's code and message stay on the row).
        outcome, confirmed = Outcome.SUCCEEDED, True
        notes.append(
            _(
                "LAAFFIC answered code %(code)s, but a re-read right after shows it "
                "Cancelled: the cancel took effect."
            )
            % {"code": answer.response_code}
        )
    elif outcome == Outcome.UNKNOWN:
        if state == Status.CANCELLED:
            outcome, confirmed = Outcome.SUCCEEDED, True
            notes.append(_("A re-read right after shows it Cancelled."))
        elif state is None and error:
            notes.append(_("The re-read right after failed too: %(error)s") % {"error": error})
        elif state is None:
            notes.append(_("A re-read right after no longer lists it."))
        else:
            notes.append(
                _("A re-read right after shows it %(status)s.") % {"status": status_label(state)}
            )
    if outcome != Outcome.SUCCEEDED:
        mirror_confirmed = not error
    else:
        mirror_confirmed = state == Status.CANCELLED and not error
        if not mirror_confirmed:
            if error:
                notes.append(_("The re-read after the cancel failed: %(error)s") % {"error": error})
            else:
                notes.append(
                    _("A re-read right after still shows it %(status)s.")
                    % {"status": status_label(state)}
                )
    return replace(
        answer,
        outcome=outcome,
        settled_by=_settled_by(answer, outcome, confirmed),
        confirmed_by_reread=confirmed,
        mirror_confirmed=mirror_confirmed,
        error_detail=join_notes(*notes),
    )


def unstored(answer: Answer) -> Answer:
    """The answer when what was read could not be stored in the mirror (a database
    error): the mirror does not show what the row says."""
    note = ""
    if answer.outcome == Outcome.SUCCEEDED and answer.mirror_confirmed:
        error = _("the mirror could not be updated (database error)")
        note = _("The re-read after the cancel failed: %(error)s") % {"error": error}
    return replace(
        answer, mirror_confirmed=False, error_detail=join_notes(answer.error_detail, note)
    )


def _settled_by(answer: Answer, outcome: str, confirmed: bool) -> str:
    if confirmed:
        return SettledBy.REREAD
    return "" if outcome == Outcome.UNKNOWN else answer.settled_by


def mark_cancelled(preflight: Preflight, target: CancelTarget) -> None:
    """Mark the mirror as LAAFFIC should now be, flagged ``unconfirmed`` until the next
    sync: the rounds the node cancel covered, or the task(s)."""
    if target.cancel_type == CancelType.NODE:
        covered = [key for _round, key in preflight.covered_nodes]
        nodes = RecallNode.objects.filter(key_id__in=covered, status=Status.PENDING)
        nodes.update(status=Status.CANCELLED, unconfirmed=True)
    else:
        tasks = RecallTask.objects.filter(key_id__in=preflight.task_keys)
        tasks.update(status=Status.CANCELLED, unconfirmed=True)
