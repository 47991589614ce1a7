"""Read-only admin of the mirrored recall tasks and nodes, and the refresh action.

Mirrored rows are LAAFFIC's truth: nobody adds, changes or deletes them here (change
permission is refused even to superusers, so every page is a "view" page). Staff with
the ``view`` permission see them and may refresh them from LAAFFIC, since a refresh only
writes what the vendor says. The cancel actions and buttons come from the mixins in
``admin/cancel.py``, first in the bases.

Hooks for the cancel side (no edit of this module needed):
- ``node_action_html(request, node) -> str`` on the task admin (define it in
  ``TaskCancelAdminMixin``) fills the "actions" column of the node inline, e.g. a
  "Cancel from here" button beside each pending node. The inline's own
  ``node_action_html(obj)`` delegates to it.
- Context variables ``laaffic_object_tools_template`` and
  ``laaffic_after_nodes_template`` (e.g. set in ``render_change_form``/``extra_context``)
  are included by ``admin/laaffic_recall/recalltask/change_form.html`` among the object
  tools and after the node list.
"""

from __future__ import annotations

import json
import re

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ..client import ApiError, ConfigurationError
from ..conf import app_settings
from ..models import RecallNode, RecallTask, Status
from ..sync import is_task_key, sync_task_details
from .cancel import NodeCancelAdminMixin, TaskCancelAdminMixin
from .cancel_base import CANCEL_PERMISSION
from .changelist import GuardedChangeListMixin
from .display import STATUS_CLASSES

# "#131581", as the site writes keys, searches for 131581.
KEY_MARK = re.compile(r"(?<!\S)#(?=\d)")


def status_badge(obj) -> str:
    """The status as a coloured badge (colours in ``static/laaffic_recall/mirror.css``)."""
    try:
        label = Status(obj.status).label
        css = STATUS_CLASSES[obj.status]
    except ValueError:
        label, css = gettext("Unknown (%(code)s)") % {"code": obj.status}, "unknown"
    return format_html('<span class="laaffic-status laaffic-status-{}">{}</span>', css, label)


def pretty_json(value) -> str:
    """JSON indented for reading, HTML-escaped."""
    if value is None:
        return "-"
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre class="laaffic-json">{}</pre>', text)


class MirrorAdminMixin(GuardedChangeListMixin):
    """Everything read-only: no add, change or delete; every field shown as text. A search
    ignores the "#" before a key, as the site writes keys ("#131581")."""

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        return super().get_search_results(request, queryset, KEY_MARK.sub("", search_term))

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description=_("unconfirmed"))
    def unconfirmed_display(self, obj) -> str:
        """Plain words: Django's boolean icon shows the normal state as a red cross."""
        if obj.unconfirmed:
            return gettext("Yes: marked by assumption after a cancel; the next sync confirms it")
        return gettext("No")


class TaskMirrorAdminMixin(MirrorAdminMixin):
    """Defaults of the task admin that the cancel mixin (earlier in the MRO) may override."""

    def node_action_html(self, request: HttpRequest, node: RecallNode) -> str:
        """HTML for a node's "actions" cell on the task page (the cancel side fills it)."""
        return ""

    def node_actions_visible(self, request: HttpRequest) -> bool:
        """Whether the node list has an "actions" column: only for those who may cancel."""
        return request.user.has_perm(CANCEL_PERMISSION)


