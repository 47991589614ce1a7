"""What the two cancel admin mixins share: the permission, the confirmation page, the run.

See ``admin/cancel.py`` for the actions, buttons and extra views built on it, and
``admin/cancel_preview.py`` for the rows of the confirmation pages.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import update_wrapper
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from .. import cancel as cancel_service
from ..audit import Submission, status_label
from ..cancel import BatchTooLarge, CancelReport, CancelTarget
from ..conf import app_settings
from ..forms import CancelReasonForm
from ..models import MAX_ID, Outcome, RecallNode, RecallTask
from .cancel_preview import cancel_blocks, node_rows, preview_row, safe_target, status_css, tally

__all__ = [
    "ATTEMPTS_ON_TASK_PAGE",
    "CANCEL_CSS",
    "CANCEL_PERMISSION",
    "VIEW_ATTEMPTS_PERMISSION",
    "CancelAdminBase",
    "node_confirmation_context",
    "preview_row",
    "status_css",
]

logger = logging.getLogger("laaffic_recall")

CANCEL_PERMISSION = "laaffic_recall.cancel_recalltask"
VIEW_ATTEMPTS_PERMISSION = "laaffic_recall.view_cancelattempt"
ATTEMPTS_ON_TASK_PAGE = 20
CANCEL_CSS = "laaffic_recall/cancel.css"

INTEGER_PK_TYPES = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
}
LEVELS = {"success": messages.SUCCESS, "warning": messages.WARNING, "error": messages.ERROR}


def _is_db_int(value: str) -> bool:
    return value.isascii() and value.isdigit() and int(value) <= MAX_ID


def posted_action(request: HttpRequest) -> str:
    """The action name a changelist POST asks for, chosen as Django's ``response_action``
    does (the ``action`` select of the form whose button was pressed)."""
    names = request.POST.getlist("action")
    if not names:
        return ""
    try:
        index = int(request.POST.get("index", 0))
    except ValueError:
        index = 0
    try:
        return names[index]
    except IndexError:
        return names[-1]


def permission_message() -> str:
    return _(
        "You need the “%(permission)s” permission to cancel recall tasks or nodes; nothing "
        "was sent."
    ) % {"permission": _("Can cancel recall tasks")}


class CancelAdminBase:
    """What both mixins share: the permission, the templates, the run and its summary."""

    # Like ModelAdmin.delete_selected_confirmation_template: None means the lookup chain.
    cancel_confirmation_template: str | None = None
    # The action names of the mixin (set by each mixin); used to refuse them politely.
    cancel_actions: list[str] = []

    @property
    def media(self) -> forms.Media:
        """The admin's media plus the cancel pages' and buttons' stylesheet."""
        return super().media + forms.Media(css={"all": [CANCEL_CSS]})

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        """``laaffic_recall.cancel_recalltask`` ("Can cancel recall tasks"); superusers have it."""
        return request.user.has_perm(CANCEL_PERMISSION)

    def refuse_without_permission(self, request: HttpRequest, url: str) -> HttpResponseRedirect:
        """Back to ``url`` with an error naming the permission; nothing is sent."""
        self.message_user(request, permission_message(), messages.ERROR)
        return HttpResponseRedirect(url)

    def cancel_template_names(self, name: str) -> list[str]:
        """``admin/<app>/<model>/<name>``, then ``admin/<app>/<name>``, then ``admin/<name>``."""
        opts = self.model._meta
        return [
            f"admin/{opts.app_label}/{opts.model_name}/{name}",
            f"admin/{opts.app_label}/{name}",
            f"admin/{name}",
        ]

    def with_filters(self, request: HttpRequest, url: str) -> str:
        """``url`` with the change list's filters of this request kept (``_changelist_filters``
        on a change or cancel page, the list's own query on the change list)."""
        context = {
            "opts": self.model._meta,
            "preserved_filters": self.get_preserved_filters(request),
        }
        return add_preserved_filters(context, url)

    def render_cancel_confirmation(self, request: HttpRequest, context: dict) -> TemplateResponse:
        opts = self.model._meta
        request.current_app = self.admin_site.name
        will, total = tally(context)
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "media": self.media,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "max_batch": int(app_settings.MAX_CANCEL_BATCH),
            "preserved_filters": self.get_preserved_filters(request),
            "will_cancel_count": will,
            "row_count": total,
            **context,
        }
        return TemplateResponse(
            request,
            self.cancel_confirmation_template
            or self.cancel_template_names("cancel_confirmation.html"),
            context,
        )

    # ---- the run and its summary

    def run_cancel(
        self,
        request: HttpRequest,
        targets: list[CancelTarget],
        reason: str,
        not_sent: Sequence[str] = (),
    ) -> None:
        """Call the service once for a confirmed submission and report it in one message.

        ``not_sent`` are lines about selected rows the admin left out (no longer in the
        list, an id that cannot be sent); they are named in the same message.
        """
        if not self.has_cancel_permission(request):  # defence in depth: views check first
            raise PermissionDenied
        if not targets:
            self.message_nothing_sent(request, not_sent)
            return
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
        self.message_cancel_report(request, report, not_sent)

    def run_node_cancel(self, request: HttpRequest, node, reason: str) -> None:
        """Cancel from this node onward, or say why its key cannot be sent."""
        target = safe_target(CancelTarget.for_node, node)
        if target is None:
            line = _("%(node)s has an invalid node key; nothing sent.") % {"node": node}
            self.run_cancel(request, [], "", [line])
        else:
            self.run_cancel(request, [target], reason)

    def selected_within_limit(self, request: HttpRequest, queryset, *ordering: str):
        """The selected tasks in this order, or None (with a message) past MAX_CANCEL_BATCH."""
        limit = int(app_settings.MAX_CANCEL_BATCH)
        tasks = list(queryset.order_by(*ordering)[: limit + 1])
        if len(tasks) > limit:
            self.message_user(request, self.too_many_message(queryset.count()), messages.ERROR)
            return None
        return tasks

    def too_many_message(self, count: int) -> str:
        return _(
            "You selected %(count)d targets; one cancel handles at most %(limit)d. Nothing was "
            "sent: narrow the selection (e.g. filter by status Pending) and try again."
        ) % {"count": count, "limit": int(app_settings.MAX_CANCEL_BATCH)}

    def message_nothing_sent(
        self, request: HttpRequest, not_sent: Sequence[str], head: str = ""
    ) -> None:
        """Nothing was left to send: say why for each row, with no audit link (no record)."""
        lines = format_html_join(
            "", '<div class="laaffic-cancel-result">{}</div>', ((line,) for line in not_sent)
        )
        head = head or (_("Nothing sent.") if not_sent else _("Nothing sent: nothing selected."))
        self.message_user(request, format_html("{}{}", head, lines), messages.WARNING)

    def message_cancel_report(
        self, request: HttpRequest, report: CancelReport, not_sent: Sequence[str] = ()
    ) -> None:
        """ONE message: "2 of 3 cancelled, 1 skipped (ref 603e6259).", a link to these
        attempts in the audit log, then a line per target, at the level that fits."""
        done = report.count(Outcome.SUCCEEDED)
        total = len(report.results) + len(not_sent)
        parts = [
            (_("%(count)d skipped"), report.count(Outcome.SKIPPED) + len(not_sent)),
            (_("%(count)d refused"), report.count(Outcome.REFUSED)),
            (_("%(count)d failed"), report.count(Outcome.FAILED)),
            (_("%(count)d unknown"), report.count(Outcome.UNKNOWN)),
            (_("%(count)d in flight"), report.count(Outcome.PENDING)),
        ]
        head = _("%(done)d of %(total)d cancelled") % {"done": done, "total": total}
        others = [text % {"count": count} for text, count in parts if count]
        if others:
            head = ", ".join([head, *others])
        head = _("%(summary)s (ref %(ref)s).") % {
            "summary": head,
            "ref": str(report.correlation_id)[:8],
        }
        # <div>, not a nested <li>: the admin styles every li of the message list as a
        # message of its own, with its own icon.
        lines = [(r.describe(),) for r in report.results] + [(line,) for line in not_sent]
        items = format_html_join("", '<div class="laaffic-cancel-result">{}</div>', lines)
        link = ""
        recorded = any(r.attempt_id is not None for r in report.results)
        if recorded and request.user.has_perm(VIEW_ATTEMPTS_PERMISSION):
            url = reverse(f"{self.admin_site.name}:laaffic_recall_cancelattempt_changelist")
            link = format_html(
                ' <a href="{}?correlation_id={}">{}</a>',
                url,
                report.correlation_id,
                _("See the audit log."),
            )
        level = report.level
        if not_sent and level == "success":
            level = "warning"
        self.message_user(request, format_html("{}{}{}", head, link, items), LEVELS[level])

    # ---- the selection

    def not_in_selection(self, request: HttpRequest, acted: Sequence[Any]) -> list[str]:
        """Lines naming the rows posted in ``_selected_action`` that the action did not get
        (e.g. a task that dropped out of a filtered list since the page was shown)."""
        if request.POST.get("select_across") == "1":
            return []
        acted_ids = {str(pk) for pk in acted}
        posted = [v for v in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME) if v]
        missing = [v for v in dict.fromkeys(posted) if v not in acted_ids]
        if not missing:
            return []
        if self._integer_pk():
            missing = [v for v in missing if _is_db_int(v)]
        found = {str(obj.pk): obj for obj in self.get_queryset(request).filter(pk__in=missing)}
        lines = []
        for value in missing:
            obj = found.get(value)
            if obj is None:
                lines.append(
                    _("A selected row (id %(id)s) no longer exists; nothing sent.") % {"id": value}
                )
            else:
                lines.append(
                    _("%(object)s is no longer in this list (now %(status)s); nothing sent.")
                    % {"object": obj, "status": status_label(getattr(obj, "status", None))}
                )
        return lines

    # ---- refusals before Django's own handling

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

    def changelist_view(self, request, extra_context=None):
        """A cancel action posted by someone without the permission (a forged or stale form)
        gets a message naming the permission, rather than Django's "No action selected."."""
        if (
            request.method == "POST"
            and posted_action(request) in self.cancel_actions
            and self.has_view_permission(request)
            and not self.has_cancel_permission(request)
        ):
            return self.refuse_without_permission(request, request.get_full_path())
        return super().changelist_view(request, extra_context)

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
    rows = node_rows(node, cancel_blocks([node.task]))
    intro = _(
        "Are you sure you want to cancel %(node)s and every later node of task %(task)s? "
        "LAAFFIC will not run these recall rounds."
    ) % {"node": node, "task": node.task}
    return {
        "title": _("Cancel from a node onward"),
        "object": obj,
        "intro": intro,
        "task": node.task,
        "node_rows": rows,
        "form": form,
        "back_url": back_url,
    }
