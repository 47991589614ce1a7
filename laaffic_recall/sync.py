"""Mirror LAAFFIC auto-recall tasks and their node lists into the local models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from .client import LaafficClient, TaskDetail
from .conf import app_settings, get_client
from .models import RecallNode, RecallTask
from .signals import task_synced

NODE_FIELDS = ["task", "position", "group_task_id", "status", "script_id", "raw", "synced_at"]


@dataclass(frozen=True)
class NodeChanges:
    created: int = 0
    updated: int = 0
    removed: int = 0


def remote_tz() -> ZoneInfo:
    return ZoneInfo(str(app_settings.REMOTE_TIMEZONE))


def to_aware(value: datetime | None) -> datetime | None:
    """A naive vendor time, read in REMOTE_TIMEZONE, as an aware datetime."""
    if value is None:
        return None
    return timezone.make_aware(value, remote_tz())


def store_detail(
    detail: TaskDetail, *, now: datetime | None = None
) -> tuple[RecallTask, NodeChanges]:
    """Write one ``queryDetail`` answer to the mirror: the task's fields and its node list.

    Nodes no longer in the vendor's list are deleted (the last detail as received stays in
    ``RecallTask.detail_raw``; audit rows keep their own copy of the ids).
    """
    now = now or timezone.now()
    with transaction.atomic():
        task, _ = RecallTask.objects.select_for_update().get_or_create(
            key_id=detail.key_id,
            defaults={"status": detail.status if detail.status is not None else 0},
        )
        if detail.status is not None:
            task.status = detail.status
        task.recall_interval = detail.recall_interval
        task.recall_num = detail.recall_num
        task.recall_type = detail.recall_type
        task.detail_raw = detail.raw
        task.detail_synced_at = now
        task.unconfirmed = False
        task.save()
        changes = store_nodes(task, detail, now)
    task_synced.send(sender=RecallTask, task=task)
    return task, changes


def store_nodes(task: RecallTask, detail: TaskDetail, now: datetime) -> NodeChanges:
    """Upsert the node list of one task in a constant number of queries."""
    keys = [n.key_id for n in detail.nodes]
    existing = {n.key_id: n for n in RecallNode.objects.filter(key_id__in=keys)}
    to_create, to_update = [], []
    for position, record in enumerate(detail.nodes):
        values = {
            "task": task,
            "position": position,
            "group_task_id": record.task_id,
            "status": record.status if record.status is not None else 0,
            "script_id": record.script_id,
            "raw": record.raw,
        }
        node = existing.get(record.key_id)
        if node is None:
            to_create.append(RecallNode(key_id=record.key_id, synced_at=now, **values))
            continue
        changed = any(
            (getattr(node, name) if name != "task" else node.task_id)
            != (value if name != "task" else task.pk)
            for name, value in values.items()
        )
        if changed or node.unconfirmed:
            for name, value in values.items():
                setattr(node, name, value)
            node.synced_at = now
            node.unconfirmed = False
            to_update.append(node)
    if to_create:
        RecallNode.objects.bulk_create(to_create)
    if to_update:
        RecallNode.objects.bulk_update(to_update, [*NODE_FIELDS, "unconfirmed"])
    removed, _ = RecallNode.objects.filter(task=task).exclude(key_id__in=keys).delete()
    return NodeChanges(created=len(to_create), updated=len(to_update), removed=removed)


def refresh_task(key_id: int, *, client: LaafficClient | None = None) -> RecallTask:
    """Re-read one task's detail from LAAFFIC now and store it (raises the client's errors)."""
    own_client = client is None
    client = client or get_client()
    try:
        detail = client.query_detail(key_id)
    finally:
        if own_client:
            client.close()
    task, _ = store_detail(detail)
    return task
