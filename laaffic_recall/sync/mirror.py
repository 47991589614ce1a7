"""Write what LAAFFIC says into the local mirror: list records, task details, node lists.

Every writer compares before it writes, so storing the same answer twice changes nothing,
and the batch writers work on a whole page or batch in a constant number of queries
(bulk upserts keyed on ``key_id``, safe when two syncs race to create the same row).
The sync service (``service.py``) decides what to fetch; this module only stores it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..client.wire import NodeRecord, TaskDetail, TaskRecord
from ..conf import remote_timezone
from ..models import TERMINAL_STATUSES, RecallNode, RecallTask, Status
from ..signals import send_task_synced

NODE_FIELDS = ["task", "position", "group_task_id", "status", "script_id", "raw", "synced_at"]
# Columns a queryPage record owns, and those a queryDetail answer owns.
TASK_LIST_FIELDS = [
    "parent_task_id",
    "task_name",
    "created_at_remote",
    "recall_type",
    "recall_interval",
    "recall_num",
    "finish_num",
    "status",
    "raw",
]
TASK_DETAIL_FIELDS = ["status", "recall_interval", "recall_num", "recall_type", "detail_raw"]

TASK_NAME_MAX = RecallTask._meta.get_field("task_name").max_length
SCRIPT_ID_MAX = RecallNode._meta.get_field("script_id").max_length


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class NodeChanges:
    created: int = 0
    updated: int = 0
    removed: int = 0

    def __add__(self, other: NodeChanges) -> NodeChanges:
        return NodeChanges(
            self.created + other.created,
            self.updated + other.updated,
            self.removed + other.removed,
        )


@dataclass(frozen=True)
class RecordChanges:
    """What storing one page of list records did (sets of task keys)."""

    created: frozenset[int]
    updated: frozenset[int]
    # Tasks whose detail should be (re-)read: new, changed, not terminal, never read, or
    # marked unconfirmed after a cancel.
    needs_detail: frozenset[int]


@dataclass(frozen=True)
class FetchedDetail:
    """A ``queryDetail`` answer with when it was asked for and when it arrived."""

    detail: TaskDetail
    requested_at: datetime
    received_at: datetime


@dataclass(frozen=True)
class DetailChanges:
    """What storing a batch of details did."""

    stored: tuple[RecallTask, ...]
    created: frozenset[int]
    updated: frozenset[int]
    nodes: NodeChanges
    # Details not written because a fresher one was stored after they were asked for.
    stale: frozenset[int]


# --------------------------------------------------------------------------- times


def to_aware(value: datetime | None) -> datetime | None:
    """A naive vendor time, read in REMOTE_TIMEZONE, as the project stores times: aware,
    or naive in TIME_ZONE under ``USE_TZ = False``."""
    if value is None:
        return None
    aware = timezone.make_aware(value, remote_timezone())
    return aware if settings.USE_TZ else timezone.make_naive(aware)


def to_remote(value: datetime) -> datetime:
    """An aware datetime as the naive wall-clock time LAAFFIC uses (naive means local)."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return timezone.localtime(value, remote_timezone()).replace(tzinfo=None)


# --------------------------------------------------------------------------- values


def _list_values(record: TaskRecord) -> dict:
    return {
        "parent_task_id": record.task_id,
        "task_name": record.task_name[:TASK_NAME_MAX],
        "created_at_remote": to_aware(record.create_time),
        "recall_type": record.recall_type,
        "recall_interval": record.recall_interval,
        "recall_num": record.recall_num,
        "finish_num": record.finish_num,
        "status": record.status,
        "raw": record.raw,
    }


def _detail_values(detail: TaskDetail) -> dict:
    return {
        "status": detail.status,
        "recall_interval": detail.recall_interval,
        "recall_num": detail.recall_num,
        "recall_type": detail.recall_type,
        "detail_raw": detail.raw,
    }


