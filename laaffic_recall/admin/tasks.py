"""Read-only admin of the mirrored recall tasks and nodes, with their cancel actions.

Mirrored rows are LAAFFIC's truth: nobody adds, changes or deletes them here (change
permission is refused even to superusers, so every page is a "view" page). Staff with
the ``view`` permission see them and may refresh them from LAAFFIC, since a refresh only
writes what the vendor says; staff with ``laaffic_recall.cancel_recalltask`` also get the
cancel actions (``actions.py``) and the task page's cancel buttons (``views.py``).
"""

from __future__ import annotations

import re
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import dateformat, formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from ..client.printable import printable
from ..client.wire import is_valid_id
from ..conf import app_settings
from ..models import CANCEL_PERMISSION, RecallNode, RecallTask
from . import pages, refresh, views
from .actions import (
    cancel_from_node,
    cancel_tasks,
    cancel_tasks_by_parent,
    refusal,
)
from .display import pretty_json, status_badge
from .paginator import CappedCountPaginator
from .readonly import GuardedChangeList, ReadOnlyAdmin
from .refresh import refresh_message
from .visibility import visible_nodes

# "#131581", as the site writes keys, searches for 131581.
KEY_MARK = re.compile(r"(?<!\S)#(?=\d)")
# Ids pasted from a ticket are separated by spaces, commas, semicolons or new lines
# (full-width commas too, as a Chinese keyboard types them).
ID_SEPARATORS = re.compile(r"[\s,;\uff0c\uff1b\u3001]+")
# A paste of more ids than this finds the first ones and says so.
MAX_PASTED_IDS = 100


def pasted_ids(search_term: str) -> list[int] | None:
    """The ids of a search made of several numbers, in order and without repeats; None
    when the search is not such a list (one number, or any word among them)."""
    tokens = [token for token in ID_SEPARATORS.split(search_term) if token]
    if len(tokens) < 2 or not all(token.isascii() and token.isdigit() for token in tokens):
        return None
    return list(dict.fromkeys(n for n in map(int, tokens) if is_valid_id(n)))


def parent_task_link(task: RecallTask, changelist_url: str) -> str:
    """The task's parent id as a link to ``changelist_url`` filtered to that parent."""
    if task.parent_task_id is None:
        return "-"
    return format_html(
        '<a href="{}?parent_task_id={}" title="{}">{}</a>',
        changelist_url,
        task.parent_task_id,
        gettext("All recall tasks of parent %(id)s") % {"id": task.parent_task_id},
        task.parent_task_id,
    )


class MirrorForm(forms.ModelForm):
    """The read-only page's form: its labels end as the reader's language ends them
    (a full-width colon in Chinese, not Django's ASCII one)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", pgettext("after a field's label", ":"))
        super().__init__(*args, **kwargs)


class MirrorAdmin(ReadOnlyAdmin):
    """What the task and node admins share: a search that ignores the "#" before a key,
    the cancel permission, and change-list POSTs refused with a message (see
    ``actions.refusal``) and kept out of ``ATOMIC_REQUESTS``."""

    form = MirrorForm

    show_full_result_count = False
    list_per_page = 100
    paginator = CappedCountPaginator
    # No "Show counts": each filter's counts are a pass over every task or node it does
    # not filter out, which no cap bounds.
    show_facets = admin.ShowFacets.NEVER

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        """``laaffic_recall.cancel_recalltask`` ("Can cancel recall tasks"); superusers have it."""
        return request.user.has_perm(CANCEL_PERMISSION)

    # Django's admin methods are overridden with their arguments passed through as given,
    # so an argument a later Django adds reaches Django's own code untouched.
    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str, *args, **kwargs
    ):
        search_term = KEY_MARK.sub("", search_term)
        ids = pasted_ids(search_term)
        if ids is None:
            return super().get_search_results(request, queryset, search_term, *args, **kwargs)
        if len(ids) > MAX_PASTED_IDS:
            self.message_user(
                request,
                gettext("%(count)s ids pasted; the first %(max)s were searched.")
                % {"count": len(ids), "max": MAX_PASTED_IDS},
                messages.WARNING,
            )
            ids = ids[:MAX_PASTED_IDS]
        exact = [f.removesuffix("__exact") for f in self.search_fields if f.endswith("__exact")]
        match = Q()
        for field in exact:
            match |= Q(**{f"{field}__in": ids})
        return queryset.filter(match), False

    def changelist_view(self, request: HttpRequest, *args, **kwargs):
        message = refusal(self, request)
        if message:
            self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, *args, **kwargs)

    def get_urls(self):
        urls = super().get_urls()
        # The cancel actions run from the change list view: keep it out of ATOMIC_REQUESTS,
        # so the audit row is committed before the request to LAAFFIC leaves there too.
        changelist = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        for pattern in urls:
            if getattr(pattern, "name", None) == changelist:
                transaction.non_atomic_requests(pattern.callback)
        return urls

    @admin.display(description=_("unconfirmed"))
    def unconfirmed_display(self, obj) -> str:
        """Plain words: Django's boolean icon shows the normal state as a red cross."""
        if obj.unconfirmed:
            return gettext("Yes: marked by assumption after a cancel; the next sync confirms it")
        return gettext("No")

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj) -> str:
        return status_badge(obj.status)


