"""The task page's cancel views and the "Cancel by parent task id" form.

Plain functions of the task admin, served under its URLs (``RecallTaskAdmin.get_urls``):
the task page's buttons are links (GET) to confirmation pages that POST with CSRF, as
the change-list actions do; every view re-checks the cancel permission, a GET never
changes anything, and every result ends as one summary message, never a 500.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _

from ..cancel.audit import blocking_attempts
from ..cancel.results import CancelTarget
from ..cancel.service import look_up_parent
from ..client.wire import is_valid_id
from ..conf import app_settings
from ..forms import ParentCancelForm, ParentTaskForm
from ..models import VIEW_ATTEMPTS_PERMISSION, CancelAttempt, RecallTask, Status
from .actions import (
    cancel_node,
    confirmed_reason,
    hidden_parent_line,
    hidden_tasks,
    parent_group,
    permission_message,
    run_cancel,
)
from .clock import last_read
from .confirmation import (
    blocking_notes,
    invalid_key_line,
    invalid_key_note,
    node_context,
    render_confirmation,
    stop_rounds,
    task_row,
    task_url,
    template_names,
    with_filters,
    with_offer,
)
from .overview import sync_state
from .refresh import refresh_url
from .timeline import task_timeline
from .visibility import visible_tasks

ATTEMPTS_ON_TASK_PAGE = 20


def cancel_task(modeladmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """The task page's "Cancel this task": confirm (GET), then cancel type 1 (POST)."""
    task, refused = _task_for_cancel(modeladmin, request, object_id)
    if refused:
        return refused
    form, confirmed = confirmed_reason(request)
    if confirmed:
        if is_valid_id(task.key_id):
            run_cancel(
                modeladmin, request, [CancelTarget.for_task(task)], form.cleaned_data["reason"]
            )
        else:
            run_cancel(modeladmin, request, [], "", [invalid_key_line(task)])
        return HttpResponseRedirect(task_url(modeladmin, request, task))
    row = task_row(task, "", blocking_notes([task]), invalid_key_note(task))
    row = with_offer(modeladmin, request, row, task)
    return render_confirmation(
        modeladmin,
        request,
        {
            "title": _("Cancel recall task"),
            "object": task,
            "intro": _(
                "Are you sure you want to cancel this recall task? LAAFFIC will make no "
                "further recall rounds for it."
            ),
            "groups": [{"title": _("Recall task"), "rows": [row]}],
            "form": form,
            "back_url": task_url(modeladmin, request, task),
        },
    )


def cancel_from_node(
    modeladmin, request: HttpRequest, object_id: str, node_id: int
) -> HttpResponse:
    """A node's "Cancel from here": confirm with the later nodes (GET), then type 3."""
    task, refused = _task_for_cancel(modeladmin, request, object_id)
    if refused:
        return refused
    back = task_url(modeladmin, request, task)
    node = task.nodes.filter(pk=node_id).first()
    if node is None:
        modeladmin.message_user(
            request, _("That node is no longer in this task's node list."), messages.WARNING
        )
        return HttpResponseRedirect(back)
    form, confirmed = confirmed_reason(request)
    if confirmed:
        cancel_node(modeladmin, request, node, form.cleaned_data["reason"])
        return HttpResponseRedirect(back)
    return render_confirmation(modeladmin, request, node_context(node, form, back, obj=task))


def cancel_by_parent(modeladmin, request: HttpRequest) -> HttpResponse:
    """Type a parent task id (maybe not mirrored yet), see what LAAFFIC has, confirm."""
    changelist = _changelist_url(modeladmin, request)
    if not modeladmin.has_view_permission(request):
        return _refuse(modeladmin, request, reverse(f"{modeladmin.admin_site.name}:index"))
    if not modeladmin.has_cancel_permission(request):
        return _refuse(modeladmin, request, changelist)
    if request.method == "POST" and request.POST.get("post"):
        confirm = ParentCancelForm(request.POST)
        if confirm.is_valid():
            parent_task_id = confirm.cleaned_data["parent_task_id"]
            lookup = look_up_parent(parent_task_id)
            if hidden_tasks(modeladmin, request, lookup.tasks):
                run_cancel(modeladmin, request, [], "", [hidden_parent_line(parent_task_id)])
                return HttpResponseRedirect(changelist)
            tasks = () if lookup.error else lookup.tasks
            target = CancelTarget.for_parent(parent_task_id, tasks)
            run_cancel(modeladmin, request, [target], confirm.cleaned_data["reason"])
            return HttpResponseRedirect(changelist)
        form = ParentTaskForm(request.POST)
    elif request.method == "POST":
        form = ParentTaskForm(request.POST)
        if form.is_valid():
            return _confirm_parent(modeladmin, request, form.cleaned_data["parent_task_id"])
    else:
        form = ParentTaskForm()
    return _parent_form_page(modeladmin, request, form)


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


