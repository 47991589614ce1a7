"""One cancel flow for every way the admin starts one, and its two pages.

``CancelFlow.preview()`` says per recall task (and per round, from a node) what the
confirmation will do and why; ``confirm()`` sends it and says per task what happened, as
LAAFFIC's re-read shows it (the rules are ``cancel/plan.py``'s). In the manner of Django's
``delete_selected``, ``respond()`` renders the confirmation without ``post``, and with
``post=yes`` confirms and tells the result as one message. Templates are found by name,
``admin/<app>/<model>/<name>``, then ``admin/<app>/<name>``, then ``admin/<name>``, so a
host overrides one by dropping a file in place: ``cancel_confirmation.html`` (the page),
``cancel_result.html`` (the summary) and ``cancel_row.html`` (one task, in both).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.contrib import messages
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from ..cancel import plan
from ..cancel.audit import Submission
from ..cancel.plan import Line, Preview, Result
from ..client.wire import is_valid_id
from ..forms import CancelReasonForm
from ..models import VIEW_ATTEMPTS_PERMISSION, RecallNode, RecallTask, Status
from .visibility import visible_tasks

logger = logging.getLogger("laaffic_recall")
LEVELS = {"success": messages.SUCCESS, "warning": messages.WARNING, "error": messages.ERROR}


def template_names(modeladmin, name: str) -> list[str]:
    """``admin/<app>/<model>/<name>``, then ``admin/<app>/<name>``, then ``admin/<name>``."""
    opts = modeladmin.opts
    return [
        f"admin/{opts.app_label}/{opts.model_name}/{name}",
        f"admin/{opts.app_label}/{name}",
        f"admin/{name}",
    ]


def with_filters(modeladmin, request: HttpRequest, url: str) -> str:
    """``url`` with the change list's filters of this request kept."""
    context = {
        "opts": modeladmin.opts,
        "preserved_filters": modeladmin.get_preserved_filters(request),
    }
    return add_preserved_filters(context, url)