class RecallNodeInline(admin.TabularInline):
    """The node list on the task page, in position order, read-only."""

    model = RecallNode
    fk_name = "task"
    ordering = ["position"]
    fields = [
        "round",
        "node_key",
        "group_task_id",
        "node_status",
        "script_id",
        "synced_at",
        "node_actions",
    ]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    template = "admin/laaffic_recall/recalltask/nodes_inline.html"

    # Set per request by RecallTaskAdmin.get_inline_instances (fresh instances each time).
    request: HttpRequest | None = None
    task_admin: admin.ModelAdmin | None = None

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_fields(self, request, obj=None):
        visible = getattr(self.task_admin, "node_actions_visible", None)
        if visible is not None and visible(request):
            return list(self.fields)
        return [name for name in self.fields if name != "node_actions"]

    def has_view_permission(self, request, obj=None) -> bool:
        # The nodes are part of the task: whoever may view the task sees its node list.
        opts = RecallTask._meta
        codename = get_permission_codename("view", opts)
        return request.user.has_perm(f"{opts.app_label}.{codename}") or super().has_view_permission(
            request, obj
        )

    @admin.display(description=_("node key"))
    def node_key(self, obj: RecallNode) -> str:
        url = reverse(f"{self.admin_site.name}:laaffic_recall_recallnode_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.key_id)

    @admin.display(description=_("round"))
    def round(self, obj: RecallNode) -> int:
        return obj.position + 1

    @admin.display(description=_("status"))
    def node_status(self, obj: RecallNode) -> str:
        return status_badge(obj)

    @admin.display(description=_("actions"))
    def node_actions(self, obj: RecallNode) -> str:
        return self.node_action_html(obj) or ""

    def node_action_html(self, obj: RecallNode) -> str:
        """HTML for this node's actions column; empty unless the task admin provides it."""
        hook = getattr(self.task_admin, "node_action_html", None)
        if hook is None or self.request is None:
            return ""
        return hook(self.request, obj)


@admin.register(RecallTask)
class RecallTaskAdmin(TaskCancelAdminMixin, TaskMirrorAdminMixin, admin.ModelAdmin):
    # Fits 1280 px beside the filters: ids on one line, names wrap, no sync time (it is on
    # the task page).
    list_display = [
        "key_id",
        "parent_task_id",
        "task_name",
        "status_display",
        "rounds",
        "created",
    ]
    list_display_links = ["key_id"]
    list_filter = ["status", "recall_type", "created_at_remote", "unconfirmed"]
    search_fields = ["key_id__exact", "parent_task_id__exact", "task_name"]
    search_help_text = _("Recall key or parent task id (exact), or part of the task name.")
    # One sorted column: a second sort widget (priority number and arrows) would widen the
    # key column past what fits at 1280 px. Ties follow the primary key (mirroring order).
    ordering = ["-created_at_remote"]
    date_hierarchy = "created_at_remote"
    show_full_result_count = False
    list_per_page = 100
    actions = [*TaskCancelAdminMixin.cancel_actions, "refresh_tasks"]
    inlines = [RecallNodeInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("key_id", "status_display"),
                    ("parent_task_id", "task_name"),
                    "created_at_remote",
                ]
            },
        ),
        (
            _("Recall rounds"),
            {"fields": [("recall_type", "recall_interval"), ("rounds_done",)]},
        ),
        (_("Sync"), {"fields": [("synced_at", "detail_synced_at"), "unconfirmed_display"]}),
        (
            _("As received from LAAFFIC"),
            {"classes": ["collapse"], "fields": ["raw_pretty", "detail_raw_pretty"]},
        ),
    ]

    class Media:
        css = {"all": ["laaffic_recall/mirror.css"]}

    def get_readonly_fields(self, request, obj=None):
        return [
            *(f.name for f in self.model._meta.concrete_fields),
            "status_display",
            "unconfirmed_display",
            "rounds_done",
            "raw_pretty",
            "detail_raw_pretty",
        ]

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        for inline in inlines:
            inline.request = request
            inline.task_admin = self
        return inlines

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: RecallTask) -> str:
        return status_badge(obj)

    @admin.display(description=_("rounds"), ordering="finish_num")
    def rounds(self, obj: RecallTask) -> str:
        """Rounds done/required, under a short header for the list."""
        return format_html(
            '<span title="{}">{}</span>', gettext("rounds done/required"), self.rounds_done(obj)
        )

    @admin.display(description=_("rounds done/required"))
    def rounds_done(self, obj: RecallTask) -> str:
        done = "?" if obj.finish_num is None else obj.finish_num
        required = "?" if obj.recall_num is None else obj.recall_num
        return f"{done}/{required}"

    @admin.display(description=_("created"), ordering="created_at_remote")
    def created(self, obj: RecallTask) -> str:
        """Creation time at LAAFFIC, short: date and time may go on two lines."""
        if obj.created_at_remote is None:
            return "-"
        value = timezone.template_localtime(obj.created_at_remote)
        return format_html(
            '<time datetime="{}"><span>{}</span> <span>{}</span></time>',
            value.isoformat(),
            formats.date_format(value, "SHORT_DATE_FORMAT"),
            formats.time_format(value, "TIME_FORMAT"),
        )

    @admin.display(description=_("list record as received"))
    def raw_pretty(self, obj: RecallTask) -> str:
        return pretty_json(obj.raw)

    @admin.display(description=_("detail as received"))
    def detail_raw_pretty(self, obj: RecallTask) -> str:
        return pretty_json(obj.detail_raw)

    # ---- refresh

    @admin.action(description=_("Refresh from LAAFFIC"), permissions=["view"])
    def refresh_tasks(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Re-read the selected tasks' details and node lists now and say what changed."""
        limit = int(app_settings.MAX_REFRESH_BATCH)
        keys = list(queryset.order_by().values_list("key_id", flat=True)[: limit + 1])
        if len(keys) > limit:
            self.message_user(
                request,
                gettext("Select at most %(limit)d tasks to refresh at once; nothing was refreshed.")
                % {"limit": limit},
                messages.ERROR,
            )
            return
        invalid = sorted(key for key in keys if not is_task_key(key))
        if invalid:
            self.message_user(
                request,
                ngettext(
                    "Skipped %(count)d task whose recall key is not a positive number, so "
                    "LAAFFIC cannot be asked about it: %(keys)s.",
                    "Skipped %(count)d tasks whose recall keys are not positive numbers, so "
                    "LAAFFIC cannot be asked about them: %(keys)s.",
                    len(invalid),
                )
                % {"count": len(invalid), "keys": ", ".join(f"#{key}" for key in invalid)},
                messages.WARNING,
            )
            keys = [key for key in keys if is_task_key(key)]
            if not keys:
                return
        try:
            summary = sync_task_details(keys)
        except (ConfigurationError, ApiError) as exc:
            self.message_user(
                request,
                gettext("Nothing was refreshed: %(error)s") % {"error": exc},
                messages.ERROR,
            )
            return
        read = summary.details_fetched
        if read:
            head = ngettext(
                "Refreshed %(count)d task from LAAFFIC.",
                "Refreshed %(count)d tasks from LAAFFIC.",
                read,
            ) % {"count": read}
            if summary.changed:
                changed = summary.tasks_updated + summary.tasks_created
                tail = ngettext("%(count)d task changed;", "%(count)d tasks changed;", changed) % {
                    "count": changed
                }
                tail += " " + gettext(
                    "nodes: %(created)d new, %(updated)d changed, %(removed)d removed."
                ) % {
                    "created": summary.nodes_created,
                    "updated": summary.nodes_updated,
                    "removed": summary.nodes_removed,
                }
            else:
                tail = gettext("Nothing had changed.")
            self.message_user(request, f"{head} {tail}", messages.SUCCESS)
        if summary.failures:
            failed = format_html_join(
                "",
                "<li>{}</li>",
                ((truncatechars(f"#{f.key}: {f.message}", 500),) for f in summary.failures),
            )
            self.message_user(
                request,
                format_html(
                    "{}<ul>{}</ul>",
                    ngettext(
                        "%(count)d task could not be refreshed:",
                        "%(count)d tasks could not be refreshed:",
                        len(summary.failures),
                    )
                    % {"count": len(summary.failures)},
                    failed,
                ),
                messages.ERROR,
            )


@admin.register(RecallNode)
class RecallNodeAdmin(NodeCancelAdminMixin, MirrorAdminMixin, admin.ModelAdmin):
    list_display = ["key_id", "task_link", "round", "status_display", "group_task_id", "script_id"]
    list_filter = ["status", "unconfirmed"]
    list_select_related = ["task"]
    search_fields = ["key_id__exact", "task__key_id__exact", "group_task_id__exact"]
    search_help_text = _("Node key, task key or group-call task id (exact).")
    # Latest mirrored tasks first, rounds in order: served by the (task, position) index,
    # unlike a sort on the task's creation time, which would join and sort every node.
    ordering = ["-task_id", "position"]
    show_full_result_count = False
    list_per_page = 100
    actions = [*NodeCancelAdminMixin.cancel_actions]
    fields = [
        ("key_id", "status_display", "unconfirmed_display"),
        ("task_link", "round"),
        ("group_task_id", "script_id"),
        "synced_at",
        "raw_pretty",
    ]

    class Media:
        css = {"all": ["laaffic_recall/mirror.css"]}

    def get_readonly_fields(self, request, obj=None):
        return [
            *(f.name for f in self.model._meta.concrete_fields),
            "task_link",
            "round",
            "status_display",
            "unconfirmed_display",
            "raw_pretty",
        ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("task")

    @admin.display(description=_("task"), ordering="task__key_id")
    def task_link(self, obj: RecallNode) -> str:
        url = reverse(
            f"{self.admin_site.name}:laaffic_recall_recalltask_change", args=[obj.task_id]
        )
        return format_html(
            '<a href="{}" title="{}">#{}</a>', url, obj.task.task_name, obj.task.key_id
        )

    @admin.display(description=_("round"), ordering="position")
    def round(self, obj: RecallNode) -> int:
        return obj.position + 1

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: RecallNode) -> str:
        return status_badge(obj)

    @admin.display(description=_("node as received"))
    def raw_pretty(self, obj: RecallNode) -> str:
        return pretty_json(obj.raw)
