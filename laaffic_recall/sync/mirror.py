"""Write what LAAFFIC says into the local mirror: list records, task details, node lists.

Every writer compares before it writes, so storing the same answer twice changes nothing,
and the batch writers work on a whole page or batch in a constant number of queries
(bulk upserts keyed on ``key_id``, safe when two syncs race to create the same row).
The sync service (``service.py``) decides what to fetch; this module only stores it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from operator import itemgetter
from typing import Any

from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.models import Q
from django.utils import timezone

from ..client.wire import TaskDetail, TaskRecord
from ..conf import remote_timezone
from ..models import TERMINAL_STATUSES, RecallNode, RecallTask, Status
from ..signals import send_task_synced

# A node's columns as the sync writes them, and those compared to see whether it changed.
NODE_COMPARED = ["task_id", "position", "group_task_id", "status", "script_id", "raw"]
NODE_COLUMNS = [*NODE_COMPARED, "synced_at", "unconfirmed"]
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
    # The tasks ``task_synced`` is for: written, or with a cancel in doubt.
    synced: tuple[RecallTask, ...] = ()

    def send_synced(self) -> None:
        for task in self.synced:
            send_task_synced(task)


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


def _list_values(record: TaskRecord, status: int) -> tuple:
    """A list record's values, in the order of ``TASK_LIST_FIELDS``."""
    return (
        record.task_id,
        record.task_name[:TASK_NAME_MAX],
        to_aware(record.create_time),
        record.recall_type,
        record.recall_interval,
        record.recall_num,
        record.finish_num,
        status,
        record.raw,
    )


def _detail_values(detail: TaskDetail) -> dict:
    return {
        "status": detail.status,
        "recall_interval": detail.recall_interval,
        "recall_num": detail.recall_num,
        "recall_type": detail.recall_type,
        "detail_raw": detail.raw,
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


class _Writer:
    """One INSERT ... ON CONFLICT (key_id) DO UPDATE, or one UPDATE ... WHERE id, run for
    every row of a batch at once (``executemany``).

    The ORM's ``bulk_create`` compiles every value of every row through its field, the
    largest CPU cost of a sync's writes; here each row is a tuple of values, adapted by a
    function chosen once per column. Rows are sorted by key so row locks never cross.
    """

    def __init__(self, model, columns: Sequence[str], *, update: Sequence[str] = ()):
        self.model = model
        self.columns = list(columns)
        self.update = list(update)

    @property
    def db(self) -> str:
        return router.db_for_write(self.model)

    def _adapters(self, connection, names: Sequence[str]) -> list[Callable[[Any], Any] | None]:
        """How each column's values are handed to the database driver (None: as they are)."""
        adapters: list[Callable[[Any], Any] | None] = []
        for name in names:
            field = self.model._meta.get_field(name)
            if isinstance(field, models.JSONField):
                adapters.append(partial(connection.ops.adapt_json_value, encoder=field.encoder))
            elif isinstance(field, models.DateTimeField):
                adapters.append(connection.ops.adapt_datetimefield_value)
            else:
                adapters.append(None)
        return adapters

    def _column(self, connection, name: str) -> str:
        return connection.ops.quote_name(self.model._meta.get_field(name).column)

    def _run(self, connection, sql: str, names: Sequence[str], rows: list[tuple]) -> None:
        adapters = self._adapters(connection, names)
        params = [
            tuple(v if a is None else a(v) for a, v in zip(adapters, row, strict=True))
            for row in rows
        ]
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)

    def upsert(self, rows: list[tuple]) -> None:
        """Insert ``rows`` (values of ``columns``, ``key_id`` first); a row whose key exists
        gets the ``update`` columns."""
        if not rows:
            return
        connection = connections[self.db]
        table = connection.ops.quote_name(self.model._meta.db_table)
        columns = ", ".join(self._column(connection, c) for c in self.columns)
        updates = ", ".join(
            f"{c} = EXCLUDED.{c}" for c in (self._column(connection, u) for u in self.update)
        )
        sql = (
            f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(self.columns))}) "
            f"ON CONFLICT ({self._column(connection, 'key_id')}) DO UPDATE SET {updates}"
        )
        self._run(connection, sql, self.columns, sorted(rows, key=itemgetter(0)))

    def update_by_pk(self, rows: list[tuple]) -> None:
        """Set ``columns`` on existing rows: each row is (key_id, pk, *values)."""
        if not rows:
            return
        connection = connections[self.db]
        table = connection.ops.quote_name(self.model._meta.db_table)
        sets = ", ".join(f"{self._column(connection, c)} = %s" for c in self.columns)
        sql = f"UPDATE {table} SET {sets} WHERE {self._column(connection, 'id')} = %s"
        ordered = [(*row[2:], row[1]) for row in sorted(rows, key=itemgetter(0))]
        self._run(connection, sql, [*self.columns, "id"], ordered)


