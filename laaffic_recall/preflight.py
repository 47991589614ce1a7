"""Before a cancel is sent: which task(s) it concerns, then their state at LAAFFIC now.

``resolve`` finds the task(s) of a target without reading their state (the mirror; a
parent task id typed by hand is found with ``queryPage``'s exact parent-id search and
mirrored), so that the attempt's pending row can be committed on them first. ``check``
then reads the state now, never the mirror's, and stores what it read
(``sync.store_detail``), so the agent's list is fresh afterwards too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from . import sync
from .audit import status_label
from .cancel_results import CancelTarget
from .client import LaafficClient, TaskRecord
from .conf import app_settings
from .mirror import store_records, to_remote
from .models import CancelType, RecallNode, RecallTask, Status

LOOKUP_PAGE_SIZE = 100
LOOKUP_MAX_PAGES = 10


@dataclass(frozen=True)
class Scope:
    """What a target concerns, from the mirror (or a parent lookup); no state read yet.

    ``task_key_id`` is the task the attempt is recorded on; ``task_keys`` every task the
    cancel may stop (several for a parent with several recall tasks). ``skip`` is set,
    with the reason, when there is nothing to send at all.
    """

    task_key_id: int | None = None
    task_keys: tuple[int, ...] = ()
    task: RecallTask | None = None
    node: RecallNode | None = None
    skip: str = ""


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


def resolve(target: CancelTarget, client: LaafficClient) -> Scope:
    """The task(s) of a target (raises the client's errors of a parent lookup)."""
    if target.cancel_type == CancelType.TASK:
        task = RecallTask.objects.filter(key_id=target.target_id).first()
        return Scope(target.target_id, (target.target_id,), task=task)
    if target.cancel_type == CancelType.NODE:
        node = RecallNode.objects.select_related("task").filter(key_id=target.target_id).first()
        if node is None:
            return Scope(skip=_("the node is not in the local mirror; sync its task first."))
        return Scope(node.task.key_id, (node.task.key_id,), task=node.task, node=node)
    keys = target.task_keys or tuple(t.key_id for t in find_parent_tasks(target.target_id, client))
    if not keys:
        reason = _(
            "LAAFFIC has no recall task with parent task id %(id)s created in the last "
            "%(days)s days."
        ) % {"id": target.target_id, "days": app_settings.PARENT_LOOKUP_DAYS}
        return Scope(skip=reason)
    tasks = list(RecallTask.objects.filter(key_id__in=keys).order_by("key_id"))
    # Recorded on a task the mirror shows Pending if there is one; check() may correct it.
    main = next((t for t in tasks if t.is_pending), tasks[0] if tasks else None)
    main_key = main.key_id if main is not None else min(keys)
    return Scope(main_key, tuple(sorted(keys)), task=main)


def check(target: CancelTarget, scope: Scope, client: LaafficClient) -> Preflight:
    """Read the target now (raises the client's errors: then nothing may be sent)."""
    if target.cancel_type == CancelType.TASK:
        task, _changes = sync.store_detail(client.query_detail(target.target_id))
        if task.status != Status.PENDING:
            return Preflight(False, _not_pending(_("the task"), task.status), task=task)
        return Preflight(True, task=task, task_keys=(task.key_id,))
    if target.cancel_type == CancelType.PARENT:
        return _check_parent(scope, client)
    return _check_node(target, scope, client)


def _check_parent(scope: Scope, client: LaafficClient) -> Preflight:
    tasks = [sync.store_detail(client.query_detail(key))[0] for key in scope.task_keys]
    pending = [t for t in tasks if t.status == Status.PENDING]
    if not pending:
        states = ", ".join(f"#{t.key_id} {status_label(t.status)}" for t in tasks)
        reason = _(
            "LAAFFIC reports its recall task(s) %(states)s; only a Pending task can be cancelled."
        ) % {"states": states}
        main = next((t for t in tasks if t.key_id == scope.task_key_id), tasks[0])
        return Preflight(False, reason, task=main)
    return Preflight(True, task=pending[0], task_keys=tuple(t.key_id for t in pending))


def _check_node(target: CancelTarget, scope: Scope, client: LaafficClient) -> Preflight:
    detail = client.query_detail(scope.task_key_id)
    task, _changes = sync.store_detail(detail)
    index = next((i for i, n in enumerate(detail.nodes) if n.key_id == target.target_id), None)
    if index is None:
        reason = _("LAAFFIC no longer lists this node in task #%(task)s.") % {"task": task.key_id}
        return Preflight(False, reason, task=task)
    record = detail.nodes[index]
    node = RecallNode.objects.select_related("task").get(key_id=target.target_id)
    if record.status != Status.PENDING:
        return Preflight(False, _not_pending(_("the node"), record.status), task=task, node=node)
    covered = tuple(
        (position + 1, each.key_id)
        for position, each in enumerate(detail.nodes)
        if position >= index and each.status == Status.PENDING
    )
    return Preflight(True, task=task, node=node, task_keys=(task.key_id,), covered_nodes=covered)


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
    start = now - timedelta(days=int(app_settings.PARENT_LOOKUP_DAYS))
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
