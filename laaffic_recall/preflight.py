"""Before a cancel is sent: read the target's state from LAAFFIC now, never trust the mirror.

Each check stores what it read in the mirror (``sync.store_detail``), so the agent's
list is fresh afterwards too. A parent task id typed by hand is first found with
``queryPage``'s exact parent-id search and mirrored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import sync
from .audit import status_label
from .cancel_results import CancelTarget
from .client import LaafficClient, TaskRecord
from .conf import app_settings
from .models import CancelType, RecallNode, RecallTask, Status

LOOKUP_PAGE_SIZE = 100
LOOKUP_MAX_PAGES = 10
TASK_NAME_MAX = RecallTask._meta.get_field("task_name").max_length


@dataclass(frozen=True)
class Preflight:
    """The target's state just read from LAAFFIC: may the cancel be sent, and if not, why."""

    send: bool
    reason: str = ""
    task: RecallTask | None = None
    node: RecallNode | None = None
    # Tasks to re-read after the call; the first is the one the attempt concerns.
    task_keys: tuple[int, ...] = ()


def check(target: CancelTarget, client: LaafficClient) -> Preflight:
    """Read the target now (raises the client's errors: then nothing may be sent)."""
    if target.cancel_type == CancelType.TASK:
        task, _changes = sync.store_detail(client.query_detail(target.target_id))
        if task.status != Status.PENDING:
            return Preflight(False, _not_pending(_("the task"), task.status), task=task)
        return Preflight(True, task=task, task_keys=(task.key_id,))
    if target.cancel_type == CancelType.PARENT:
        return _check_parent(target, client)
    return _check_node(target, client)


def _check_parent(target: CancelTarget, client: LaafficClient) -> Preflight:
    keys = target.task_keys or tuple(t.key_id for t in find_parent_tasks(target.target_id, client))
    if not keys:
        reason = _(
            "LAAFFIC has no recall task with parent task id %(id)s created in the last "
            "%(days)s days."
        ) % {"id": target.target_id, "days": app_settings.PARENT_LOOKUP_DAYS}
        return Preflight(False, reason)
    tasks = [sync.store_detail(client.query_detail(key))[0] for key in keys]
    pending = [t for t in tasks if t.status == Status.PENDING]
    if not pending:
        states = ", ".join(f"#{t.key_id} {status_label(t.status)}" for t in tasks)
        reason = _(
            "LAAFFIC reports its recall task(s) %(states)s; only a Pending task can be cancelled."
        ) % {"states": states}
        return Preflight(False, reason, task=tasks[0])
    return Preflight(True, task=pending[0], task_keys=tuple(t.key_id for t in pending))


def _check_node(target: CancelTarget, client: LaafficClient) -> Preflight:
    node = RecallNode.objects.select_related("task").filter(key_id=target.target_id).first()
    if node is None:
        return Preflight(False, _("the node is not in the local mirror; sync its task first."))
    detail = client.query_detail(node.task.key_id)
    task, _changes = sync.store_detail(detail)
    record = next((n for n in detail.nodes if n.key_id == target.target_id), None)
    if record is None:
        reason = _("LAAFFIC no longer lists this node in task #%(task)s.") % {"task": task.key_id}
        return Preflight(False, reason, task=task)
    node = RecallNode.objects.select_related("task").get(key_id=target.target_id)
    if record.status != Status.PENDING:
        return Preflight(False, _not_pending(_("the node"), record.status), task=task, node=node)
    return Preflight(True, task=task, node=node, task_keys=(task.key_id,))


def _not_pending(what: str, status: int | None) -> str:
    return _("LAAFFIC reports %(what)s %(status)s; only a Pending one can be cancelled.") % {
        "what": what,
        "status": status_label(status),
    }


def find_parent_tasks(parent_task_id: int, client: LaafficClient) -> list[RecallTask]:
    """queryPage with ``taskName`` = the id (fuzzy name or exact parent id); keep exact ids.

    The creation window reaches PARENT_LOOKUP_DAYS back (a Pending recall task is recent)
    and one day ahead (clock differences); at most LOOKUP_MAX_PAGES pages are read.
    """
    now = timezone.localtime(timezone.now(), sync.remote_tz()).replace(tzinfo=None)
    start = now - timedelta(days=int(app_settings.PARENT_LOOKUP_DAYS))
    end = now + timedelta(days=1)
    found: dict[int, TaskRecord] = {}
    for number in range(1, LOOKUP_MAX_PAGES + 1):
        page = client.query_page(number, LOOKUP_PAGE_SIZE, start, end, str(parent_task_id))
        found.update((r.key_id, r) for r in page.records if r.task_id == parent_task_id)
        if len(page.records) < LOOKUP_PAGE_SIZE or number >= page.pages:
            break
    return mirror_records(found.values())


def mirror_records(records: Iterable[TaskRecord], now: datetime | None = None) -> list[RecallTask]:
    """Upsert a few ``queryPage`` records (the sync has a batched writer for whole pages)."""
    now = now or timezone.now()
    tasks = []
    with transaction.atomic():
        for record in records:
            values = {
                "parent_task_id": record.task_id,
                "task_name": record.task_name[:TASK_NAME_MAX],
                "created_at_remote": sync.to_aware(record.create_time),
                "recall_type": record.recall_type,
                "recall_interval": record.recall_interval,
                "recall_num": record.recall_num,
                "finish_num": record.finish_num,
                "raw": record.raw,
                "synced_at": now,
            }
            if record.status is not None:
                values["status"] = record.status
            task, _created = RecallTask.objects.update_or_create(
                key_id=record.key_id,
                defaults=values,
                create_defaults={"status": Status.PENDING, **values},
            )
            tasks.append(task)
    return tasks