def changelist_url(modeladmin, request: HttpRequest) -> str:
    """The task list, with the filters the agent came with."""
    url = reverse(f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_changelist")
    return with_filters(modeladmin, request, url)


def no_such_task(modeladmin, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
    """Back to the task list, saying there is no such task here (or none this agent sees)."""
    text = _("There is no recall task with id “%(id)s” here; it may have been removed.") % {
        "id": object_id
    }
    modeladmin.message_user(request, text, messages.WARNING)
    return HttpResponseRedirect(changelist_url(modeladmin, request))


def task_url(modeladmin, request: HttpRequest, task: RecallTask | int) -> str:
    """The task's page (a task or its primary key), keeping the list's filters."""
    pk = task if isinstance(task, int) else task.pk
    url = reverse(f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_change", args=[pk])
    return with_filters(modeladmin, request, url)


@dataclass(frozen=True)
class StopRounds:
    """The task page's offer for an In-progress task with Pending rounds."""

    first: int
    last: int
    url: str
    node: RecallNode

    @property
    def label(self) -> str:
        return render_to_string(
            "admin/laaffic_recall/stop_rounds_label.html", {"offer": self}
        ).strip()


def stop_rounds(modeladmin, request: HttpRequest, task: RecallTask) -> StopRounds | None:
    """ "Stop rounds N-M" of an In-progress task with Pending rounds (None otherwise)."""
    if task.status != Status.IN_PROGRESS or not is_valid_id(task.key_id):
        return None
    pending = list(task.nodes.filter(status=Status.PENDING).order_by("position"))
    if not pending:
        return None
    url = from_node_url(modeladmin, request, task.pk, pending[0].pk)
    return StopRounds(pending[0].position + 1, pending[-1].position + 1, url, pending[0])


def from_node_url(modeladmin, request: HttpRequest, task_pk: int, node_pk: int) -> str:
    """The confirmation of "Cancel from here" on a node, keeping the list's filters."""
    name = f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_cancel_from_node"
    return with_filters(modeladmin, request, reverse(name, args=[task_pk, node_pk]))


@dataclass
class CancelFlow:
    """A cancel of ``tasks`` (type 1 each), of their parents (type 2, ``by_parent``), of
    ``parent_ids`` typed by hand, or from ``node`` onward (type 3), by this admin's user;
    ``gone`` are selected rows no longer in the list (``(id, row now or None)``)."""

    modeladmin: Any
    request: HttpRequest
    tasks: Sequence[RecallTask] = ()
    by_parent: bool = False
    parent_ids: Sequence[int] = ()
    node: RecallNode | None = None
    gone: Sequence[tuple[str, Any]] = ()
    _preview: Preview | None = None

    @property
    def visible(self):
        """The tasks this user may see: the task admin's ``get_queryset(request)``."""
        return visible_tasks(self.modeladmin, self.request)

    def preview(self, confirming: bool = False) -> Preview:
        """What the confirmation would do now, per task (and per round, from a node)."""
        if self._preview is None:
            if self.node is not None:
                found = plan.plan_node(self.node, self.visible)
            elif self.by_parent or self.parent_ids:
                found = plan.plan_parents(
                    self.tasks, self.parent_ids, self.gone, self.visible, confirming
                )
            else:
                found = plan.plan_tasks(self.tasks, self.gone, confirming)
            self._preview = replace(found, lines=tuple(map(self._linked, found.lines)))
        return self._preview

    def confirm(self, submission: Submission, claimed=None) -> Result:
        """Send what the preview would send; per task, what LAAFFIC shows now."""
        result = plan.run(self.preview(confirming=True), submission, None)
        return plan.finish(claimed, replace(result, lines=tuple(map(self._linked, result.lines))))

    def _linked(self, line: Line) -> Line:
        admin, request = self.modeladmin, self.request
        url = task_url(admin, request, line.pk) if line.pk is not None else ""
        offer = ""
        if line.offer_node is not None and line.pk is not None:
            offer = from_node_url(admin, request, line.pk, line.offer_node)
        return replace(line, url=url, offer_url=offer)


def respond(
    modeladmin,
    request: HttpRequest,
    cancel: CancelFlow,
    context: dict[str, Any],
    form_class: type = CancelReasonForm,
) -> HttpResponse | None:
    """The confirmation (``None`` of it when ``post=yes`` came with a valid form: then the
    flow is confirmed, its result told as one message, and the caller redirects)."""
    form = (
        form_class(request.POST)
        if request.POST.get("post")
        else form_class(initial=context.get("hidden_fields"))
    )
    if request.POST.get("post") and form.is_valid():
        landing = context.get("landing", context.get("back_url", ""))
        confirm(modeladmin, request, cancel, form.cleaned_data.get("reason", ""), landing)
        return None
    preview = cancel.preview()
    already = None
    if not preview.to_stop:
        already = plan.handled_before(request.user.get_username(), [x.key for x in preview.lines])
    if cancel.node is not None:
        title = _("Cancel from a node onward")
    elif cancel.parent_ids:
        title = _("Cancel by parent task id")
    elif cancel.by_parent:
        title = _("Cancel recall tasks by parent task id")
    else:
        title = _("Cancel recall tasks")
    request.current_app = modeladmin.admin_site.name
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.opts,
        "media": modeladmin.media,
        "preserved_filters": modeladmin.get_preserved_filters(request),
        "preview": preview,
        "form": form,
        "submission_token": uuid.uuid4(),  # one-time: a second POST of it starts nothing
        "already": already and already[1],
        "already_at": already and already[0].finished_at,
        **context,
    }
    return TemplateResponse(
        request, template_names(modeladmin, "cancel_confirmation.html"), context
    )


def confirm(
    modeladmin, request: HttpRequest, cancel: CancelFlow, reason: str, landing: str = ""
) -> None:
    """Claim the page's one-time token, confirm the flow, tell its result (``landing``: the
    page the agent is sent to, where that message shows)."""
    if not modeladmin.has_cancel_permission(request):  # the views and the admin check first
        raise PermissionDenied
    token, username = request.POST.get("submission_token", ""), request.user.get_username()
    claimed, earlier = plan.claim(token, username)
    if earlier is not None:
        same = earlier.username == request.user.get_username()
        result = Result.from_json(earlier.summary) if same and earlier.finished_at else None
        tell(modeladmin, request, result, repeated=earlier, level=messages.INFO, landing=landing)
        return
    correlation_id = claimed.correlation_id if claimed is not None else uuid.uuid4()
    visible = visible_tasks(modeladmin, request)
    submission = Submission.from_request(request, reason, correlation_id, visible=visible)
    try:
        result = cancel.confirm(submission, claimed)
    except Exception:
        logger.exception("Cancel submission %s failed", correlation_id)
        result = plan.finish(claimed, Result((), str(correlation_id)[:8], "unexpected"))
    tell(modeladmin, request, result, correlation_id=correlation_id, landing=landing)


def tell(
    modeladmin, request, result, repeated=None, level=None, correlation_id=None, landing=""
) -> None:
    """The result as one message, worded by ``cancel_result.html``."""
    log_url = ""
    ref = correlation_id or (repeated.correlation_id if repeated is not None else None)
    logged = repeated is not None or (result is not None and result.ref)
    if ref is not None and logged and request.user.has_perm(VIEW_ATTEMPTS_PERMISSION):
        url = reverse(f"{modeladmin.admin_site.name}:laaffic_recall_cancelattempt_changelist")
        log_url = f"{url}?correlation_id={ref}"
    context = {"result": result, "repeated": repeated, "log_url": log_url, "landing": landing}
    text = render_to_string(template_names(modeladmin, "cancel_result.html"), context, request)
    if level is None:
        level = LEVELS[result.level]
    modeladmin.message_user(request, mark_safe(text.strip()), level)
