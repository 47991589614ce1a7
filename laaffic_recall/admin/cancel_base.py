"""What the two cancel admin mixins share: the permission, the confirmation page, the run.

See ``admin/cancel.py`` for the actions, buttons and extra views built on it.
"""

from __future__ import annotations

import logging
from functools import update_wrapper
from typing import Any

from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from .. import cancel as cancel_service
from ..audit import Submission, status_label
from ..cancel import BatchTooLarge, CancelReport, CancelTarget
from ..conf import app_settings
from ..forms import CancelReasonForm
from ..models import Outcome, RecallNode, RecallTask, Status

logger = logging.getLogger("laaffic_recall")

CANCEL_PERMISSION = "laaffic_recall.cancel_recalltask"
VIEW_ATTEMPTS_PERMISSION = "laaffic_recall.view_cancelattempt"
ATTEMPTS_ON_TASK_PAGE = 20

STATUS_CSS = {
    Status.PENDING: "pending",
    Status.IN_PROGRESS: "in-progress",
    Status.COMPLETED: "completed",
    Status.CANCELLED: "cancelled",
    Status.EXCEPTION: "exception",
}
INTEGER_PK_TYPES = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
}
LEVELS = {"success": messages.SUCCESS, "warning": messages.WARNING, "error": messages.ERROR}


def _is_db_int(value: str) -> bool:
    return value.isascii() and value.isdigit() and int(value) <= 2**63 - 1


def status_css(value: int | None) -> str:
    return STATUS_CSS.get(value, "unknown")


def preview_row(label: str, status: int | None, url: str = "", note: str = "") -> dict:
    """One line of a confirmation page: what it is, its mirrored status, what will happen."""
    return {
        "label": label,
        "url": url,
        "status": status_label(status),
        "status_css": status_css(status),
        "will_send": status == Status.PENDING,
        "note": note,
    }


