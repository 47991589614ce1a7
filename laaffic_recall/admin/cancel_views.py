"""The task page's cancel buttons and the views behind them, and the parent-id form.

Mixed into ``RecallTaskAdmin`` through ``TaskCancelAdminMixin``: links (GET) lead to
confirmation pages that POST with CSRF; every view re-checks the cancel permission.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from .. import cancel as cancel_service
from ..cancel import CancelTarget
from ..conf import app_settings
from ..forms import ParentCancelForm, ParentTaskForm
from ..models import CancelAttempt, RecallNode, RecallTask, Status
from .cancel_base import (
    ATTEMPTS_ON_TASK_PAGE,
    VIEW_ATTEMPTS_PERMISSION,
    CancelAdminBase,
    node_confirmation_context,
)
from .cancel_preview import cancel_blocks, parent_rows, safe_target, task_row


def invalid_key_note(task: RecallTask) -> str:
    return _("skipped: invalid recall key %(key)s") % {"key": task.key_id}


def invalid_key_line(task: RecallTask) -> str:
    return _("%(task)s has an invalid recall key (%(key)s); nothing sent.") % {
        "task": task,
        "key": task.key_id,
    }


class TaskCancelViewsMixin(CancelAdminBase):
    """Buttons on the task page, and the extra admin URLs they lead to."""

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
            self.with_filters(request, url),
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
        """Context for the task page's "Cancel this task" button (or the note saying why there
        is none) and its attempts list."""
        context: dict[str, Any] = {
            "laaffic_object_tools_template": self.cancel_template_names("cancel_object_tools.html"),
            "laaffic_after_nodes_template": self.cancel_template_names(
                "cancel_attempts_for_task.html"
            ),
            "cancel_task_url": "",
            "cancel_task_note": "",
            "cancel_attempts": None,
        }
        if self.has_cancel_permission(request):
            if task.is_pending:
                url = reverse(
                    f"{self.admin_site.name}:laaffic_recall_recalltask_cancel", args=[task.pk]
                )
                context["cancel_task_url"] = self.with_filters(request, url)
            elif task.nodes.filter(status=Status.PENDING).exists():
                context["cancel_task_note"] = _(
                    "Whole-task cancel only while Pending; use “Cancel from here” on a "
                    "pending round."
                )
            else:
                context["cancel_task_note"] = _("Whole-task cancel only while Pending.")
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
            response.context_data["cancel_by_parent_url"] = self.with_filters(
                request,
                reverse(f"{self.admin_site.name}:laaffic_recall_recalltask_cancel_by_parent"),
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

    def _task_url(self, request: HttpRequest, task: RecallTask) -> str:
        """The task's page, keeping the change list's filters of this request."""
        url = reverse(f"{self.admin_site.name}:laaffic_recall_recalltask_change", args=[task.pk])
        return self.with_filters(request, url)

    def _changelist_url(self, request: HttpRequest) -> str:
        url = reverse(f"{self.admin_site.name}:laaffic_recall_recalltask_changelist")
        return self.with_filters(request, url)

    def _task_for_cancel(self, request: HttpRequest, object_id: str):
        """(task, None), or (None, a redirect) when the user may not cancel (with a message
        naming the permission) or the task does not exist or is not visible to them."""
        if not self.has_view_permission(request):
            return None, self.refuse_without_permission(
                request, reverse(f"{self.admin_site.name}:index")
            )
        task = self.get_object(request, unquote(object_id))
        if task is None or not self.has_view_permission(request, task):
            return None, self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_cancel_permission(request):
            return None, self.refuse_without_permission(request, self._task_url(request, task))
        return task, None

    def cancel_task_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The task page's "Cancel this task": confirm (GET), then cancel type 1 (POST)."""
        task, redirect = self._task_for_cancel(request, object_id)
        if redirect:
            return redirect
        target = safe_target(CancelTarget.for_task, task)
        form, confirmed = self._confirmed_reason(request)
        if confirmed:
            if target is None:
                self.run_cancel(request, [], "", [invalid_key_line(task)])
            else:
                self.run_cancel(request, [target], form.cleaned_data["reason"])
            return HttpResponseRedirect(self._task_url(request, task))
        note = "" if target else invalid_key_note(task)
        row = task_row(task, "", cancel_blocks([task]), note)
        return self.render_cancel_confirmation(
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
                "back_url": self._task_url(request, task),
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
            return HttpResponseRedirect(self._task_url(request, task))
        form, confirmed = self._confirmed_reason(request)
        if confirmed:
            self.run_node_cancel(request, node, form.cleaned_data["reason"])
            return HttpResponseRedirect(self._task_url(request, task))
        return self.render_cancel_confirmation(
            request, node_confirmation_context(node, form, self._task_url(request, task), obj=task)
        )

    def cancel_by_parent_view(self, request: HttpRequest) -> HttpResponse:
        """Type a parent task id (maybe not mirrored yet), see what LAAFFIC has, confirm."""
        changelist = self._changelist_url(request)
        if not self.has_view_permission(request):
            return self.refuse_without_permission(request, reverse(f"{self.admin_site.name}:index"))
        if not self.has_cancel_permission(request):
            return self.refuse_without_permission(request, changelist)
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
            "preserved_filters": self.get_preserved_filters(request),
        }
        return TemplateResponse(
            request, self.cancel_template_names("cancel_by_parent.html"), context
        )

    def _confirm_parent(self, request: HttpRequest, parent_task_id: int) -> TemplateResponse:
        lookup = cancel_service.look_up_parent(parent_task_id)
        if lookup.error or not lookup.tasks:
            error = lookup.error or _(
                "LAAFFIC has no recall task with parent task id %(id)s created in the last "
                "%(days)s days; nothing can be cancelled."
            ) % {"id": parent_task_id, "days": app_settings.PARENT_LOOKUP_DAYS}
            form = ParentTaskForm(initial={"parent_task_id": parent_task_id})
            return self._parent_form_page(request, form, self._changelist_url(request), error=error)
        blocks = cancel_blocks(lookup.tasks)
        rows = parent_rows(lookup.tasks, lambda t: self._task_url(request, t), blocks)
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