# --------------------------------------------------------------------------- helpers


def _refuse(modeladmin, request: HttpRequest, url: str) -> HttpResponseRedirect:
    """Back to ``url`` with an error naming the permission; nothing is sent."""
    modeladmin.message_user(request, permission_message(), messages.ERROR)
    return HttpResponseRedirect(url)


def _changelist_url(modeladmin, request: HttpRequest) -> str:
    url = reverse(f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_changelist")
    return with_filters(modeladmin, request, url)


def _task_for_cancel(modeladmin, request: HttpRequest, object_id: str):
    """(task, None), or (None, a redirect) when the user may not cancel (with a message
    naming the permission) or the task does not exist or is not visible to them."""
    if not modeladmin.has_view_permission(request):
        return None, _refuse(modeladmin, request, reverse(f"{modeladmin.admin_site.name}:index"))
    task = modeladmin.get_object(request, unquote(object_id))
    if task is None or not modeladmin.has_view_permission(request, task):
        redirect = modeladmin._get_obj_does_not_exist_redirect(request, modeladmin.opts, object_id)
        return None, redirect
    if not modeladmin.has_cancel_permission(request):
        return None, _refuse(modeladmin, request, task_url(modeladmin, request, task))
    return task, None


def _parent_form_page(
    modeladmin, request: HttpRequest, form, error: str = "", mistaken: RecallTask | None = None
) -> TemplateResponse:
    """The form; ``mistaken`` is a mirrored task whose recall key is the number typed, as
    when a recall key is typed where a parent id belongs, offered as "did you mean"."""
    request.current_app = modeladmin.admin_site.name
    context = {
        "mistaken": mistaken,
        "mistaken_url": task_url(modeladmin, request, mistaken) if mistaken else "",
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.opts,
        "media": modeladmin.media + form.media,
        "title": _("Cancel by parent task id"),
        "form": form,
        "error": error,
        "back_url": _changelist_url(modeladmin, request),
        "preserved_filters": modeladmin.get_preserved_filters(request),
    }
    return TemplateResponse(request, template_names(modeladmin, "cancel_by_parent.html"), context)


def _confirm_parent(modeladmin, request: HttpRequest, parent_task_id: int) -> TemplateResponse:
    lookup = look_up_parent(parent_task_id)
    if lookup.error or not lookup.tasks:
        error = lookup.error or _(
            "LAAFFIC has no recall task with parent task id %(id)s created in the last "
            "%(days)s days; nothing can be cancelled."
        ) % {"id": parent_task_id, "days": app_settings.PARENT_LOOKUP_DAYS}
        form = ParentTaskForm(initial={"parent_task_id": parent_task_id})
        mistaken = visible_tasks(modeladmin, request).filter(key_id=parent_task_id).first()
        return _parent_form_page(modeladmin, request, form, error=error, mistaken=mistaken)
    hidden = hidden_tasks(modeladmin, request, lookup.tasks)
    if hidden:
        form = ParentTaskForm(initial={"parent_task_id": parent_task_id})
        return _parent_form_page(
            modeladmin, request, form, error=hidden_parent_line(parent_task_id)
        )
    return render_confirmation(
        modeladmin,
        request,
        {
            "title": _("Cancel by parent task id"),
            "intro": _(
                "Are you sure? LAAFFIC lists these recall tasks for parent task %(id)s; the "
                "cancel stops the automatic recall of that parent task."
            )
            % {"id": parent_task_id},
            "groups": [parent_group(modeladmin, request, lookup, [])],
            "form": ParentCancelForm(initial={"parent_task_id": parent_task_id}),
            "hidden_fields": {"parent_task_id": parent_task_id},
            "back_url": request.get_full_path(),
        },
    )