# --------------------------------------------------------------------------- list records

# A new row from a list record: its columns, and those an existing row takes from it.
_RECORD_WRITER = _Writer(
    RecallTask,
    ["key_id", *TASK_LIST_FIELDS, "synced_at", "unconfirmed", "cancel_in_doubt"],
    update=[*TASK_LIST_FIELDS, "synced_at"],
)


def store_records(
    records: Sequence[TaskRecord], *, requested_at: datetime, now: datetime | None = None
) -> RecordChanges:
    """Upsert one page of ``queryPage`` records (one select and one upsert).

    A record identical to the one stored last time writes nothing, even where the task's
    detail has since set the columns both answers carry (status, recall settings) to other
    values: the detail, read later, is the fresher of the two. A row whose detail was
    stored after ``requested_at`` keeps its values: that detail is fresher than this list
    (e.g. a cancel re-read it while the page was in flight).
    """
    now = now or timezone.now()
    latest: dict[int, TaskRecord] = {r.key_id: r for r in records}  # duplicates: last wins
    with transaction.atomic(using=_RECORD_WRITER.db):
        return _store_records(latest, requested_at, now)


def _store_records(
    latest: dict[int, TaskRecord], requested_at: datetime, now: datetime
) -> RecordChanges:
    existing = {
        row[0]: row
        for row in RecallTask.objects.filter(key_id__in=list(latest)).values_list(
            "key_id", "raw", "status", "detail_synced_at", "unconfirmed", "cancel_in_doubt"
        )
    }
    created, updated, needs_detail, rows = set(), set(), set(), []
    for key, record in latest.items():
        found = existing.get(key)
        if found is None:
            status, detail_synced_at, unconfirmed, in_doubt = None, None, False, False
            created.add(key)
        else:
            _key, raw, status, detail_synced_at, unconfirmed, in_doubt = found
            if (detail_synced_at and detail_synced_at > requested_at) or raw == record.raw:
                # Unchanged, or a fresher detail was stored meanwhile: leave the row alone.
                if (
                    status not in TERMINAL_STATUSES
                    or not detail_synced_at
                    or unconfirmed
                    or in_doubt  # an unknown cancel is settled from the next detail
                ):
                    needs_detail.add(key)
                continue
            updated.add(key)
        if record.status is not None:
            status = record.status
        elif status is None:
            status = Status.PENDING
        rows.append((key, *_list_values(record, status), now, unconfirmed, in_doubt))
        needs_detail.add(key)  # new or changed: its detail may have changed too
    _RECORD_WRITER.upsert(rows)
    return RecordChanges(frozenset(created), frozenset(updated), frozenset(needs_detail))


# --------------------------------------------------------------------------- details

DETAIL_WRITE_FIELDS = [*TASK_DETAIL_FIELDS, "detail_synced_at", "unconfirmed"]
# A task first seen in a detail: no list record yet.
_NEW_TASK_WRITER = _Writer(
    RecallTask,
    ["key_id", *DETAIL_WRITE_FIELDS, "cancel_in_doubt", "raw", "task_name", "synced_at"],
    update=DETAIL_WRITE_FIELDS,
)
_TASK_DETAIL_WRITER = _Writer(RecallTask, DETAIL_WRITE_FIELDS)
_NODE_WRITER = _Writer(RecallNode, ["key_id", *NODE_COLUMNS], update=NODE_COLUMNS)


def store_details(fetched: Sequence[FetchedDetail]) -> DetailChanges:
    """Store a batch of details and their node lists in one transaction, then send
    ``task_synced`` for the tasks it concerns (see ``write_details``)."""
    with transaction.atomic(using=_TASK_DETAIL_WRITER.db):
        changes = write_details(fetched)
    changes.send_synced()
    return changes