def _node_values(record: NodeRecord, task_pk: int, position: int) -> dict:
    script = record.script_id[:SCRIPT_ID_MAX] if record.script_id is not None else None
    return {
        "task_id": task_pk,
        "position": position,
        "group_task_id": record.task_id,
        "status": record.status,
        "script_id": script,
        "raw": record.raw,
    }


def _apply(obj, values: dict) -> bool:
    """Set ``values`` on ``obj``; True when anything differed. A None status keeps the old."""
    changed = False
    for name, value in values.items():
        if name == "status" and value is None:
            if obj.status is None:
                obj.status, changed = Status.PENDING, True
            continue
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _upsert(model, objs: list, update_fields: list[str]) -> None:
    """INSERT ... ON CONFLICT (key_id) DO UPDATE, sorted by key so row locks never cross."""
    if objs:
        objs.sort(key=lambda o: o.key_id)
        model.objects.bulk_create(
            objs, update_conflicts=True, unique_fields=["key_id"], update_fields=update_fields
        )


def _for_upsert(model, obj, fields: Iterable[str]):
    """``obj`` itself when it is new, else an unsaved copy of ``fields`` without the pk, so
    that one INSERT ... ON CONFLICT covers new and existing rows alike."""
    if obj.pk is None:
        return obj
    copy = model(key_id=obj.key_id)
    for name in fields:
        setattr(copy, name, getattr(obj, name))
    return copy


# --------------------------------------------------------------------------- list records


def store_records(
    records: Sequence[TaskRecord], *, requested_at: datetime, now: datetime | None = None
) -> RecordChanges:
    """Upsert one page of ``queryPage`` records (one select and one upsert).

    A row whose detail was stored after ``requested_at`` keeps its values: that detail is
    fresher than this list (e.g. a cancel re-read it while the page was in flight).
    """
    now = now or timezone.now()
    latest: dict[int, TaskRecord] = {r.key_id: r for r in records}  # duplicates: last wins
    with transaction.atomic():
        return _store_records(latest, requested_at, now)


def _store_records(
    latest: dict[int, TaskRecord], requested_at: datetime, now: datetime
) -> RecordChanges:
    existing = {
        t.key_id: t
        for t in RecallTask.objects.filter(key_id__in=list(latest)).only(
            "key_id", "detail_synced_at", "unconfirmed", "cancel_in_doubt", *TASK_LIST_FIELDS
        )
    }
    created, updated, needs_detail, writes = set(), set(), set(), []
    for key, record in latest.items():
        task = existing.get(key)
        if task is None:
            task = RecallTask(key_id=key)
            _apply(task, _list_values(record))
            created.add(key)
            needs_detail.add(key)
        elif task.detail_synced_at and task.detail_synced_at > requested_at:
            pass  # a fresher detail was stored meanwhile; leave the row alone this time
        elif _apply(task, _list_values(record)):
            updated.add(key)
            needs_detail.add(key)
        if key in created or key in updated:
            task.synced_at = now
            writes.append(_for_upsert(RecallTask, task, [*TASK_LIST_FIELDS, "synced_at"]))
        if (
            task.status not in TERMINAL_STATUSES
            or not task.detail_synced_at
            or task.unconfirmed
            or task.cancel_in_doubt  # an unknown cancel is settled from the next detail
        ):
            needs_detail.add(key)
    _upsert(RecallTask, writes, [*TASK_LIST_FIELDS, "synced_at"])
    return RecordChanges(frozenset(created), frozenset(updated), frozenset(needs_detail))


# --------------------------------------------------------------------------- details


