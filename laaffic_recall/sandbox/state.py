"""How sandbox tasks change: the vendor's cancel rules and the passing of time (tick)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.db import transaction

from .conf import sandbox_settings
from .models import OPEN, SandboxNode, SandboxTask, Status


class Refusal(Exception):
    """A well-formed answer with a non-zero code (the vendor's way of saying no)."""

    def __init__(self, code: int, message: str):
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


PARAMETER_EXCEPTION = -22
# Wire messages are the vendor's English, whatever the site's language.
STATUS_NAMES: dict[int, str] = {
    Status.PENDING: "Pending",
    Status.IN_PROGRESS: "In progress",
    Status.COMPLETED: "Completed",
    Status.CANCELLED: "Cancelled",
    Status.EXCEPTION: "Execution exception",
}


def parameter_error(message: str) -> Refusal:
    return Refusal(PARAMETER_EXCEPTION, f"Parameter exception: {message}")


def derived_status(statuses: list[int], default: int = Status.PENDING) -> tuple[int, int]:
    """A task's (status, finishNum) from its nodes' statuses, in position order.

    Something left to run: Pending while no round has run, else In progress. Nothing
    left: Cancelled if a round was cancelled, else Execution exception if one failed,
    else Completed. A task without nodes keeps ``default``.
    """
    finished = sum(1 for s in statuses if s == Status.COMPLETED)
    if not statuses:
        return default, finished
    if any(s in OPEN for s in statuses):
        started = any(s not in (Status.PENDING, Status.CANCELLED) for s in statuses)
        return (Status.IN_PROGRESS if started else Status.PENDING), finished
    if Status.CANCELLED in statuses:
        return Status.CANCELLED, finished
    if Status.EXCEPTION in statuses:
        return Status.EXCEPTION, finished
    return Status.COMPLETED, finished


def settle(task: SandboxTask) -> SandboxTask:
    """Derive a task's status and finishNum from its nodes, and save it."""
    statuses = list(task.nodes.order_by("position").values_list("status", flat=True))
    task.status, task.finish_num = derived_status(statuses, task.status)
    task.save()
    return task


def _not_allowed(what: str, status: int) -> Refusal:
    return Refusal(
        sandbox_settings.REFUSAL_CODE,
        f"{what} is {STATUS_NAMES[status]} and cannot be cancelled; only Pending can.",
    )


def cancel(cancel_type: int, target: int) -> list[SandboxTask]:
    """Apply one cancel request, or raise ``Refusal``. Returns the tasks it changed.

    Types 1 (task keyId) and 2 (parent taskId) need a Pending task and cancel it with its
    Pending nodes. Type 3 (node keyId) needs a Pending node and cancels it and every later
    Pending node of its task. Rows are locked task first, so concurrent cancels of one task
    serialize and the second one is refused.
    """
    with transaction.atomic():
        if cancel_type in (1, 2):
            lookup = {"key_id": target} if cancel_type == 1 else {"task_id": target}
            tasks = list(SandboxTask.objects.select_for_update().filter(**lookup).order_by("pk"))
            if not tasks:
                raise parameter_error(f"recall task {target} does not exist")
            pending = [t for t in tasks if t.status == Status.PENDING]
            if not pending:
                raise _not_allowed(f"Recall task {tasks[0].key_id}", tasks[0].status)
            for task in pending:
                task.nodes.filter(status=Status.PENDING).update(status=Status.CANCELLED)
                settle(task)
                if task.status != Status.CANCELLED:  # a task without nodes
                    task.status = Status.CANCELLED
                    task.save()
            return pending
        if cancel_type == 3:
            task_pk = SandboxNode.objects.filter(key_id=target).values_list("task", flat=True)
            owner = SandboxTask.objects.select_for_update().filter(pk__in=task_pk).first()
            if owner is None:
                raise parameter_error(f"node {target} does not exist")
            node = SandboxNode.objects.get(key_id=target)
            if node.status != Status.PENDING:
                raise _not_allowed(f"Node {target}", node.status)
            owner.nodes.filter(position__gte=node.position, status=Status.PENDING).update(
                status=Status.CANCELLED
            )
            return [settle(owner)]
    raise parameter_error(f"unknown cancel type {cancel_type}")


def advance(task: SandboxTask) -> bool:
    """Move one task one step: finish its running round, or start its next pending one."""
    nodes = list(task.nodes.order_by("position"))
    running = next((n for n in nodes if n.status == Status.IN_PROGRESS), None)
    if running is not None:
        running.status = Status.COMPLETED
        running.save(update_fields=["status"])
    else:
        waiting = next((n for n in nodes if n.status == Status.PENDING), None)
        if waiting is None:
            return False
        waiting.status = Status.IN_PROGRESS
        waiting.save(update_fields=["status"])
    settle(task)
    return True


@dataclass(frozen=True)
class TickResult:
    advanced: int
    open_before: int
    open_after: int


def tick(fraction: float = 1.0, rng: random.Random | None = None) -> TickResult:
    """Advance a share of the unfinished tasks one step each (Pending -> In progress -> done)."""
    rng = rng or random.Random()
    advanced = 0
    open_tasks = SandboxTask.objects.filter(status__in=[Status.PENDING, Status.IN_PROGRESS])
    keys = list(open_tasks.order_by("key_id").values_list("key_id", flat=True))
    for key_id in keys:
        if rng.random() >= fraction:
            continue
        with transaction.atomic():
            task = SandboxTask.objects.select_for_update().get(key_id=key_id)
            if task.status in (Status.PENDING, Status.IN_PROGRESS) and advance(task):
                advanced += 1
    return TickResult(advanced=advanced, open_before=len(keys), open_after=open_tasks.count())
