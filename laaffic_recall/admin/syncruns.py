"""Read-only admin of the recorded sync runs: when each ran, what it read and wrote, what
failed. Whoever may view the mirror may see how it was synced."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..models import VIEW_TASKS_PERMISSION, SyncRun
from .paginator import CappedCountPaginator
from .readonly import ReadOnlyAdmin


def duration_text(run: SyncRun) -> str:
    if run.duration is None:
        return gettext("running") if not run.error else "-"
    seconds = run.duration.total_seconds()
    if seconds < 60:
        return gettext("%(seconds).1f s") % {"seconds": seconds}
    return gettext("%(minutes)d min %(seconds)d s") % {
        "minutes": seconds // 60,
        "seconds": seconds % 60,
    }


def result_badge(run: SyncRun) -> str:
    if run.finished_at is None:
        css, text = "pending", gettext("Running")
    elif run.error:
        css, text = "refused", gettext("Failed")
    elif run.failure_count:
        css, text = "failed", gettext("With failures")
    else:
        css, text = "succeeded", gettext("OK")
    return format_html('<span class="laaffic-outcome laaffic-outcome-{}">{}</span>', css, text)


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "trigger",
        "duration_display",
        "result",
        "tasks_seen",
        "tasks_created",
        "tasks_updated",
        "details_fetched",
        "failure_count",
    ]
    list_filter = ["trigger", "started_at"]
    list_per_page = 50
    show_full_result_count = False
    paginator = CappedCountPaginator
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("started_at", "finished_at", "duration_display"),
                    ("trigger", "result"),
                    ("window_start", "window_end"),
                    "next_due_at",
                ]
            },
        ),
        (
            _("Read and written"),
            {
                "fields": [
                    ("tasks_seen", "tasks_created", "tasks_updated"),
                    ("nodes_written", "details_fetched", "pages_fetched"),
                ]
            },
        ),
        (_("Failures"), {"fields": ["failure_count", "error", "failures"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.concrete_fields] + [
            "duration_display",
            "result",
        ]

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_view_permission(request, obj) or request.user.has_perm(
            VIEW_TASKS_PERMISSION
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    @admin.display(description=_("duration"))
    def duration_display(self, obj: SyncRun) -> str:
        return duration_text(obj)

    @admin.display(description=_("result"))
    def result(self, obj: SyncRun) -> str:
        return result_badge(obj)
