"""Admin for the sandbox: look at its tasks, switch faults on and off, read the call log."""

from django.contrib import admin, messages
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..admin.readonly import GuardedChangeList
from . import state
from .models import SandboxCall, SandboxFault, SandboxNode, SandboxTask


class GuardedAdmin(admin.ModelAdmin):
    """A hand-edited query string of the change list is never a 500, as in the app's own
    admins: what the database or the date hierarchy refuses reloads the list."""

    def get_changelist(self, request, **kwargs):
        return GuardedChangeList


class SandboxNodeInline(admin.TabularInline):
    model = SandboxNode
    fields = ["position", "key_id", "group_task_id", "status", "script_id"]
    extra = 0
    ordering = ["position"]


@admin.register(SandboxTask)
class SandboxTaskAdmin(GuardedAdmin):
    list_display = [
        "key_id",
        "task_id",
        "task_name",
        "status",
        "finish_num",
        "recall_num",
        "create_time",
    ]
    list_filter = ["status", "recall_type", "create_time"]
    search_fields = ["=key_id", "=task_id", "task_name"]
    inlines = [SandboxNodeInline]
    actions = ["advance_tasks"]

    @admin.action(description=_("Advance one step (as time passing would)"))
    def advance_tasks(self, request, queryset):
        advanced = 0
        for task in queryset:
            with transaction.atomic():
                advanced += state.advance(task)
        self.message_user(
            request,
            ngettext("%(count)d task advanced.", "%(count)d tasks advanced.", advanced)
            % {"count": advanced},
            messages.SUCCESS,
        )


@admin.register(SandboxFault)
class SandboxFaultAdmin(GuardedAdmin):
    list_display = ["kind", "calls", "ids", "when", "seconds", "remaining", "enabled", "note"]
    list_editable = ["enabled"]
    list_filter = ["kind", "enabled"]


@admin.register(SandboxCall)
class SandboxCallAdmin(GuardedAdmin):
    list_display = ["at", "family", "call", "body", "http_status", "code", "message", "fault"]
    list_filter = ["call", "family", "fault", "code"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
