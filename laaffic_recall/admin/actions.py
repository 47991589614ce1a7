"""The cancel actions of the mirror's change lists, in the manner of ``delete_selected``.

Each builds a cancel flow (``flow.py``) of its selection: without ``post`` in the request
it returns the confirmation page; with ``post=yes`` it confirms, tells the result as one
message and returns None, so the admin redirects back to the list. The confirmation posts
Django's own fields (``action``, ``_selected_action``, ``post``) and ``reason``.
``permissions=["cancel"]`` makes the admin ask ``has_cancel_permission``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..conf import app_settings
from .confirmation import CancelFlow, respond
from .readonly import is_pk

CANCEL_ACTIONS = frozenset({"cancel_tasks", "cancel_tasks_by_parent", "cancel_from_node"})


@admin.action(permissions=["cancel"], description=gettext_lazy("Cancel selected recall tasks"))
def cancel_tasks(modeladmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    """Type 1, one request per selected task (``{"type": 1, "id": key_id}``)."""
    tasks = _within_limit(modeladmin, request, queryset, "-created_at_remote", "-key_id")
    if tasks is None:
        return None
    cancel = CancelFlow(modeladmin, request, tasks=tasks, gone=_gone(modeladmin, request, tasks))
    return respond(modeladmin, request, cancel, _context(request, "cancel_tasks", tasks))


@admin.action(
    permissions=["cancel"],
    description=gettext_lazy("Cancel selected recall tasks by parent task id"),
)
def cancel_tasks_by_parent(
    modeladmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    """Type 2, one request per distinct parent task id among the selected tasks; it stops
    every Pending task of that parent, selected or not, so the preview lists them all."""
    tasks = _within_limit(modeladmin, request, queryset, "parent_task_id", "-key_id")
    if tasks is None:
        return None
    gone = _gone(modeladmin, request, tasks)
    cancel = CancelFlow(modeladmin, request, tasks=tasks, by_parent=True, gone=gone)
    return respond(modeladmin, request, cancel, _context(request, "cancel_tasks_by_parent", tasks))


@admin.action(
    permissions=["cancel"], description=gettext_lazy("Cancel from the selected node onward")
)
def cancel_from_node(modeladmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    """Type 3 on exactly one selected node (``{"type": 3, "id": node.key_id}``)."""
    nodes = list(queryset.select_related("task")[:2])
    gone = _gone(modeladmin, request, nodes)
    if not nodes and len(gone) == 1:  # the one node selected left the list
        cancel = CancelFlow(modeladmin, request, gone=gone)
        return respond(modeladmin, request, cancel, _context(request, "cancel_from_node", []))
    if len(nodes) != 1:
        text = _(
            "Select exactly one node: the cancel stops that node and every later node of its "
            "task. Nothing was sent."
        )
        modeladmin.message_user(request, text, messages.WARNING)
        return None
    cancel = CancelFlow(modeladmin, request, node=nodes[0])
    context = _context(request, "cancel_from_node", nodes)
    return respond(modeladmin, request, cancel, {**context, "object": nodes[0].task})


def _context(request: HttpRequest, action: str, rows: Sequence) -> dict:
    return {"action": action, "selected": [r.pk for r in rows], "back_url": request.get_full_path()}


def permission_message() -> str:
    return _(
        "You need the “%(permission)s” permission to cancel recall tasks or nodes; nothing "
        "was sent."
    ) % {"permission": _("Can cancel recall tasks")}


def refusal(modeladmin, request: HttpRequest) -> str:
    """Why a change-list POST must be refused before the admin runs its action (a message
    for the agent), or "": without the cancel permission (a forged or stale form) Django
    would only say "No action selected." (``ReadOnlyAdmin`` refuses a malformed selection.)"""
    if request.method != "POST":
        return ""
    if (
        _posted_action(request) in CANCEL_ACTIONS
        and modeladmin.has_view_permission(request)
        and not modeladmin.has_cancel_permission(request)
    ):
        return permission_message()
    return ""


def _posted_action(request: HttpRequest) -> str:
    """The action a change-list POST asks for, chosen as Django's ``response_action`` does."""
    names = request.POST.getlist("action")
    try:
        index = int(request.POST.get("index", 0))
    except ValueError:
        index = 0
    return names[index] if 0 <= index < len(names) else (names[-1] if names else "")


def _within_limit(modeladmin, request: HttpRequest, queryset: QuerySet, *ordering: str):
    """The selected tasks in this order, or None (with a message) past MAX_CANCEL_BATCH."""
    limit = app_settings.MAX_CANCEL_BATCH
    tasks = list(queryset.order_by(*ordering)[: limit + 1])
    if len(tasks) > limit:
        text = _(
            "You selected %(count)d targets; one cancel handles at most %(limit)d. Nothing was "
            "sent: narrow the selection (e.g. filter by status Pending) and try again."
        ) % {"count": queryset.count(), "limit": limit}
        modeladmin.message_user(request, text, messages.ERROR)
        return None
    return tasks


def _gone(modeladmin, request: HttpRequest, acted: Sequence) -> list[tuple[str, object]]:
    """The rows posted in ``_selected_action`` that the action did not get (e.g. a task
    that left a filtered list since the page was shown): ``(id, row now or None)``."""
    if request.POST.get("select_across") == "1":
        return []
    acted_ids = {str(row.pk) for row in acted}
    posted = dict.fromkeys(v for v in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME) if v)
    missing = [v for v in posted if v not in acted_ids and is_pk(v)]
    if not missing:
        return []
    found = {str(obj.pk): obj for obj in modeladmin.get_queryset(request).filter(pk__in=missing)}
    return [(value, found.get(value)) for value in missing]
