"""Read-only admin of the mirrored recall tasks and nodes."""

from django.contrib import admin

from ..models import RecallNode, RecallTask
from .cancel import NodeCancelAdminMixin, TaskCancelAdminMixin


@admin.register(RecallTask)
class RecallTaskAdmin(TaskCancelAdminMixin, admin.ModelAdmin):
    list_display = ["key_id", "parent_task_id", "task_name", "status", "created_at_remote"]
    actions = [*TaskCancelAdminMixin.cancel_actions]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RecallNode)
class RecallNodeAdmin(NodeCancelAdminMixin, admin.ModelAdmin):
    list_display = ["key_id", "task", "position", "status"]
    actions = [*NodeCancelAdminMixin.cancel_actions]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
