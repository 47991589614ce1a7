"""What the task list and the task page show besides Django's own fields and rows.

The list: when the mirror was last synced, "Cancel by parent task id", and "Look it up at
LAAFFIC" under a search for one recall key that found nothing. The task page: "Refresh
from LAAFFIC", "Cancel this task" (or why there is none), when the task was last read, a
cancel whose outcome is not known yet, and the timeline.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _

from ..cancel.audit import blocking_attempts
from ..client.wire import is_valid_id
from ..models import VIEW_ATTEMPTS_PERMISSION, CancelAttempt, RecallTask, Status
from .clock import last_read
from .confirmation import stop_rounds, with_filters
from .overview import sync_state
from .refresh import refresh_url
from .timeline import task_timeline

ATTEMPTS_ON_TASK_PAGE = 20


def task_page_context(modeladmin, request: HttpRequest, task: RecallTask) -> dict[str, Any]:
    """What the task page shows besides the fields: "Refresh from LAAFFIC", "Cancel this
    task" (or why there is none), when the task was last read from LAAFFIC, a cancel whose
    outcome is not known yet, and the timeline (cancel attempts for those who may view the
    audit log)."""
    reading = last_read(task)
    context: dict[str, Any] = {
        "can_cancel": modeladmin.has_cancel_permission(request),
        "cancel_task_url": "",
        "cancel_task_note": "",
        "refresh_url": refresh_url(modeladmin, task) if is_valid_id(task.key_id) else "",
        "reading": reading,
        "doubt": blocking_attempts([task]).get(task.key_id),
    }
    if context["doubt"] is not None:
        # No Cancel button while a cancel of this task is not known yet: refresh first.
        context["can_cancel"] = False
    if context["can_cancel"]:
        if task.is_pending:
            url = reverse(
                f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_cancel", args=[task.pk]
            )
            context["cancel_task_url"] = with_filters(modeladmin, request, url)
        elif offer := stop_rounds(modeladmin, request, task):
            context["stop_rounds"] = offer
            context["cancel_task_note"] = _(
                "In progress: the whole task can no longer be cancelled, but its later rounds can."
            )
        elif task.nodes.filter(status=Status.PENDING).exists():
            context["cancel_task_note"] = _(
                "Whole-task cancel only while Pending; use “Cancel from here” on a pending round."
            )
        else:
            context["cancel_task_note"] = _("Whole-task cancel only while Pending.")
    attempts: list[CancelAttempt] = []
    if request.user.has_perm(VIEW_ATTEMPTS_PERMISSION):
        rows = CancelAttempt.objects.filter(task_key_id=task.key_id).select_related("node")
        attempts = list(rows[: ATTEMPTS_ON_TASK_PAGE + 1])
        if len(attempts) > ATTEMPTS_ON_TASK_PAGE:
            attempts = attempts[:ATTEMPTS_ON_TASK_PAGE]
            context["attempts_url"] = "{}?task_key_id={}".format(
                reverse(f"{modeladmin.admin_site.name}:laaffic_recall_cancelattempt_changelist"),
                task.key_id,
            )
    context["timeline"] = task_timeline(task, reading, attempts)
    return context


def changelist_context(modeladmin, request: HttpRequest) -> dict[str, Any]:
    """The task list's "Last sync" line (a warning when the mirror is stale), its "Cancel by
    parent task id" link for those who may cancel, and the recall key a search for one
    number looked for (``searched_key``: under an empty result, "Look it up at LAAFFIC").

    The sync state is read when the page shows it: a POST that runs an action (its
    confirmation page, the confirmed cancel and its redirect) never reads it."""
    state = SimpleLazyObject(partial(sync_state, modeladmin.admin_site.name))
    context: dict[str, Any] = {"sync_state": state}
    if modeladmin.has_cancel_permission(request):
        url = reverse(f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_cancel_by_parent")
        context["cancel_by_parent_url"] = with_filters(modeladmin, request, url)
    searched = request.GET.get("q", "").strip().removeprefix("#")
    if searched.isascii() and searched.isdigit() and is_valid_id(int(searched)):
        context["searched_key"] = int(searched)
        context["look_up_url"] = reverse(
            f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_look_up"
        )
    return context
