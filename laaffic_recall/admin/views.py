"""The task page's cancel views and the "Cancel by parent task id" form.

Plain functions of the task admin, served under its URLs (``RecallTaskAdmin.get_urls``):
the task page's buttons are links (GET) to confirmation pages that POST with CSRF, as
the change-list actions do; every view re-checks the cancel permission, a GET never
changes anything, and every result ends as one summary message, never a 500.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from ..conf import app_settings
from ..forms import ParentCancelForm, ParentTaskForm
from ..models import RecallTask
from .actions import permission_message
from .confirmation import (
    CancelFlow,
    changelist_url,
    no_such_task,
    respond,
    task_url,
    template_names,
    with_filters,
)
from .visibility import visible_tasks


def cancel_task(modeladmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """The task page's "Cancel this task": confirm (GET), then cancel type 1 (POST)."""
    task, refused = _task_for_cancel(modeladmin, request, object_id)
    if refused:
        return refused
    back = task_url(modeladmin, request, task)
    cancel = CancelFlow(modeladmin, request, tasks=[task])
    page = respond(modeladmin, request, cancel, {"object": task, "back_url": back})
    return page or HttpResponseRedirect(back)


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
    node.task = task
    cancel = CancelFlow(modeladmin, request, node=node)
    page = respond(modeladmin, request, cancel, {"object": task, "back_url": back})
    return page or HttpResponseRedirect(back)


def cancel_by_parent(modeladmin, request: HttpRequest) -> HttpResponse:
    """Type a parent task id (maybe not mirrored yet), see what LAAFFIC has, confirm."""
    changelist = changelist_url(modeladmin, request)
    if not modeladmin.has_view_permission(request):
        return _refuse(modeladmin, request, reverse(f"{modeladmin.admin_site.name}:index"))
    if not modeladmin.has_cancel_permission(request):
        return _refuse(modeladmin, request, changelist)
    form = ParentTaskForm(request.POST if request.method == "POST" else None)
    if request.method != "POST" or not form.is_valid():
        return _parent_form_page(modeladmin, request, form)
    parent_task_id = form.cleaned_data["parent_task_id"]
    cancel = CancelFlow(modeladmin, request, parent_ids=[parent_task_id])
    preview = cancel.preview()
    unseen = any(code == "hidden" for code, _value in preview.notes)
    if not request.POST.get("post") and (not preview.lines or unseen):
        mistaken = visible_tasks(modeladmin, request).filter(key_id=parent_task_id).first()
        return _parent_form_page(modeladmin, request, form, preview, mistaken)
    url = reverse(f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_cancel_by_parent")
    back = with_filters(modeladmin, request, url)
    context = {
        "hidden_fields": {"parent_task_id": parent_task_id},
        "back_url": back,
        "landing": changelist,
    }
    page = respond(modeladmin, request, cancel, context, ParentCancelForm)
    return page or HttpResponseRedirect(changelist)


# --------------------------------------------------------------------------- helpers


def _refuse(modeladmin, request: HttpRequest, url: str) -> HttpResponseRedirect:
    """Back to ``url`` with an error naming the permission; nothing is sent."""
    modeladmin.message_user(request, permission_message(), messages.ERROR)
    return HttpResponseRedirect(url)


def _task_for_cancel(modeladmin, request: HttpRequest, object_id: str):
    """(task, None), or (None, a redirect) when the user may not cancel (with a message
    naming the permission) or the task does not exist or is not visible to them."""
    if not modeladmin.has_view_permission(request):
        return None, _refuse(modeladmin, request, reverse(f"{modeladmin.admin_site.name}:index"))
    task = modeladmin.get_object(request, unquote(object_id))
    if task is None or not modeladmin.has_view_permission(request, task):
        return None, no_such_task(modeladmin, request, object_id)
    if not modeladmin.has_cancel_permission(request):
        return None, _refuse(modeladmin, request, task_url(modeladmin, request, task))
    return task, None


def _parent_form_page(
    modeladmin, request: HttpRequest, form, preview=None, mistaken: RecallTask | None = None
) -> TemplateResponse:
    """The form; after a lookup that found nothing to list, why (``preview``'s notes);
    ``mistaken`` is a mirrored task whose recall key is the number typed, as when a recall
    key is typed where a parent id belongs, offered as "did you mean"."""
    request.current_app = modeladmin.admin_site.name
    context = {
        **modeladmin.admin_site.each_context(request),
        "mistaken": mistaken,
        "mistaken_url": task_url(modeladmin, request, mistaken) if mistaken else "",
        "opts": modeladmin.opts,
        "media": modeladmin.media + form.media,
        "title": _("Cancel by parent task id"),
        "form": form,
        "preview": preview,
        "days": app_settings.PARENT_LOOKUP_DAYS,
        "back_url": changelist_url(modeladmin, request),
        "preserved_filters": modeladmin.get_preserved_filters(request),
    }
    return TemplateResponse(request, template_names(modeladmin, "cancel_by_parent.html"), context)