def store_details(fetched: Sequence[FetchedDetail]) -> DetailChanges:
    """Store a batch of details and their node lists in a constant number of queries.

    Rows are written only when something differs, so re-storing the same answers changes
    nothing; ``task_synced`` is sent for every task whose detail was stored (changed or
    confirmed unchanged), after the transaction. Nodes no longer listed are deleted.
    """
    latest: dict[int, FetchedDetail] = {}
    for item in fetched:
        seen = latest.get(item.detail.key_id)
        if seen is None or item.received_at >= seen.received_at:
            latest[item.detail.key_id] = item
    if not latest:
        return DetailChanges((), frozenset(), frozenset(), NodeChanges(), frozenset())
    with transaction.atomic():
        existing = {
            t.key_id: t
            for t in RecallTask.objects.select_for_update()
            .filter(key_id__in=list(latest))
            .order_by("key_id")
        }
        stored, created, updated, stale, writes = [], set(), set(), set(), []
        for key, item in latest.items():
            task = existing.get(key)
            if task is None:
                task = RecallTask(key_id=key, synced_at=item.received_at)
                created.add(key)
            elif task.detail_synced_at and task.detail_synced_at > item.requested_at:
                stale.add(key)
                continue
            changed = _apply(task, _detail_values(item.detail))
            if changed or task.unconfirmed or task.detail_synced_at is None:
                task.unconfirmed = False
                task.detail_synced_at = item.received_at
                if key not in created:
                    updated.add(key)
                writes.append(task)
            stored.append(task)
        detail_fields = [*TASK_DETAIL_FIELDS, "detail_synced_at", "unconfirmed"]
        upserts = [
            _for_upsert(RecallTask, t, [*detail_fields, *TASK_LIST_FIELDS, "synced_at"])
            for t in writes
        ]
        _upsert(RecallTask, upserts, detail_fields)
        _assign_pks(stored, upserts)
        nodes = _store_node_lists([(t, latest[t.key_id]) for t in stored])
    for task in stored:
        send_task_synced(task)
    return DetailChanges(
        tuple(stored), frozenset(created), frozenset(updated), nodes, frozenset(stale)
    )


def _assign_pks(tasks: list[RecallTask], upserts: list[RecallTask]) -> None:
    """Give the in-memory tasks created by the upsert their primary keys."""
    returned = {u.key_id: u.pk for u in upserts if u.pk is not None}
    missing = [t.key_id for t in tasks if t.pk is None and t.key_id not in returned]
    if missing:  # a backend that cannot return ids from an upsert
        returned.update(RecallTask.objects.filter(key_id__in=missing).values_list("key_id", "pk"))
    for task in tasks:
        if task.pk is None:
            task.pk = returned[task.key_id]
            task._state.adding = False
            task._state.db = RecallTask.objects.db


def _store_node_lists(items: list[tuple[RecallTask, FetchedDetail]]) -> NodeChanges:
    wanted: dict[int, tuple[dict, datetime]] = {}
    for task, item in items:
        for position, record in enumerate(item.detail.nodes):
            wanted[record.key_id] = (_node_values(record, task.pk, position), item.received_at)
    task_pks = [task.pk for task, _ in items]
    existing = {
        n.key_id: n
        for n in RecallNode.objects.filter(Q(key_id__in=list(wanted)) | Q(task_id__in=task_pks))
    }
    writes, created, updated = [], 0, 0
    for key, (values, received_at) in wanted.items():
        node = existing.get(key)
        if node is None:
            node = RecallNode(key_id=key)
            _apply(node, values)
            created += 1
        else:
            changed = _apply(node, values)
            if not (changed or node.unconfirmed):
                continue
            updated += 1
        node.unconfirmed = False
        node.synced_at = received_at
        writes.append(_for_upsert(RecallNode, node, [*NODE_FIELDS[1:], "task_id"]))
    _upsert(RecallNode, writes, [*NODE_FIELDS, "unconfirmed"])
    in_batch = set(task_pks)
    gone = [n.pk for k, n in existing.items() if k not in wanted and n.task_id in in_batch]
    removed = RecallNode.objects.filter(pk__in=gone).delete()[0] if gone else 0
    return NodeChanges(created=created, updated=updated, removed=removed)
