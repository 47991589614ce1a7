"""Cancel actions, confirmation pages and buttons, mixed into the task and node admins.

Django's "delete selected" pattern: the changelist POST (``action``, ``_selected_action``)
shows a confirmation page listing exactly what will be cancelled; its "Yes, I'm sure"
POSTs the same fields with ``post=yes`` and an optional reason, and only then does the
cancel service run. Buttons on the task page are links (GET) to confirmation pages that
POST with CSRF. Every view re-checks the ``laaffic_recall.cancel_recalltask`` permission;
a GET never changes anything, and every result ends as one summary message, never a 500.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from functools import update_wrapper
from typing import Any

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.decorators import action
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import cancel as cancel_service
from ..audit import Submission, status_label
from ..cancel import BatchTooLarge, CancelReport, CancelTarget
from ..conf import app_settings
from ..forms import CancelReasonForm, ParentCancelForm, ParentTaskForm
from ..models import CancelAttempt, Outcome, RecallNode, RecallTask, Status

logger = logging.getLogger("laaffic_recall")

CANCEL_PERMISSION = "laaffic_recall.cancel_recalltask"
VIEW_ATTEMPTS_PERMISSION = "laaffic_recall.view_cancelattempt"
ATTEMPTS_ON_TASK_PAGE = 20

STATUS_CSS = {
    Status.PENDING: "pending",
    Status.IN_PROGRESS: "in-progress",
    Status.COMPLETED: "completed",
    Status.CANCELLED: "cancelled",
    Status.EXCEPTION: "exception",
}
INTEGER_PK_TYPES = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
}
LEVELS = {"success": messages.SUCCESS, "warning": messages.WARNING, "error": messages.ERROR}


def _is_db_int(value: str) -> bool:
    return value.isascii() and value.isdigit() and int(value) <= 2**63 - 1


def status_css(value: int | None) -> str:
    return STATUS_CSS.get(value, "unknown")


def preview_row(label: str, status: int | None, url: str = "", note: str = "") -> dict:
    """One line of a confirmation page: what it is, its mirrored status, what will happen."""
    return {
        "label": label,
        "url": url,
        "status": status_label(status),
        "status_css": status_css(status),
        "will_send": status == Status.PENDING,
        "note": note,
    }


class CancelAdminBase:
    """What both mixins share: the permission, the templates, the run and its summary."""

    # Like ModelAdmin.delete_selected_confirmation_template: None means the lookup chain.
    cancel_confirmation_template: str | None = None

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        """``laaffic_recall.cancel_recalltask`` ("Can cancel recall tasks"); superusers have it."""
        return request.user.has_perm(CANCEL_PERMISSION)

    def cancel_template_names(self, name: str) -> list[str]:
        """``admin/<app>/<model>/<name>``, then ``admin/<app>/<name>``, then ``admin/<name>``."""
        opts = self.model._meta
        return [
            f"admin/{opts.app_label}/{opts.model_name}/{name}",
            f"admin/{opts.app_label}/{name}",
            f"admin/{name}",
        ]

    def render_cancel_confirmation(self, request: HttpRequest, context: dict) -> TemplateResponse:
        opts = self.model._meta
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "media": self.media,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "max_batch": int(app_settings.MAX_CANCEL_BATCH),
            **context,
        }
        return TemplateResponse(
            request,
            self.cancel_confirmation_template
            or self.cancel_template_names("cancel_confirmation.html"),
            context,
        )

    def run_cancel(self, request: HttpRequest, targets: list[CancelTarget], reason: str) -> None:
        """Call the service once for a confirmed submission and report it in one message."""
        if not self.has_cancel_permission(request):  # defence in depth: views check first
            raise PermissionDenied
        submission = Submission.from_request(request, reason)
        try:
            report = cancel_service.cancel(targets, submission)
        except BatchTooLarge as exc:
            self.message_user(request, self.too_many_message(exc.count), messages.ERROR)
            return
        except Exception:
            logger.exception("Cancel submission %s failed", submission.correlation_id)
            self.message_user(
                request,
                _(
                    "The cancel could not be completed because of an unexpected error. Check "
                    "the cancel attempts log before trying again."
                ),
                messages.ERROR,
            )
            return
        self.message_cancel_report(request, report)

    def too_many_message(self, count: int) -> str:
        return _(
            "You selected %(count)d targets; one cancel handles at most %(limit)d. Nothing was "
            "sent: narrow the selection (e.g. filter by status Pending) and try again."
        ) % {"count": count, "limit": int(app_settings.MAX_CANCEL_BATCH)}

    def message_cancel_report(self, request: HttpRequest, report: CancelReport) -> None:
        """ONE message naming each target and what happened, at the level that fits."""
        parts = [
            (Outcome.SUCCEEDED, _("%(count)d cancelled")),
            (Outcome.SKIPPED, _("%(count)d skipped")),
            (Outcome.REFUSED, _("%(count)d refused")),
            (Outcome.FAILED, _("%(count)d failed")),
            (Outcome.UNKNOWN, _("%(count)d unknown")),
        ]
        counts = ", ".join(
            text % {"count": report.count(outcome)}
            for outcome, text in parts
            if report.count(outcome)
        )
        head = _("Cancel %(ref)s: %(counts)s.") % {
            "ref": str(report.correlation_id)[:8],
            "counts": counts or _("nothing to do"),
        }
        # <div>, not a nested <li>: the admin styles every li of the message list as a
        # message of its own, with its own icon.
        lines = ((r.describe(),) for r in report.results)
        items = format_html_join("", '<div class="laaffic-cancel-result">{}</div>', lines)
        link = ""
        if request.user.has_perm(VIEW_ATTEMPTS_PERMISSION):
            url = reverse(f"{self.admin_site.name}:laaffic_recall_cancelattempt_changelist")
            link = format_html(
                ' <a href="{}?correlation_id={}">{}</a>',
                url,
                report.correlation_id,
                _("See the audit log."),
            )
        self.message_user(request, format_html("{}{}{}", head, link, items), LEVELS[report.level])

    def response_action(self, request: HttpRequest, queryset):
        """Refuse malformed ``_selected_action`` ids with a message (Django would raise a 500
        on ``pk__in=["abc"]`` or on an id beyond 64 bits)."""
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if self._integer_pk() and not all(_is_db_int(value) for value in selected):
            self.message_user(
                request,
                _("The selection contains an invalid id; nothing was done."),
                messages.ERROR,
            )
            return None
        return super().response_action(request, queryset)

    def _integer_pk(self) -> bool:
        return self.model._meta.pk.get_internal_type() in INTEGER_PK_TYPES

    def get_urls(self):
        urls = super().get_urls()
        # The actions run from the change list view: keep it out of ATOMIC_REQUESTS, so the
        # audit row is committed before the request to LAAFFIC leaves there too.
        changelist = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        for pattern in urls:
            if getattr(pattern, "name", None) == changelist:
                transaction.non_atomic_requests(pattern.callback)
        return urls

    def _cancel_view(self, view):
        """Wrap an extra view: admin login, CSRF, never cached; never inside ATOMIC_REQUESTS
        (the audit row must be committed before the request to LAAFFIC leaves)."""
        wrapped = self.admin_site.admin_view(view)
        return transaction.non_atomic_requests(update_wrapper(wrapped, view))

    def _confirmed_reason(self, request: HttpRequest) -> tuple[CancelReasonForm, bool]:
        """The reason form, and whether this POST is the confirmation (``post=yes``)."""
        if request.method == "POST" and request.POST.get("post"):
            form = CancelReasonForm(request.POST)
            return form, form.is_valid()
        return CancelReasonForm(), False


class TaskCancelAdminMixin(CancelAdminBase):
    """Cancel actions for ``RecallTaskAdmin``, the task page's buttons, the parent-id form."""

    cancel_actions: list[str] = ["cancel_tasks", "cancel_tasks_by_parent"]

    # ---- actions

    @action(permissions=["cancel"], description=gettext_lazy("Cancel selected recall tasks"))
    def cancel_tasks(self, request: HttpRequest, queryset) -> HttpResponse | None:
        """Type 1, one call per selected task (``{"type": 1, "id": key_id}``)."""
        limit = int(app_settings.MAX_CANCEL_BATCH)
        tasks = list(queryset.order_by("-created_at_remote", "-key_id")[: limit + 1])
        if len(tasks) > limit:
            self.message_user(request, self.too_many_message(queryset.count()), messages.ERROR)
            return None
        form, confirmed = self._confirmed_reason(request)
        if confirmed:
            targets = [CancelTarget.for_task(t) for t in tasks]
            self.run_cancel(request, targets, form.cleaned_data["reason"])
            return None
        rows = [preview_row(str(t), t.status, self._task_url(t)) for t in tasks]
        return self.render_cancel_confirmation(
            request,
            {
                "title": _("Cancel recall tasks"),
                "intro": _(
                    "Are you sure you want to cancel these recall tasks? LAAFFIC will make no "
                    "further recall rounds for them."
                ),
                "groups": [{"title": _("Recall tasks"), "rows": rows}],
                "form": form,
                "action": "cancel_tasks",
                "selected": [t.pk for t in tasks],
                "back_url": request.get_full_path(),
            },
        )

    @action(
        permissions=["cancel"],
        description=gettext_lazy("Cancel selected recall tasks by parent task id"),
    )
    def cancel_tasks_by_parent(self, request: HttpRequest, queryset) -> HttpResponse | None:
        """Type 2, one call per distinct parent task id among the selected tasks."""
        limit = int(app_settings.MAX_CANCEL_BATCH)
        tasks = list(queryset.order_by("parent_task_id", "-key_id")[: limit + 1])
        if len(tasks) > limit:
            self.message_user(request, self.too_many_message(queryset.count()), messages.ERROR)
            return None
        by_parent: OrderedDict[int, list[RecallTask]] = OrderedDict()
        without = []
        for task in tasks:
            if task.parent_task_id is None:
                without.append(task)
            else:
                by_parent.setdefault(task.parent_task_id, []).append(task)
        if not by_parent:
            self.message_user(
                request,
                _("None of the selected tasks has a parent task id; nothing was sent."),
                messages.WARNING,
            )
            return None
        form, confirmed = self._confirmed_reason(request)
        if confirmed:
            targets = [CancelTarget.for_parent(pid, ts) for pid, ts in by_parent.items()]
            self.run_cancel(request, targets, form.cleaned_data["reason"])
            return None
        groups = [
            {
                "title": _("Parent task %(id)s") % {"id": pid},
                "rows": [preview_row(str(t), t.status, self._task_url(t)) for t in ts],
            }
            for pid, ts in by_parent.items()
        ]
        if without:
            note = _("skipped: no parent task id known")
            groups.append(
                {
                    "title": _("Without a parent task id (nothing sent)"),
                    "rows": [
                        {**preview_row(str(t), t.status, self._task_url(t)), "will_send": False}
                        | {"note": note}
                        for t in without
                    ],
                }
            )
        return self.render_cancel_confirmation(
            request,
            {
                "title": _("Cancel recall tasks by parent task id"),
                "intro": _(
                    "Are you sure? One cancel is sent per parent task id below; LAAFFIC stops "
                    "the automatic recall of that parent task."
                ),
                "groups": groups,
                "form": form,
                "action": "cancel_tasks_by_parent",
                "selected": [t.pk for t in tasks],
                "back_url": request.get_full_path(),
            },
        )

    # ---- task page

    def node_action_html(self, request: HttpRequest, node: RecallNode) -> str:
        """The "Cancel from here" button beside each pending node on the task page."""
        if not node.is_pending or not self.has_cancel_permission(request):
            return ""
        url = reverse(
            f"{self.admin_site.name}:laaffic_recall_recalltask_cancel_from_node",
            args=[node.task_id, node.pk],
        )
        return format_html(
            '<a class="button laaffic-cancel-button" href="{}" title="{}">{}</a>',
            url,
            _("Cancel this node and every later node of the task"),
            _("Cancel from here"),
        )

    def render_change_form(
        self, request, context, add=False, change=False, form_url="", obj=None
    ) -> HttpResponse:
        if obj is not None:
            context.update(self.cancel_change_context(request, obj))
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )

    def cancel_change_context(self, request: HttpRequest, task: RecallTask) -> dict[str, Any]:
        """Context for the task page's "Cancel this task" button and its attempts list."""
        context: dict[str, Any] = {
            "laaffic_object_tools_template": self.cancel_template_names("cancel_object_tools.html"),
            "laaffic_after_nodes_template": self.cancel_template_names(
                "cancel_attempts_for_task.html"
            ),
            "cancel_task_url": "",
            "cancel_attempts": None,
        }
        if task.is_pending and self.has_cancel_permission(request):
            context["cancel_task_url"] = reverse(
                f"{self.admin_site.name}:laaffic_recall_recalltask_cancel", args=[task.pk]
            )
        if request.user.has_perm(VIEW_ATTEMPTS_PERMISSION):
            attempts = CancelAttempt.objects.filter(task_key_id=task.key_id).select_related("node")
            context["cancel_attempts"] = list(attempts[:ATTEMPTS_ON_TASK_PAGE])
            context["cancel_attempts_more"] = attempts.count() > ATTEMPTS_ON_TASK_PAGE
            context["cancel_attempts_url"] = "{}?task_key_id={}".format(
                reverse(f"{self.admin_site.name}:laaffic_recall_cancelattempt_changelist"),
                task.key_id,
            )
        return context

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and self.has_cancel_permission(request):
            # Add "Cancel by parent task id" to the object tools, over whichever
            # change_list template the admin would use (a host project's override too).
            base = response.template_name
            response.context_data["cancel_base_template"] = (
                select_template(base) if isinstance(base, list | tuple) else base
            )
            response.context_data["cancel_by_parent_url"] = reverse(
                f"{self.admin_site.name}:laaffic_recall_recalltask_cancel_by_parent"
            )
            response.template_name = self.cancel_template_names("cancel_change_list.html")
        return response

    # ---- extra views

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        urls = [
            path(
                "cancel-by-parent/",
                self._cancel_view(self.cancel_by_parent_view),
                name=f"{prefix}_cancel_by_parent",
            ),
            path(
                "<path:object_id>/cancel/",
                self._cancel_view(self.cancel_task_view),
                name=f"{prefix}_cancel",
            ),
            path(
                "<path:object_id>/cancel-from-node/<int:node_id>/",
                self._cancel_view(self.cancel_from_node_view),
                name=f"{prefix}_cancel_from_node",
            ),
        ]
        return urls + super().get_urls()

    def _task_url(self, task: RecallTask) -> str:
        return reverse(f"{self.admin_site.name}:laaffic_recall_recalltask_change", args=[task.pk])

    def _task_for_cancel(self, request: HttpRequest, object_id: str):
        """The task, or a redirect when it does not exist or is not visible to this user."""
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        task = self.get_object(request, unquote(object_id))
        if task is None or not self.has_view_permission(request, task):
            return None, self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return task, None

    def cancel_task_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The task page's "Cancel this task": confirm (GET), then cancel type 1 (POST)."""
        task, redirect = self._task_for_cancel(request, object_id)
        if redirect:
            return redirect
        form, confirmed = self._confirmed_reason(request)
        if confirmed:
            self.run_cancel(request, [CancelTarget.for_task(task)], form.cleaned_data["reason"])
            return HttpResponseRedirect(self._task_url(task))
        return self.render_cancel_confirmation(
            request,
            {
                "title": _("Cancel recall task"),
                "object": task,
                "intro": _(
                    "Are you sure you want to cancel this recall task? LAAFFIC will make no "
                    "further recall rounds for it."
                ),
                "groups": [
                    {"title": _("Recall task"), "rows": [preview_row(str(task), task.status)]}
                ],
                "form": form,
                "back_url": self._task_url(task),
            },
        )

    def cancel_from_node_view(
        self, request: HttpRequest, object_id: str, node_id: int
    ) -> HttpResponse:
        """A node's "Cancel from here": confirm with the later nodes (GET), then type 3."""
        task, redirect = self._task_for_cancel(request, object_id)
        if redirect:
            return redirect
        node = task.nodes.filter(pk=node_id).first()
        if node is None:
            self.message_user(
                request, _("That node is no longer in this task's node list."), messages.WARNING
            )
            return HttpResponseRedirect(self._task_url(task))
        form, confirmed = self._confirmed_reason(request)
        if confirmed:
            self.run_cancel(request, [CancelTarget.for_node(node)], form.cleaned_data["reason"])
            return HttpResponseRedirect(self._task_url(task))
        return self.render_cancel_confirmation(
            request, node_confirmation_context(node, form, self._task_url(task), obj=task)
        )

    def cancel_by_parent_view(self, request: HttpRequest) -> HttpResponse:
        """Type a parent task id (maybe not mirrored yet), see what LAAFFIC has, confirm."""
        if not (self.has_cancel_permission(request) and self.has_view_permission(request)):
            raise PermissionDenied
        changelist = reverse(f"{self.admin_site.name}:laaffic_recall_recalltask_changelist")
        if request.method == "POST" and request.POST.get("post"):
            confirm = ParentCancelForm(request.POST)
            if confirm.is_valid():
                target = CancelTarget.for_parent(confirm.cleaned_data["parent_task_id"])
                self.run_cancel(request, [target], confirm.cleaned_data["reason"])
                return HttpResponseRedirect(changelist)
            form = ParentTaskForm(request.POST)
        elif request.method == "POST":
            form = ParentTaskForm(request.POST)
            if form.is_valid():
                return self._confirm_parent(request, form.cleaned_data["parent_task_id"])
        else:
            form = ParentTaskForm()
        return self._parent_form_page(request, form, changelist)

    def _parent_form_page(self, request, form, changelist, error: str = "") -> TemplateResponse:
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "media": self.media + form.media,
            "title": _("Cancel by parent task id"),
            "form": form,
            "error": error,
            "back_url": changelist,
        }
        return TemplateResponse(
            request, self.cancel_template_names("cancel_by_parent.html"), context
        )

    def _confirm_parent(self, request: HttpRequest, parent_task_id: int) -> TemplateResponse:
        changelist = reverse(f"{self.admin_site.name}:laaffic_recall_recalltask_changelist")
        lookup = cancel_service.look_up_parent(parent_task_id)
        if lookup.error or not lookup.tasks:
            error = lookup.error or _(
                "LAAFFIC has no recall task with parent task id %(id)s created in the last "
                "%(days)s days; nothing can be cancelled."
            ) % {"id": parent_task_id, "days": app_settings.PARENT_LOOKUP_DAYS}
            form = ParentTaskForm(initial={"parent_task_id": parent_task_id})
            return self._parent_form_page(request, form, changelist, error=error)
        rows = [preview_row(str(t), t.status, self._task_url(t)) for t in lookup.tasks]
        return self.render_cancel_confirmation(
            request,
            {
                "title": _("Cancel by parent task id"),
                "intro": _(
                    "Are you sure? LAAFFIC lists these recall tasks for parent task %(id)s; the "
                    "cancel stops the automatic recall of that parent task."
                )
                % {"id": parent_task_id},
                "groups": [
                    {"title": _("Parent task %(id)s") % {"id": parent_task_id}, "rows": rows}
                ],
                "form": ParentCancelForm(initial={"parent_task_id": parent_task_id}),
                "hidden_fields": {"parent_task_id": parent_task_id},
                "back_url": request.get_full_path(),
            },
        )


