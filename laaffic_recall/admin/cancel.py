"""Cancel actions, confirmation pages and buttons, mixed into the task and node admins.

Django's "delete selected" pattern: the changelist POST (``action``, ``_selected_action``)
shows a confirmation page listing exactly what will be cancelled; its "Yes, I'm sure"
POSTs the same fields with ``post=yes`` and an optional reason, and only then does the
cancel service run. Buttons on the task page are links (GET) to confirmation pages that
POST with CSRF. Every view re-checks the ``laaffic_recall.cancel_recalltask`` permission;
a GET never changes anything, and every result ends as one summary message, never a 500.
The change list's filters are kept through every page and redirect.
"""

from __future__ import annotations

from collections import OrderedDict

from django.contrib import messages
from django.contrib.admin.decorators import action
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..cancel import CancelTarget
from ..models import RecallTask
from .cancel_base import (
    CANCEL_PERMISSION,
    CancelAdminBase,
    node_confirmation_context,
)
from .cancel_preview import cancel_blocks, parent_rows, safe_target, task_row
from .cancel_views import TaskCancelViewsMixin, invalid_key_line, invalid_key_note

__all__ = ["CANCEL_PERMISSION", "NodeCancelAdminMixin", "TaskCancelAdminMixin"]


class TaskCancelAdminMixin(TaskCancelViewsMixin):
    """Cancel actions for ``RecallTaskAdmin``, the task page's buttons, the parent-id form."""

    cancel_actions: list[str] = ["cancel_tasks", "cancel_tasks_by_parent"]

    # ---- actions

    @action(permissions=["cancel"], description=gettext_lazy("Cancel selected recall tasks"))
    def cancel_tasks(self, request: HttpRequest, queryset) -> HttpResponse | None:
        """Type 1, one call per selected task (``{"type": 1, "id": key_id}``)."""
        tasks = self.selected_within_limit(request, queryset, "-created_at_remote", "-key_id")
        if tasks is None:
            return None
        missing = self.not_in_selection(request, [t.pk for t in tasks])
        targets = {t.pk: safe_target(CancelTarget.for_task, t) for t in tasks}
        form, confirmed = self._confirmed_reason(request)
        if confirmed:
            not_sent = [invalid_key_line(t) for t in tasks if targets[t.pk] is None]
            self.run_cancel(
                request,
                [target for target in targets.values() if target is not None],
                form.cleaned_data["reason"],
                not_sent + missing,
            )
            return None
        blocks = cancel_blocks(tasks)
        rows = [
            task_row(
                t,
                self._task_url(request, t),
                blocks,
                "" if targets[t.pk] else invalid_key_note(t),
            )
            for t in tasks
        ]
        return self.render_cancel_confirmation(
            request,
            {
                "title": _("Cancel recall tasks"),
                "intro": _(
                    "Are you sure you want to cancel these recall tasks? LAAFFIC will make no "
                    "further recall rounds for them."
                ),
                "groups": [{"title": _("Recall tasks"), "rows": rows}],
                "missing": missing,
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
        tasks = self.selected_within_limit(request, queryset, "parent_task_id", "-key_id")
        if tasks is None:
            return None
        missing = self.not_in_selection(request, [t.pk for t in tasks])
        by_parent: OrderedDict[int, list[RecallTask]] = OrderedDict()
        without: list[tuple[RecallTask, str, str]] = []  # (task, row note, message line)
        for task in tasks:
            if task.parent_task_id is None:
                without.append(
                    (
                        task,
                        _("skipped: no parent task id known"),
                        _("%(task)s has no parent task id; nothing sent.") % {"task": task},
                    )
                )
            elif safe_target(CancelTarget.for_parent, task.parent_task_id) is None:
                without.append(
                    (
                        task,
                        _("skipped: invalid parent task id %(id)s") % {"id": task.parent_task_id},
                        _("%(task)s has an invalid parent task id (%(id)s); nothing sent.")
                        % {"task": task, "id": task.parent_task_id},
                    )
                )
            else:
                by_parent.setdefault(task.parent_task_id, []).append(task)
        not_sent = [line for _task, _note, line in without] + missing
        if not by_parent:
            head = ""
            if without:
                head = _("None of the selected tasks has a valid parent task id; nothing was sent.")
            self.message_nothing_sent(request, not_sent, head)
            return None
        form, confirmed = self._confirmed_reason(request)
        if confirmed:
            targets = [CancelTarget.for_parent(pid, ts) for pid, ts in by_parent.items()]
            self.run_cancel(request, targets, form.cleaned_data["reason"], not_sent)
            return None
        blocks = cancel_blocks(tasks)
        groups = [
            {
                "title": _("Parent task %(id)s") % {"id": pid},
                "rows": parent_rows(ts, lambda t: self._task_url(request, t), blocks),
            }
            for pid, ts in by_parent.items()
        ]
        if without:
            groups.append(
                {
                    "title": _("Without a valid parent task id (nothing sent)"),
                    "rows": [
                        task_row(t, self._task_url(request, t), blocks, note)
                        for t, note, _line in without
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
                "missing": missing,
                "form": form,
                "action": "cancel_tasks_by_parent",
                "selected": [t.pk for t in tasks],
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
        missing = self.not_in_selection(request, [n.pk for n in nodes])
        if len(nodes) != 1 or missing:
            if len(nodes) + len(missing) == 1:
                self.message_nothing_sent(request, missing)
                return None
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
            self.run_node_cancel(request, node, form.cleaned_data["reason"])
            return None
        context = node_confirmation_context(node, form, request.get_full_path())
        context.update({"action": "cancel_from_node", "selected": [node.pk]})
        return self.render_cancel_confirmation(request, context)