class CancelAdminBase:
    """What both mixins share: the permission, the templates, the run and its summary."""

    # Like ModelAdmin.delete_selected_confirmation_template: None means the lookup chain.
    cancel_confirmation_template: str | None = None

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        """``laaffic_recall.cancel_recalltask`` ("Can cancel recall tasks"); superusers have it."""
        return request.user.has_perm(CANCEL_PERMISSION)

    def cancel_template_names(self, name: str) -> list[str]:
        """``admin/<app>/<model>/<name>``, then ``admin/<app>/<name>``, then ``admin/<name>``."""
        opts = self.model._meta
        return [
            f"admin/{opts.app_label}/{opts.model_name}/{name}",
            f"admin/{opts.app_label}/{name}",
            f"admin/{name}",
        ]

    def render_cancel_confirmation(self, request: HttpRequest, context: dict) -> TemplateResponse:
        opts = self.model._meta
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "media": self.media,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "max_batch": int(app_settings.MAX_CANCEL_BATCH),
            **context,
        }
        return TemplateResponse(
            request,
            self.cancel_confirmation_template
            or self.cancel_template_names("cancel_confirmation.html"),
            context,
        )

    def run_cancel(self, request: HttpRequest, targets: list[CancelTarget], reason: str) -> None:
        """Call the service once for a confirmed submission and report it in one message."""
        if not self.has_cancel_permission(request):  # defence in depth: views check first
            raise PermissionDenied
        submission = Submission.from_request(request, reason)
        try:
            report = cancel_service.cancel(targets, submission)
        except BatchTooLarge as exc:
            self.message_user(request, self.too_many_message(exc.count), messages.ERROR)
            return
        except Exception:
            logger.exception("Cancel submission %s failed", submission.correlation_id)
            self.message_user(
                request,
                _(
                    "The cancel could not be completed because of an unexpected error. Check "
                    "the cancel attempts log before trying again."
                ),
                messages.ERROR,
            )
            return
        self.message_cancel_report(request, report)

    def too_many_message(self, count: int) -> str:
        return _(
            "You selected %(count)d targets; one cancel handles at most %(limit)d. Nothing was "
            "sent: narrow the selection (e.g. filter by status Pending) and try again."
        ) % {"count": count, "limit": int(app_settings.MAX_CANCEL_BATCH)}

    def message_cancel_report(self, request: HttpRequest, report: CancelReport) -> None:
        """ONE message naming each target and what happened, at the level that fits."""
        parts = [
            (Outcome.SUCCEEDED, _("%(count)d cancelled")),
            (Outcome.SKIPPED, _("%(count)d skipped")),
            (Outcome.REFUSED, _("%(count)d refused")),
            (Outcome.FAILED, _("%(count)d failed")),
            (Outcome.UNKNOWN, _("%(count)d unknown")),
        ]
        counts = ", ".join(
            text % {"count": report.count(outcome)}
            for outcome, text in parts
            if report.count(outcome)
        )
        head = _("Cancel %(ref)s: %(counts)s.") % {
            "ref": str(report.correlation_id)[:8],
            "counts": counts or _("nothing to do"),
        }
        # <div>, not a nested <li>: the admin styles every li of the message list as a
        # message of its own, with its own icon.
        lines = ((r.describe(),) for r in report.results)
        items = format_html_join("", '<div class="laaffic-cancel-result">{}</div>', lines)
        link = ""
        if request.user.has_perm(VIEW_ATTEMPTS_PERMISSION):
            url = reverse(f"{self.admin_site.name}:laaffic_recall_cancelattempt_changelist")
            link = format_html(
                ' <a href="{}?correlation_id={}">{}</a>',
                url,
                report.correlation_id,
                _("See the audit log."),
            )
        self.message_user(request, format_html("{}{}{}", head, link, items), LEVELS[report.level])

    def response_action(self, request: HttpRequest, queryset):
        """Refuse malformed ``_selected_action`` ids with a message (Django would raise a 500
        on ``pk__in=["abc"]`` or on an id beyond 64 bits)."""
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if self._integer_pk() and not all(_is_db_int(value) for value in selected):
            self.message_user(
                request,
                _("The selection contains an invalid id; nothing was done."),
                messages.ERROR,
            )
            return None
        return super().response_action(request, queryset)

    def _integer_pk(self) -> bool:
        return self.model._meta.pk.get_internal_type() in INTEGER_PK_TYPES

    def get_urls(self):
        urls = super().get_urls()
        # The actions run from the change list view: keep it out of ATOMIC_REQUESTS, so the
        # audit row is committed before the request to LAAFFIC leaves there too.
        changelist = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        for pattern in urls:
            if getattr(pattern, "name", None) == changelist:
                transaction.non_atomic_requests(pattern.callback)
        return urls

    def _cancel_view(self, view):
        """Wrap an extra view: admin login, CSRF, never cached; never inside ATOMIC_REQUESTS
        (the audit row must be committed before the request to LAAFFIC leaves)."""
        wrapped = self.admin_site.admin_view(view)
        return transaction.non_atomic_requests(update_wrapper(wrapped, view))

    def _confirmed_reason(self, request: HttpRequest) -> tuple[CancelReasonForm, bool]:
        """The reason form, and whether this POST is the confirmation (``post=yes``)."""
        if request.method == "POST" and request.POST.get("post"):
            form = CancelReasonForm(request.POST)
            return form, form.is_valid()
        return CancelReasonForm(), False


def node_confirmation_context(
    node: RecallNode, form: CancelReasonForm, back_url: str, obj: RecallTask | None = None
) -> dict[str, Any]:
    """The chosen node and every later node of its task, with what will happen to each."""
    later = list(node.task.nodes.filter(position__gte=node.position).order_by("position"))
    rows = []
    for each in later:
        row = preview_row(
            _("round %(round)d: node #%(key)s") % {"round": each.position + 1, "key": each.key_id},
            each.status,
        )
        row["chosen"] = each.pk == node.pk
        row["group_task_id"] = each.group_task_id
        rows.append(row)
    intro = _(
        "Are you sure you want to cancel %(node)s and every later node of task %(task)s? "
        "LAAFFIC will not run these recall rounds."
    ) % {"node": node, "task": node.task}
    if not node.is_pending:
        intro += " " + _(
            "The local copy shows this node %(status)s: unless LAAFFIC still reports it "
            "Pending, nothing will be sent."
        ) % {"status": status_label(node.status)}
    return {
        "title": _("Cancel from a node onward"),
        "object": obj,
        "intro": intro,
        "task": node.task,
        "node_rows": rows,
        "form": form,
        "back_url": back_url,
    }