class NodeCancelAdminMixin(CancelAdminBase):
    """The ``cancel_from_node`` action for ``RecallNodeAdmin``: one node, then every later one."""

    cancel_actions: list[str] = ["cancel_from_node"]

    @action(
        permissions=["cancel"],
        description=gettext_lazy("Cancel from the selected node onward"),
    )
    def cancel_from_node(self, request: HttpRequest, queryset) -> HttpResponse | None:
        """Type 3 on exactly one selected node (``{"type": 3, "id": node.key_id}``)."""
        nodes = list(queryset.select_related("task")[:2])
        if len(nodes) != 1:
            self.message_user(
                request,
                _(
                    "Select exactly one node: the cancel stops that node and every later node "
                    "of its task. Nothing was sent."
                ),
                messages.WARNING,
            )
            return None
        [node] = nodes
        form, confirmed = self._confirmed_reason(request)
        if confirmed:
            self.run_cancel(request, [CancelTarget.for_node(node)], form.cleaned_data["reason"])
            return None
        context = node_confirmation_context(node, form, request.get_full_path())
        context.update({"action": "cancel_from_node", "selected": [node.pk]})
        return self.render_cancel_confirmation(request, context)


def node_confirmation_context(
    node: RecallNode, form: CancelReasonForm, back_url: str, obj: RecallTask | None = None
) -> dict[str, Any]:
    """The chosen node and every later node of its task, with what will happen to each."""
    later = list(node.task.nodes.filter(position__gte=node.position).order_by("position"))
    rows = []
    for each in later:
        row = preview_row(
            _("round %(round)d: node #%(key)s") % {"round": each.position + 1, "key": each.key_id},
            each.status,
        )
        row["chosen"] = each.pk == node.pk
        row["group_task_id"] = each.group_task_id
        rows.append(row)
    intro = _(
        "Are you sure you want to cancel %(node)s and every later node of task %(task)s? "
        "LAAFFIC will not run these recall rounds."
    ) % {"node": node, "task": node.task}
    if not node.is_pending:
        intro += " " + _(
            "The local copy shows this node %(status)s: unless LAAFFIC still reports it "
            "Pending, nothing will be sent."
        ) % {"status": status_label(node.status)}
    return {
        "title": _("Cancel from a node onward"),
        "object": obj,
        "intro": intro,
        "task": node.task,
        "node_rows": rows,
        "form": form,
        "back_url": back_url,
    }
