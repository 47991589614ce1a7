"""What an admin user may see of the mirror: the task admin's ``get_queryset(request)``.

A host narrows it by overriding that method (e.g. to a team's tasks); the node admin, the
cancel pages and the cancel service (``Submission.visible``) follow it.
"""

from __future__ import annotations

from django.contrib.admin.exceptions import NotRegistered
from django.db.models import QuerySet
from django.http import HttpRequest

from ..cancel.audit import narrows
from ..models import RecallNode, RecallTask


def visible_tasks(modeladmin, request: HttpRequest) -> QuerySet[RecallTask]:
    """The tasks this user may see on ``modeladmin``'s admin site (every task when that
    site has no task admin)."""
    if modeladmin.model is RecallTask:
        return modeladmin.get_queryset(request)
    try:
        task_admin = modeladmin.admin_site.get_model_admin(RecallTask)
    except NotRegistered:
        return RecallTask.objects.all()
    return task_admin.get_queryset(request)


def visible_nodes(modeladmin, request: HttpRequest, nodes: QuerySet[RecallNode]):
    """``nodes`` narrowed to those of tasks this user may see (unchanged, with no extra
    join or subquery, when the task admin shows every task)."""
    tasks = visible_tasks(modeladmin, request)
    if not narrows(tasks):
        return nodes
    return nodes.filter(task__in=tasks.values("pk"))
