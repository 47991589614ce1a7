""" "Refresh from LAAFFIC" where the doubt is: the task page's button, and what a refresh
settled, in words an agent can act on.

A refresh re-reads the task(s) through the sync service; a cancel attempt left unknown
(or in flight past ``STALE_ATTEMPT_SECONDS``) is settled by that read (``reconcile.py``).
The message then names each attempt it settled: "the cancel of 14:02 did stop the calls",
or "had no effect: the task is still Pending; you can cancel it again".
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..cancel.audit import concerning, parent_ids
from ..client.errors import ApiError, ConfigurationError
from ..client.wire import is_valid_id
from ..models import (
    OPEN_OUTCOMES,
    CancelAttempt,
    Outcome,
    RecallTask,
    Status,
    SyncTrigger,
    status_label,
)
from ..sync.service import sync_task_details
from .confirmation import task_url


def open_attempt_ids(task_keys: Iterable[int]) -> list[int]:
    """The attempts on these tasks whose outcome is not known yet (a refresh may settle them)."""
    keys = list(task_keys)
    if not keys:
        return []
    rows = CancelAttempt.objects.filter(
        concerning(keys, parent_ids(keys)), outcome__in=list(OPEN_OUTCOMES)
    )
    return list(rows.values_list("pk", flat=True))


def settled_lines(attempt_ids: Iterable[int]) -> tuple[list[str], list[str]]:
    """(lines about the attempts a refresh settled, lines about those still unsure)."""
    settled, unsure = [], []
    rows = CancelAttempt.objects.filter(pk__in=list(attempt_ids)).select_related("task")
    for row in rows.order_by("started_at", "pk"):
        # django-stubs lacks timezone.template_localtime (the templates' conversion).
        when = timezone.template_localtime(row.started_at).strftime("%H:%M")  # type: ignore[attr-defined]
        task = row.task
        if task is None and row.task_key_id is not None:
            task = RecallTask.objects.filter(key_id=row.task_key_id).first()
        status = task.status if task is not None else None
        values = {"when": when, "task": row.task_key_id, "status": status_label(status)}
        if row.outcome == Outcome.SUCCEEDED:
            settled.append(
                _("The cancel of %(when)s (task #%(task)s) did stop the calls.") % values
            )
        elif row.outcome == Outcome.FAILED and status == Status.PENDING:
            settled.append(
                _(
                    "The cancel of %(when)s (task #%(task)s) had no effect: the task is still "
                    "Pending; you can cancel it again."
                )
                % values
            )
        elif row.outcome == Outcome.FAILED:
            settled.append(
                _(
                    "The cancel of %(when)s (task #%(task)s) had no effect: the task is now "
                    "%(status)s."
                )
                % values
            )
        elif row.effective_outcome == Outcome.PENDING:
            unsure.append(
                _(
                    "The cancel of %(when)s (task #%(task)s) is still waiting for LAAFFIC's "
                    "answer; refresh again in a minute."
                )
                % values
            )
        else:
            unsure.append(
                _(
                    "The cancel of %(when)s (task #%(task)s) is still unsure: LAAFFIC shows the "
                    "task %(status)s; refresh again in a minute."
                )
                % values
            )
    return settled, unsure


def refresh_message(modeladmin, request: HttpRequest, keys: list[int]) -> None:
    """Re-read these tasks now and say what changed and what it settled (one message, plus
    one per failure)."""
    before = open_attempt_ids(keys)
    try:
        summary = sync_task_details(keys, trigger=SyncTrigger.REFRESH)
    except (ConfigurationError, ApiError) as exc:
        modeladmin.message_user(
            request, _("Nothing was refreshed: %(error)s") % {"error": exc}, messages.ERROR
        )
        return
    settled, unsure = settled_lines(before)
    read = summary.details_fetched
    if read:
        head = ngettext(
            "Refreshed %(count)d task from LAAFFIC.",
            "Refreshed %(count)d tasks from LAAFFIC.",
            read,
        ) % {"count": read}
        parts = [head]
        if summary.changed:
            changed = summary.tasks_updated + summary.tasks_created
            tail = ngettext("%(count)d task changed;", "%(count)d tasks changed;", changed) % {
                "count": changed
            }
            tail += " " + _("nodes: %(created)d new, %(updated)d changed, %(removed)d removed.") % {
                "created": summary.nodes_created,
                "updated": summary.nodes_updated,
                "removed": summary.nodes_removed,
            }
            parts.append(tail)
        elif not settled:
            parts.append(_("Nothing had changed."))
        parts += settled + unsure
        level = messages.WARNING if unsure else messages.SUCCESS
        modeladmin.message_user(request, " ".join(parts), level)
    if summary.failures:
        failed = format_html_join(
            "",
            "<li>{}</li>",
            ((truncatechars(f"#{f.key}: {f.message}", 500),) for f in summary.failures),
        )
        count = len(summary.failures)
        head = ngettext(
            "%(count)d task could not be refreshed:",
            "%(count)d tasks could not be refreshed:",
            count,
        ) % {"count": count}
        modeladmin.message_user(request, format_html("{}<ul>{}</ul>", head, failed), messages.ERROR)


def refresh_task(modeladmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """The task page's "Refresh from LAAFFIC" (POST, view permission): re-read this task."""
    if not modeladmin.has_view_permission(request):
        return HttpResponseRedirect(reverse(f"{modeladmin.admin_site.name}:index"))
    task = modeladmin.get_object(request, unquote(object_id))
    if task is None:
        return modeladmin._get_obj_does_not_exist_redirect(request, modeladmin.opts, object_id)
    back = task_url(modeladmin, request, task)
    if request.method != "POST":  # a GET never changes anything
        return HttpResponseRedirect(back)
    if not is_valid_id(task.key_id):
        modeladmin.message_user(
            request,
            _("This task's recall key is not a positive number, so LAAFFIC cannot be asked."),
            messages.WARNING,
        )
        return HttpResponseRedirect(back)
    refresh_message(modeladmin, request, [task.key_id])
    return HttpResponseRedirect(back)


def refresh_url(modeladmin, task: RecallTask) -> str:
    return reverse(
        f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_refresh", args=[task.pk]
    )
