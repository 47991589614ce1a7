"""Fill the sandbox with a realistic mix of tasks, deterministic for a given seed.

Ids look like the vendor's: recall keys in the 10^5 range, node keys in their own range,
group-call task ids like ``2024051800123`` (creation date and a per-day sequence).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from .models import SandboxCall, SandboxFault, SandboxNode, SandboxTask, Status
from .state import derived_status

CAMPAIGNS = [
    "Payment reminder",
    "Overdue notice",
    "Delivery confirmation",
    "Appointment reminder",
    "Customer survey",
    "Renewal offer",
    "KYC follow-up",
    "Order callback",
    "Loan repayment",
    "Welcome call",
    "Abandoned cart",
    "Service outage notice",
]
MARKETS = ["PH", "ID", "MX", "BR", "VN", "TH", "NG", "IN", "MY", "CO"]
INTERVALS = [5, 10, 15, 30, 60, 120]
FIRST_TASK_KEY = (100_000, 150_000)
FIRST_NODE_KEY = (300_000, 350_000)

# Share of each task status by the task's age: recent tasks are mostly still open.
STATUS_WEIGHTS = [
    (timedelta(hours=6), [55, 30, 5, 5, 5]),
    (timedelta(hours=48), [15, 35, 30, 10, 10]),
    (None, [5, 10, 55, 15, 15]),
]


@dataclass(frozen=True)
class SeedResult:
    tasks: int
    nodes: int
    by_status: dict[int, int] = field(default_factory=dict)


class _Ids:
    """Allocates task keys, node keys and group-call task ids after what already exists."""

    def __init__(self, rng: random.Random):
        top = SandboxTask.objects.aggregate(key=Max("key_id"))["key"]
        self.task_key = top + 1 if top else rng.randint(*FIRST_TASK_KEY)
        top = SandboxNode.objects.aggregate(key=Max("key_id"))["key"]
        self.node_key = top + 1 if top else rng.randint(*FIRST_NODE_KEY)
        self.used_group_ids = set(SandboxTask.objects.values_list("task_id", flat=True))
        self.used_group_ids.update(SandboxNode.objects.values_list("group_task_id", flat=True))
        self.day_seq: dict[str, int] = {}
        self.rng = rng

    def next_task_key(self) -> int:
        self.task_key += self.rng.randint(1, 4)
        return self.task_key

    def next_node_key(self) -> int:
        self.node_key += self.rng.randint(1, 3)
        return self.node_key

    def group_task_id(self, when: datetime) -> int:
        day = when.strftime("%Y%m%d")
        seq = self.day_seq.get(day) or self.rng.randint(100, 400)
        while True:
            seq += 1
            candidate = int(f"{day}{seq:05d}")
            if candidate not in self.used_group_ids:
                break
        self.day_seq[day] = seq
        self.used_group_ids.add(candidate)
        return candidate


def node_statuses(status: int, count: int, rng: random.Random) -> list[int]:
    """Node statuses consistent with a task status (``derived_status`` gives it back)."""
    if status == Status.PENDING:
        return [Status.PENDING] * count
    if status == Status.COMPLETED:
        return [Status.COMPLETED] * count
    done = rng.randint(0, count - 1)
    head = [Status.COMPLETED] * done
    rest = count - done
    if status == Status.IN_PROGRESS:
        running = done == 0 or rng.random() < 0.5
        first = Status.IN_PROGRESS if running else Status.PENDING
        return [*head, first, *[Status.PENDING] * (rest - 1)]
    if status == Status.CANCELLED:
        return [*head, *[Status.CANCELLED] * rest]
    return [*head, *[Status.EXCEPTION] * rest]


def _task_name(rng: random.Random, created: datetime) -> str:
    campaign = rng.choice(CAMPAIGNS)
    market = rng.choice(MARKETS)
    style = rng.randrange(3)
    if style == 0:
        return f"{market}_{campaign}_{created:%m%d}"
    if style == 1:
        return f"{campaign} {created:%m%d} batch {rng.randint(1, 9)}"
    return f"{market} {campaign} - {created:%b %d}"


def _weights_for(age: timedelta) -> list[int]:
    for limit, weights in STATUS_WEIGHTS:
        if limit is None or age < limit:
            return weights
    return STATUS_WEIGHTS[-1][1]


def reset() -> None:
    """Empty the sandbox: tasks, nodes, faults and the call log."""
    SandboxNode.objects.all().delete()
    SandboxTask.objects.all().delete()
    SandboxFault.objects.all().delete()
    SandboxCall.objects.all().delete()


SIBLING_SHARE = 0.17


def seed(
    tasks: int = 300,
    *,
    seed: int | None = None,
    days: float = 7,
    now: datetime | None = None,
    clear: bool = False,
    status: int | None = None,
) -> SeedResult:
    """Add ``tasks`` tasks created over the past ``days`` days, 1-6 nodes each.

    With the same ``seed`` on an empty sandbox the ids, names, statuses and nodes are the
    same; creation times are offsets back from ``now``. New ids follow existing ones.
    ``status`` gives every task that status instead of the usual mix.
    """
    rng = random.Random(seed)
    now = (now or timezone.now()).replace(microsecond=0)
    statuses = list(Status.values)
    span = max(2, int(days * 86400))
    with transaction.atomic():
        if clear:
            reset()
        ids = _Ids(rng)
        offsets = sorted((rng.randrange(1, span) for _ in range(tasks)), reverse=True)
        # With enough tasks, every status appears at least once.
        forced = {}
        if tasks >= len(statuses) and status is None:
            forced = dict(zip(rng.sample(range(tasks), len(statuses)), statuses, strict=True))
        plans: list[tuple[SandboxTask, list[int], str | None]] = []
        for index, offset in enumerate(offsets):
            created = now - timedelta(seconds=offset)
            wanted = status if status is not None else forced.get(index)
            if wanted is None:
                wanted = rng.choices(statuses, weights=_weights_for(now - created))[0]
            count = rng.randint(1, 6)
            script = None if rng.random() < 0.1 else str(rng.randint(10_000, 99_999))
            # About one task in six is another recall task of the task just before it
            # (same parent id and name), so "cancel by parent" has several to stop.
            sibling_of = plans[-1][0] if plans and rng.random() < SIBLING_SHARE else None
            if sibling_of and not str(sibling_of.task_id).startswith(f"{created:%Y%m%d}"):
                sibling_of = None  # a parent id starts with its day
            task = SandboxTask(
                key_id=ids.next_task_key(),
                task_id=sibling_of.task_id if sibling_of else ids.group_task_id(created),
                task_name=sibling_of.task_name if sibling_of else _task_name(rng, created),
                create_time=created,
                recall_type=rng.choices([0, 1], weights=[4, 6])[0],
                recall_interval=rng.choice(INTERVALS),
                recall_num=count,
            )
            node_states = node_statuses(wanted, count, rng)
            task.status, task.finish_num = derived_status(node_states)
            plans.append((task, node_states, script))
        SandboxTask.objects.bulk_create([task for task, _, _ in plans])
        pks = dict(
            SandboxTask.objects.filter(key_id__in=[t.key_id for t, _, _ in plans]).values_list(
                "key_id", "pk"
            )
        )
        nodes = [
            SandboxNode(
                key_id=ids.next_node_key(),
                task_id=pks[task.key_id],
                position=position,
                group_task_id=ids.group_task_id(
                    task.create_time + timedelta(minutes=task.recall_interval * position)
                ),
                status=node_status,
                script_id=script,
            )
            for task, node_states, script in plans
            for position, node_status in enumerate(node_states)
        ]
        SandboxNode.objects.bulk_create(nodes, batch_size=500)
    by_status: dict[int, int] = {}
    for task, _, _ in plans:
        by_status[task.status] = by_status.get(task.status, 0) + 1
    return SeedResult(tasks=len(plans), nodes=len(nodes), by_status=by_status)


def create_task(
    node_statuses: Sequence[int],
    *,
    key_id: int | None = None,
    task_id: int | None = None,
    task_name: str = "Payment reminder test",
    create_time: datetime | None = None,
    recall_type: int = 1,
    recall_interval: int = 30,
    script_id: str | None = "20001",
) -> SandboxTask:
    """One task with nodes in the given statuses, for tests that need an exact situation.

    Ids not given follow the existing ones; the task's status is derived from its nodes.
    """
    rng = random.Random(0)
    created = (create_time or timezone.now()).replace(microsecond=0)
    with transaction.atomic():
        ids = _Ids(rng)
        status, finished = derived_status(list(node_statuses))
        task = SandboxTask.objects.create(
            key_id=key_id or ids.next_task_key(),
            task_id=task_id or ids.group_task_id(created),
            task_name=task_name,
            create_time=created,
            recall_type=recall_type,
            recall_interval=recall_interval,
            recall_num=len(node_statuses),
            finish_num=finished,
            status=status,
        )
        SandboxNode.objects.bulk_create(
            SandboxNode(
                key_id=ids.next_node_key(),
                task=task,
                position=position,
                group_task_id=ids.group_task_id(created),
                status=node_status,
                script_id=script_id,
            )
            for position, node_status in enumerate(node_statuses)
        )
    return task