class RecallNodeInline(admin.TabularInline):
    """The node list on the task page, in position order, read-only. Its template adds
    a "Cancel from here" column for those who may cancel (``can_cancel``)."""

    model = RecallNode
    fk_name = "task"
    ordering = ["position"]
    fields = ("round", "node_key", "group_task_id", "node_status", "script_id", "synced_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    template = "admin/laaffic_recall/recalltask/nodes_inline.html"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

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
        return status_badge(obj.status)


@admin.action(description=_("Refresh from LAAFFIC"), permissions=["view"])
def refresh_tasks(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
    """Re-read the selected tasks' details and node lists now and say what changed."""
    limit = app_settings.MAX_REFRESH_BATCH
    keys = list(queryset.order_by().values_list("key_id", flat=True)[: limit + 1])
    if len(keys) > limit:
        modeladmin.message_user(
            request,
            gettext("Select at most %(limit)d tasks to refresh at once; nothing was refreshed.")
            % {"limit": limit},
            messages.ERROR,
        )
        return
    invalid = sorted(key for key in keys if not is_valid_id(key))
    if invalid:
        modeladmin.message_user(
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
        keys = [key for key in keys if is_valid_id(key)]
        if not keys:
            return
    refresh_message(modeladmin, request, keys)


class TaskChangeList(GuardedChangeList):
    """The task list, its rows read without LAAFFIC's records as received: two JSON
    documents a row that only the task page shows."""

    def get_queryset(self, request, *args, **kwargs):
        return super().get_queryset(request, *args, **kwargs).defer("raw", "detail_raw")


@admin.register(RecallTask)
class RecallTaskAdmin(MirrorAdmin):
    # Fits 1280 px beside the filters: ids on one line, names wrap, no sync time (it is on
    # the task page).
    list_display = [
        "key_id",
        "parent_link",
        "task_name_shown",
        "status_display",
        "rounds",
        "created",
    ]
    list_display_links = ["key_id"]
    list_filter = ["status", "recall_type", "created_at_remote", "unconfirmed"]
    search_fields = ["key_id__exact", "parent_task_id__exact", "task_name"]
    search_help_text = _(
        "Recall key or parent task id (a whole number), or part of the task name; a number "
        'in quotes ("2024") is looked for in the names too. Several keys or parent ids '
        "pasted together, separated by spaces, commas or new lines, find them all."
    )
    # One sorted column: a second sort widget (priority number and arrows) would widen the
    # key column past what fits at 1280 px. Ties follow the primary key (mirroring order).
    ordering = ["-created_at_remote"]
    date_hierarchy = "created_at_remote"
    actions = [cancel_tasks, cancel_tasks_by_parent, refresh_tasks]
    inlines = [RecallNodeInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("key_id", "status_display"),
                    ("parent_task", "task_name_shown"),
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

    def get_readonly_fields(self, request, obj=None):
        return [
            *(f.name for f in self.model._meta.concrete_fields),
            "status_display",
            "parent_task",
            "task_name_shown",
            "unconfirmed_display",
            "rounds_done",
            "raw_pretty",
            "detail_raw_pretty",
        ]

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        urls = [
            path(
                "outcome/<int:attempt_id>/",
                self._cancel_view(refresh.attempt_outcome),
                name=f"{prefix}_attempt_outcome",
            ),
            path(
                "outcome/<int:attempt_id>/refresh/",
                self._cancel_view(refresh.refresh_attempt),
                name=f"{prefix}_refresh_attempt",
            ),
            path(
                "look-up/",
                self._cancel_view(refresh.look_up_task),
                name=f"{prefix}_look_up",
            ),
            path(
                "cancel-by-parent/",
                self._cancel_view(views.cancel_by_parent),
                name=f"{prefix}_cancel_by_parent",
            ),
            path(
                "<path:object_id>/refresh/",
                self._cancel_view(refresh.refresh_task),
                name=f"{prefix}_refresh",
            ),
            path(
                "<path:object_id>/cancel/",
                self._cancel_view(views.cancel_task),
                name=f"{prefix}_cancel",
            ),
            path(
                "<path:object_id>/cancel-from-node/<int:node_id>/",
                self._cancel_view(views.cancel_from_node),
                name=f"{prefix}_cancel_from_node",
            ),
        ]
        return urls + super().get_urls()

    def _cancel_view(self, view):
        """A view of ``views.py`` for this admin: login, CSRF, never cached, and never
        inside ATOMIC_REQUESTS (the audit row is committed before the request leaves)."""
        return transaction.non_atomic_requests(self.admin_site.admin_view(partial(view, self)))

    def get_changelist(self, request: HttpRequest, *args, **kwargs):
        return TaskChangeList

    def changelist_view(self, request: HttpRequest, extra_context=None, *args, **kwargs):
        context = {**pages.changelist_context(self, request), **(extra_context or {})}
        return super().changelist_view(request, context, *args, **kwargs)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(pages.task_page_context(self, request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description=_("rounds"), ordering="finish_num")
    def rounds(self, obj: RecallTask) -> str:
        """Rounds done/required, under a short header for the list."""
        return format_html(
            '<span title="{}">{}</span>', gettext("rounds done/required"), obj.rounds_label
        )

    @admin.display(description=_("parent task id"), ordering="parent_task_id")
    def parent_link(self, obj: RecallTask) -> str:
        """The list's parent id: a link to the list of every recall task of that parent,
        relative to the list it is on (the same path, another query)."""
        return parent_task_link(obj, "")

    @admin.display(description=_("parent task id"))
    def parent_task(self, obj: RecallTask) -> str:
        """The task page's parent id: a link to the list of every recall task of that parent."""
        return parent_task_link(
            obj, reverse(f"{self.admin_site.name}:laaffic_recall_recalltask_changelist")
        )

    @admin.display(description=_("task name"), ordering="task_name")
    def task_name_shown(self, obj: RecallTask) -> str:
        """LAAFFIC's name with control and bidi characters shown as visible escapes."""
        return printable(obj.task_name)

    @admin.display(description=_("rounds done/required"))
    def rounds_done(self, obj: RecallTask) -> str:
        return obj.rounds_label

    @admin.display(description=_("created"), ordering="created_at_remote")
    def created(self, obj: RecallTask) -> str:
        """Creation time at LAAFFIC, short: date and time may go on two lines."""
        if obj.created_at_remote is None:
            return "-"
        # django-stubs lacks timezone.template_localtime (the templates' conversion).
        value = timezone.template_localtime(obj.created_at_remote)  # type: ignore[attr-defined]
        # formats.date_format and time_format, with one DateFormat for both.
        written = dateformat.DateFormat(value)
        return format_html(
            '<time datetime="{}"><span>{}</span> <span>{}</span></time>',
            value.isoformat(),
            written.format(formats.get_format("SHORT_DATE_FORMAT")),
            written.format(formats.get_format("TIME_FORMAT")),
        )

    @admin.display(description=_("list record as received"))
    def raw_pretty(self, obj: RecallTask) -> str:
        return pretty_json(obj.raw)

    @admin.display(description=_("detail as received"))
    def detail_raw_pretty(self, obj: RecallTask) -> str:
        return pretty_json(obj.detail_raw)


@admin.register(RecallNode)
class RecallNodeAdmin(MirrorAdmin):
    list_display = ["key_id", "task_link", "round", "status_display", "group_task_id", "script_id"]
    list_filter = ["status", "unconfirmed"]
    list_select_related = ["task"]
    search_fields = ["key_id__exact", "task__key_id__exact", "group_task_id__exact"]
    search_help_text = _("Node key, task key or group-call task id (exact).")
    # Latest mirrored tasks first, rounds in order: served by the (task, position) index,
    # unlike a sort on the task's creation time, which would join and sort every node.
    ordering = ["-task_id", "position"]
    actions = [cancel_from_node]
    fields = [
        ("key_id", "status_display", "unconfirmed_display"),
        ("task_link", "round"),
        ("group_task_id", "script_id"),
        "synced_at",
        "raw_pretty",
    ]

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
        """The nodes of the tasks this user may see (the task admin's ``get_queryset``)."""
        return visible_nodes(self, request, super().get_queryset(request).select_related("task"))

    @admin.display(description=_("task"), ordering="task__key_id")
    def task_link(self, obj: RecallNode) -> str:
        url = reverse(
            f"{self.admin_site.name}:laaffic_recall_recalltask_change", args=[obj.task_id]
        )
        return format_html(
            '<a href="{}" title="{}">#{}</a>', url, printable(obj.task.task_name), obj.task.key_id
        )

    @admin.display(description=_("round"), ordering="position")
    def round(self, obj: RecallNode) -> int:
        return obj.position + 1

    @admin.display(description=_("node as received"))
    def raw_pretty(self, obj: RecallNode) -> str:
        return pretty_json(obj.raw)
