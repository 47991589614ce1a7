"""Read-only admin of the cancel audit log."""

from django.contrib import admin

from ..models import CancelAttempt


@admin.register(CancelAttempt)
class CancelAttemptAdmin(admin.ModelAdmin):
    list_display = ["started_at", "username", "cancel_type", "target_id", "outcome"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
