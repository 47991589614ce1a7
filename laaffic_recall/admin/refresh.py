""" "Refresh from LAAFFIC" where the doubt is: the task page's button, and what a refresh
settled, in words an agent can act on; the read moves the task page's clock (``clock.py``).

A refresh re-reads the task(s) through the sync service; a cancel attempt left unknown
(or in flight past ``STALE_ATTEMPT_SECONDS``) is settled by that read (``reconcile.py``).
The message then names each attempt it settled: "the cancel of 14:02 did stop the calls",
or "had no effect: the task is still Pending; you can cancel it again".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.defaultfilters import truncatechars
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..cancel.audit import concerned_task_keys, concerning, parent_ids
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
from .confirmation import no_such_task, task_url


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
    """(lines about the attempts a refresh settled, lines about those still not known)."""
    settled, unsure = [], []
    rows = CancelAttempt.objects.filter(pk__in=list(attempt_ids)).select_related("task")
    for row in rows.order_by("started_at", "pk"):
        task = row.task
        if task is None and row.task_key_id is not None:
            task = RecallTask.objects.filter(key_id=row.task_key_id).first()
        status = task.status if task is not None else None
        values = {"when": clock_time(row.started_at), "task": row.task_key_id}
        values["status"] = status_label(status)
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
        elif not row.seal_intact:
            unsure.append(
                _(
                    "Whether the cancel of %(when)s (task #%(task)s) stopped the calls is not "
                    "known, and this app will not settle it: its audit record was changed "
                    "outside the app. LAAFFIC shows the task %(status)s; ask an administrator "
                    "to check the audit log."
                )
                % values
            )
        else:
            unsure.append(
                _(
                    "Whether the cancel of %(when)s (task #%(task)s) stopped the calls is not "
                    "known yet: LAAFFIC shows the task %(status)s."
                )
                % values
            )
    return settled, unsure


def clock_time(value: datetime) -> str:
    """A time of day as the site shows times (the reader's language's format)."""
    # django-stubs lacks timezone.template_localtime (the templates' conversion).
    local = timezone.template_localtime(value)  # type: ignore[attr-defined]
    return formats.time_format(local, "TIME_FORMAT")


# Sentences end with one of these in Chinese, and the next one follows without a space.
FULL_WIDTH_ENDS = tuple("\u3002\uff01\uff1f\uff1b\uff1a\uff0c\uff09")


def join_sentences(parts: Iterable[str]) -> str:
    """Sentences one after another: a space after ". ", none after "。"."""
    text = ""
    for part in parts:
        if text and not text.endswith(FULL_WIDTH_ENDS) and not part.startswith(FULL_WIDTH_ENDS):
            text += " "
        text += part
    return text


def mark_read(keys: Iterable[int], failures: Iterable[str]) -> None:
    """Stamp the tasks a refresh read as read now: the task page's clock moves."""
    failed = {int(key) for key in failures if key.isdigit()}
    read = [key for key in keys if key not in failed]
    RecallTask.objects.filter(key_id__in=read).update(synced_at=timezone.now())


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
    mark_read(keys, (f.key for f in summary.failures if f.what == "detail"))
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
            nodes = _("nodes: %(created)d new, %(updated)d changed, %(removed)d removed.") % {
                "created": summary.nodes_created,
                "updated": summary.nodes_updated,
                "removed": summary.nodes_removed,
            }
            parts.append(join_sentences([tail, nodes]))
        elif not settled:
            parts.append(_("Nothing had changed."))
        parts += settled + unsure
        level = messages.WARNING if unsure else messages.SUCCESS
        modeladmin.message_user(request, join_sentences(parts), level)
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
        return no_such_task(modeladmin, request, object_id)
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


def _attempt_keys(modeladmin, request: HttpRequest, attempt_id: int) -> list[int] | None:
    """The tasks an attempt concerns, if the user may see one of them (else None)."""
    if not modeladmin.has_view_permission(request):
        return None
    attempt = CancelAttempt.objects.filter(pk=attempt_id).first()
    if attempt is None:
        return None
    keys = sorted(concerned_task_keys(attempt))
    if not modeladmin.get_queryset(request).filter(key_id__in=keys).exists():
        return None
    return keys


def attempt_outcome(modeladmin, request: HttpRequest, attempt_id: int) -> HttpResponse:
    """Whether a cancel's outcome is known yet (GET, JSON), for the page that says it is
    not: ``{"known": false}``, or ``{"known": true, "html": <what LAAFFIC showed>}``. Reads
    the audit row only; LAAFFIC is not asked."""
    if _attempt_keys(modeladmin, request, attempt_id) is None:
        return JsonResponse({"known": False}, status=404)
    attempt = CancelAttempt.objects.get(pk=attempt_id)
    if attempt.outcome in OPEN_OUTCOMES:
        return JsonResponse({"known": False})
    html = render_to_string(
        "admin/laaffic_recall/includes/outcome_known.html", {"attempt": attempt}, request
    )
    return JsonResponse({"known": True, "html": html.strip()})


def refresh_attempt(modeladmin, request: HttpRequest, attempt_id: int) -> HttpResponse:
    """ "Refresh from LAAFFIC" beside a cancel whose outcome is not known yet (POST): re-read
    the tasks it concerns, then back to the page it was pressed on."""
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse(f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_changelist")
    keys = _attempt_keys(modeladmin, request, attempt_id)
    if request.method == "POST" and keys:
        refresh_message(modeladmin, request, [key for key in keys if is_valid_id(key)])
    return HttpResponseRedirect(back)


def look_up_task(modeladmin, request: HttpRequest) -> HttpResponse:
    """ "Look it up at LAAFFIC" under a search that found nothing (POST, one recall key):
    read the task from LAAFFIC, mirror it, and open it if this user may see it."""
    changelist = reverse(f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_changelist")
    typed = request.POST.get("key_id", "").strip()
    if not modeladmin.has_view_permission(request):
        return HttpResponseRedirect(reverse(f"{modeladmin.admin_site.name}:index"))
    if request.method != "POST" or not (typed.isascii() and typed.isdigit()):
        return HttpResponseRedirect(changelist)
    key = int(typed)
    back = f"{changelist}?q={key}"
    if not is_valid_id(key):
        return HttpResponseRedirect(back)
    try:
        summary = sync_task_details([key], trigger=SyncTrigger.REFRESH)
    except (ConfigurationError, ApiError) as exc:
        error = str(exc)
    else:
        error = "; ".join(f.message for f in summary.failures)
        if not error:
            mark_read([key], ())
    task = modeladmin.get_queryset(request).filter(key_id=key).first()
    if task is not None and not error:
        modeladmin.message_user(
            request, _("Read recall task #%(key)s from LAAFFIC.") % {"key": key}, messages.SUCCESS
        )
        return HttpResponseRedirect(task_url(modeladmin, request, task))
    if not error and RecallTask.objects.filter(key_id=key).exists():
        message = _("LAAFFIC has recall task #%(key)s, but it cannot be shown to you here.")
        modeladmin.message_user(request, message % {"key": key}, messages.WARNING)
    else:
        message = _("LAAFFIC did not give recall task #%(key)s: %(error)s")
        modeladmin.message_user(
            request, message % {"key": key, "error": truncatechars(error, 300)}, messages.ERROR
        )
    return HttpResponseRedirect(back)


def refresh_url(modeladmin, task: RecallTask) -> str:
    return reverse(
        f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_refresh", args=[task.pk]
    )
