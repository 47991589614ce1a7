"""Rows of the app's mirror of LAAFFIC: recall tasks and their nodes, made directly."""

from __future__ import annotations

from laaffic_recall.models import RecallNode, RecallTask, Status


def make_task(key_id: int = 12, status: int = Status.PENDING, **fields) -> RecallTask:
    fields.setdefault("task_name", f"Campaign {key_id}")
    fields.setdefault("parent_task_id", 2024051800000 + key_id)
    return RecallTask.objects.create(key_id=key_id, status=status, **fields)


def make_nodes(task: RecallTask, *statuses: int, first_key: int = 101) -> list[RecallNode]:
    return [
        RecallNode.objects.create(
            key_id=first_key + i, task=task, position=i, status=s, group_task_id=9000 + i
        )
        for i, s in enumerate(statuses)
    ]


def pending_task_with_nodes(key_id: int = 12, nodes: int = 2) -> RecallTask:
    """A Pending task whose nodes (keys 101, 102, ...) are all Pending: the mirror of what
    ``tests.support.vendor.pending_detail()`` describes."""
    task = make_task(key_id)
    make_nodes(task, *[Status.PENDING] * nodes)
    return task