def write_details(fetched: Sequence[FetchedDetail]) -> DetailChanges:
    """Write a batch of details and their node lists in a constant number of queries, in
    the caller's transaction, the task rows locked first.

    Rows are written only when something differs, so re-storing the same answers writes
    nothing. Nodes no longer listed are deleted. ``task_synced`` is for the caller to send
    once the transaction has committed (``DetailChanges.send_synced``): for every task whose
    row or nodes were written, and for every task with a cancel in doubt (this read may
    settle it).
    """
    latest: dict[int, FetchedDetail] = {}
    for item in fetched:
        seen = latest.get(item.detail.key_id)
        if seen is None or item.received_at >= seen.received_at:
            latest[item.detail.key_id] = item
    if not latest:
        return DetailChanges((), frozenset(), frozenset(), NodeChanges(), frozenset())
    stored, created, updated, stale = _store_detail_rows(latest)
    nodes, touched = _store_node_lists([(t, latest[t.key_id]) for t in stored])
    synced = tuple(
        task
        for task in stored
        if task.key_id in created
        or task.key_id in updated
        or task.pk in touched
        or task.cancel_in_doubt
    )
    return DetailChanges(
        tuple(stored), frozenset(created), frozenset(updated), nodes, frozenset(stale), synced
    )


def _store_detail_rows(
    latest: dict[int, FetchedDetail],
) -> tuple[list[RecallTask], set[int], set[int], set[int]]:
    """Write the task rows that differ; (tasks stored, keys created, updated, stale)."""
    existing = {
        t.key_id: t
        for t in RecallTask.objects.select_for_update()
        .filter(key_id__in=list(latest))
        .order_by("key_id")
    }
    stored, created, updated, stale = [], set(), set(), set()
    inserts, updates = [], []
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
            values = tuple(getattr(task, name) for name in DETAIL_WRITE_FIELDS)
            if key in created:
                inserts.append((key, *values, False, task.raw, task.task_name, task.synced_at))
            else:
                updated.add(key)
                updates.append((key, task.pk, *values))
        stored.append(task)
    _NEW_TASK_WRITER.upsert(inserts)
    _TASK_DETAIL_WRITER.update_by_pk(updates)
    _assign_pks([t for t in stored if t.pk is None])
    return stored, created, updated, stale


def _assign_pks(tasks: list[RecallTask]) -> None:
    """Give the in-memory tasks just inserted their primary keys."""
    if not tasks:
        return
    pks = dict(
        RecallTask.objects.filter(key_id__in=[t.key_id for t in tasks]).values_list("key_id", "pk")
    )
    for task in tasks:
        task.pk = pks[task.key_id]
        task._state.adding = False
        task._state.db = _NEW_TASK_WRITER.db


def _store_node_lists(
    items: list[tuple[RecallTask, FetchedDetail]],
) -> tuple[NodeChanges, set[int]]:
    """Write the nodes that differ, delete those no longer listed; (the counts, the pks of
    the tasks whose nodes were written or deleted)."""
    wanted: dict[int, tuple] = {}
    for task, item in items:
        for position, record in enumerate(item.detail.nodes):
            wanted[record.key_id] = (task.pk, position, record, item.received_at)
    task_pks = [task.pk for task, _ in items]
    existing = {
        row[0]: row
        for row in RecallNode.objects.filter(
            Q(key_id__in=list(wanted)) | Q(task_id__in=task_pks)
        ).values_list("key_id", "pk", *NODE_COMPARED, "unconfirmed")
    }
    rows, touched, created, updated = [], set(), 0, 0
    for key, (task_pk, position, record, received_at) in wanted.items():
        script = record.script_id[:SCRIPT_ID_MAX] if record.script_id is not None else None
        found = existing.get(key)
        status = record.status
        if status is None:  # a None status keeps the old
            status = found[5] if found is not None else Status.PENDING
        values = (task_pk, position, record.task_id, status, script, record.raw)
        if found is None:
            created += 1
        elif found[2:8] == values and not found[8]:
            continue
        else:
            updated += 1
            touched.add(found[2])  # the task it leaves, when it moves
        touched.add(task_pk)
        rows.append((key, *values, received_at, False))
    _NODE_WRITER.upsert(rows)
    in_batch = set(task_pks)
    gone = [
        (row[1], row[2]) for k, row in existing.items() if k not in wanted and row[2] in in_batch
    ]
    removed = 0
    if gone:
        removed = RecallNode.objects.filter(pk__in=[pk for pk, _task in gone]).delete()[0]
        touched.update(task_pk for _pk, task_pk in gone)
    return NodeChanges(created=created, updated=updated, removed=removed), touched
