"""The cancel actions of the mirror's change lists, and what their confirmation runs.

Each cancel action is one plain function in the manner of Django's ``delete_selected``:
without ``post`` in the request it renders the confirmation page listing exactly what will
be cancelled; the page posts the same fields back with ``post=yes`` and an optional
reason, and only then does the cancel service run; the action then returns None, so the
admin redirects back to the list, where one summary message says what became of each
target. ``permissions=["cancel"]`` makes the admin ask ``has_cancel_permission``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..cancel.audit import Submission, claim_submission, finish_submission
from ..cancel.results import CancelReport, CancelTarget
from ..cancel.service import BatchTooLarge, cancel, look_up_parent
from ..client.wire import is_valid_id
from ..conf import app_settings
from ..forms import CancelReasonForm
from ..models import (
    VIEW_ATTEMPTS_PERMISSION,
    CancelType,
    Outcome,
    RecallNode,
    RecallTask,
    status_label,
)
from .confirmation import (
    blocking_notes,
    invalid_key_line,
    invalid_key_note,
    node_context,
    parent_rows,
    render_confirmation,
    stop_rounds,
    task_row,
    task_url,
    with_offer,
)
from .readonly import is_pk
from .visibility import visible_tasks

logger = logging.getLogger("laaffic_recall")

CANCEL_ACTIONS = frozenset({"cancel_tasks", "cancel_tasks_by_parent", "cancel_from_node"})
LEVELS = {"success": messages.SUCCESS, "warning": messages.WARNING, "error": messages.ERROR}


# --------------------------------------------------------------------------- the actions


@admin.action(permissions=["cancel"], description=gettext_lazy("Cancel selected recall tasks"))
def cancel_tasks(modeladmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    """Type 1, one call per selected task (``{"type": 1, "id": key_id}``)."""
    tasks = _within_limit(modeladmin, request, queryset, "-created_at_remote", "-key_id")
    if tasks is None:
        return None
    missing = not_in_selection(modeladmin, request, [t.pk for t in tasks])
    form, confirmed = confirmed_reason(request)
    if confirmed:
        targets = [CancelTarget.for_task(t) for t in tasks if is_valid_id(t.key_id)]
        not_sent = [invalid_key_line(t) for t in tasks if not is_valid_id(t.key_id)]
        run_cancel(modeladmin, request, targets, form.cleaned_data["reason"], not_sent + missing)
        return None
    blocks = blocking_notes(tasks)
    rows = [
        with_offer(
            modeladmin,
            request,
            task_row(t, task_url(modeladmin, request, t), blocks, invalid_key_note(t)),
            t,
        )
        for t in tasks
    ]
    return render_confirmation(
        modeladmin,
        request,
        {
            "title": _("Cancel recall tasks"),
            "intro": _(
                "Are you sure you want to cancel these recall tasks? LAAFFIC will make no "
                "further recall rounds for them."
            ),
            "groups": [{"title": _("Recall tasks"), "rows": rows}],
            "missing": missing,
            "form": form,
            "action": "cancel_tasks",
            "selected": [t.pk for t in tasks],
            "back_url": request.get_full_path(),
        },
    )


@admin.action(
    permissions=["cancel"],
    description=gettext_lazy("Cancel selected recall tasks by parent task id"),
)
def cancel_tasks_by_parent(
    modeladmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    """Type 2, one call per distinct parent task id among the selected tasks."""
    tasks = _within_limit(modeladmin, request, queryset, "parent_task_id", "-key_id")
    if tasks is None:
        return None
    missing = not_in_selection(modeladmin, request, [t.pk for t in tasks])
    by_parent: dict[int, list[RecallTask]] = {}
    without: list[tuple[RecallTask, str, str]] = []  # (task, row note, message line)
    for task in tasks:
        if task.parent_task_id is None:
            note = _("skipped: no parent task id known")
            line = _("%(task)s has no parent task id; nothing sent.") % {"task": task}
            without.append((task, note, line))
        elif not is_valid_id(task.parent_task_id):
            values = {"task": task, "id": task.parent_task_id}
            note = _("skipped: invalid parent task id %(id)s") % values
            line = _("%(task)s has an invalid parent task id (%(id)s); nothing sent.") % values
            without.append((task, note, line))
        else:
            by_parent.setdefault(task.parent_task_id, []).append(task)
    not_sent = [line for _task, _note, line in without] + missing
    if not by_parent:
        head = ""
        if without:
            head = _("None of the selected tasks has a valid parent task id; nothing was sent.")
        message_nothing_sent(modeladmin, request, not_sent, head)
        return None
    # A type-2 cancel stops every Pending task of the parent, selected or not: find them all.
    lookups = {pid: look_up_parent(pid) for pid in by_parent}
    hidden = {pid: hidden_tasks(modeladmin, request, lk.tasks) for pid, lk in lookups.items()}
    form, confirmed = confirmed_reason(request)
    if confirmed:
        targets = []
        for pid, lookup in lookups.items():
            if hidden[pid]:
                not_sent.append(hidden_parent_line(pid))
            elif lookup.error:  # the service asks LAAFFIC again, and sends nothing if it cannot
                targets.append(CancelTarget.for_parent(pid))
            else:
                targets.append(CancelTarget.for_parent(pid, lookup.tasks))
        run_cancel(modeladmin, request, targets, form.cleaned_data["reason"], not_sent)
        return None
    groups = [
        parent_group(modeladmin, request, lookup, hidden[pid]) for pid, lookup in lookups.items()
    ]
    if without:
        blocks = blocking_notes([t for t, _note, _line in without])
        groups.append(
            {
                "title": _("Without a valid parent task id (nothing sent)"),
                "rows": [
                    task_row(t, task_url(modeladmin, request, t), blocks, note)
                    for t, note, _line in without
                ],
            }
        )
    return render_confirmation(
        modeladmin,
        request,
        {
            "title": _("Cancel recall tasks by parent task id"),
            "intro": _(
                "Are you sure? One cancel is sent per parent task id below; LAAFFIC stops "
                "the automatic recall of that parent task: every Pending recall task listed "
                "under it, selected or not."
            ),
            "groups": groups,
            "missing": missing,
            "form": form,
            "action": "cancel_tasks_by_parent",
            "selected": [t.pk for t in tasks],
            "back_url": request.get_full_path(),
        },
    )


@admin.action(
    permissions=["cancel"], description=gettext_lazy("Cancel from the selected node onward")
)
def cancel_from_node(modeladmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    """Type 3 on exactly one selected node (``{"type": 3, "id": node.key_id}``)."""
    nodes = list(queryset.select_related("task")[:2])
    missing = not_in_selection(modeladmin, request, [n.pk for n in nodes])
    if len(nodes) != 1 or missing:
        if len(nodes) + len(missing) == 1:
            message_nothing_sent(modeladmin, request, missing)
            return None
        modeladmin.message_user(
            request,
            _(
                "Select exactly one node: the cancel stops that node and every later node "
                "of its task. Nothing was sent."
            ),
            messages.WARNING,
        )
        return None
    [node] = nodes
    form, confirmed = confirmed_reason(request)
    if confirmed:
        cancel_node(modeladmin, request, node, form.cleaned_data["reason"])
        return None
    context = node_context(node, form, request.get_full_path())
    context.update(action="cancel_from_node", selected=[node.pk])
    return render_confirmation(modeladmin, request, context)


# --------------------------------------------------------------------------- shared with the views


def confirmed_reason(request: HttpRequest) -> tuple[CancelReasonForm, bool]:
    """The reason form, and whether this POST is the confirmation (``post=yes``)."""
    if request.method == "POST" and request.POST.get("post"):
        form = CancelReasonForm(request.POST)
        return form, form.is_valid()
    return CancelReasonForm(), False


def cancel_node(modeladmin, request: HttpRequest, node: RecallNode, reason: str) -> None:
    """Cancel from this node onward, or say why its key cannot be sent (or why this user
    may not: the node's task is not among the tasks they may see)."""
    if hidden_tasks(modeladmin, request, [node.task]):
        line = _("%(node)s belongs to a task you cannot see; nothing sent.") % {"node": node}
        run_cancel(modeladmin, request, [], "", [line])
    elif is_valid_id(node.key_id):
        run_cancel(modeladmin, request, [CancelTarget.for_node(node)], reason)
    else:
        line = _("%(node)s has an invalid node key; nothing sent.") % {"node": node}
        run_cancel(modeladmin, request, [], "", [line])


def run_cancel(
    modeladmin,
    request: HttpRequest,
    targets: list[CancelTarget],
    reason: str,
    not_sent: Sequence[str] = (),
) -> None:
    """Call the service once for a confirmed submission and report it in one message.

    ``not_sent`` are lines about selected rows the admin left out (no longer in the
    list, an id that cannot be sent); they are named in the same message.
    """
    if not modeladmin.has_cancel_permission(request):  # defence in depth: views check first
        raise PermissionDenied
    claimed = _claim(modeladmin, request)
    if claimed is False:
        return
    if not targets:
        message_nothing_sent(modeladmin, request, not_sent, record=claimed)
        return
    correlation_id = claimed.correlation_id if claimed else None
    submission = Submission.from_request(
        request, reason, correlation_id, visible=visible_tasks(modeladmin, request)
    )
    try:
        report = cancel(targets, submission)
    except BatchTooLarge as exc:
        _say(modeladmin, request, claimed, [_too_many(exc.count)], "error")
        return
    except Exception:
        logger.exception("Cancel submission %s failed", submission.correlation_id)
        text = _(
            "The cancel could not be completed because of an unexpected error. Check "
            "the cancel attempts log before trying again."
        )
        _say(modeladmin, request, claimed, [text], "error")
        return
    _message_report(modeladmin, request, report, not_sent, claimed)


def _claim(modeladmin, request: HttpRequest):
    """The submission row of this confirmation's token (None without a token, as from an
    older page), or False when the token was already used: then the agent is told, as
    information, what became of the first POST, and nothing is started."""
    try:
        token = uuid.UUID(request.POST.get("submission_token", ""))
    except ValueError:
        return None
    row, created = claim_submission(token, request.user.get_username())
    if created:
        return row
    link = _attempts_link(modeladmin, request, row.correlation_id)
    if row.username != request.user.get_username():
        text = _("This confirmation was already used; nothing was sent again.")
        modeladmin.message_user(request, text, messages.INFO)
    elif row.finished_at is None:
        text = _(
            "This confirmation is already being processed (ref %(ref)s); nothing was sent "
            "again. Its result appears in the audit log as soon as LAAFFIC answers."
        ) % {"ref": str(row.correlation_id)[:8]}
        modeladmin.message_user(request, format_html("{}{}", text, link), messages.INFO)
    else:
        head = _(
            "This confirmation was already sent (ref %(ref)s); nothing was sent again. Its "
            "result was:"
        ) % {"ref": str(row.correlation_id)[:8]}
        lines = format_html_join(
            "", '<div class="laaffic-cancel-result">{}</div>', ((line,) for line in row.summary)
        )
        modeladmin.message_user(request, format_html("{}{}{}", head, link, lines), messages.INFO)
    return False


def _attempts_link(modeladmin, request: HttpRequest, correlation_id) -> str:
    """A link to the attempts of one submission in the audit log ("" without the right)."""
    if not request.user.has_perm(VIEW_ATTEMPTS_PERMISSION):
        return ""
    url = reverse(f"{modeladmin.admin_site.name}:laaffic_recall_cancelattempt_changelist")
    return format_html(
        ' <a href="{}?correlation_id={}">{}</a>', url, correlation_id, _("See the audit log.")
    )


def _say(modeladmin, request, claimed, lines: Sequence, level: str, link="", details=()) -> None:
    """One message: the first line, the audit link, then a line per target, each followed
    by its ``details`` (safe HTML: the technical disclosure, an offer); the text is kept
    on the submission's row for a repeated POST."""
    head, *rest = lines
    details = list(details) + [""] * (len(rest) - len(details))
    items = format_html_join(
        "",
        '<div class="laaffic-cancel-result">{}{}</div>',
        zip(rest, details, strict=True),
    )
    modeladmin.message_user(request, format_html("{}{}{}", head, link, items), LEVELS[level])
    if claimed:
        finish_submission(claimed, [str(line) for line in lines], level)


def _offer(modeladmin, request: HttpRequest, result) -> str:
    """After a whole-task cancel skipped because the task is In progress (also when the
    preview showed it Pending from a stale copy): "Stop rounds N-M" if rounds are Pending."""
    if result.outcome != Outcome.SKIPPED or result.target.cancel_type != CancelType.TASK:
        return ""
    task = RecallTask.objects.filter(key_id=result.target.target_id).first()
    offer = stop_rounds(modeladmin, request, task) if task is not None else None
    if offer is None:
        return ""
    return format_html(
        ' {} <a class="laaffic-stop-rounds" href="{}">{}</a>',
        _("Its later rounds are still Pending:"),
        offer.url,
        offer.label,
    )


def _disclosure(text: str) -> str:
    if not text:
        return ""
    return format_html(
        ' <details class="laaffic-details"><summary>{}</summary>{}</details>', _("details"), text
    )


def message_nothing_sent(
    modeladmin, request: HttpRequest, not_sent: Sequence[str], head: str = "", record=None
) -> None:
    """Nothing was left to send: say why for each row, with no audit link (no record)."""
    head = head or (_("Nothing sent.") if not_sent else _("Nothing sent: nothing selected."))
    _say(modeladmin, request, record, [head, *not_sent], "warning")


def permission_message() -> str:
    return _(
        "You need the “%(permission)s” permission to cancel recall tasks or nodes; nothing "
        "was sent."
    ) % {"permission": _("Can cancel recall tasks")}


def refusal(modeladmin, request: HttpRequest) -> str:
    """Why a change-list POST must be refused before the admin runs its action (a message
    for the agent), or "": without the cancel permission (a forged or stale form) Django
    would only say "No action selected." (``ReadOnlyAdmin`` refuses a malformed selection.)"""
    if request.method != "POST":
        return ""
    if (
        _posted_action(request) in CANCEL_ACTIONS
        and modeladmin.has_view_permission(request)
        and not modeladmin.has_cancel_permission(request)
    ):
        return permission_message()
    return ""


def hidden_tasks(modeladmin, request: HttpRequest, tasks) -> list[RecallTask]:
    """The tasks among ``tasks`` that this user may not see (see ``visible_tasks``)."""
    tasks = list(tasks)
    if not tasks:
        return []
    visible = set(
        visible_tasks(modeladmin, request)
        .filter(key_id__in=[t.key_id for t in tasks])
        .values_list("key_id", flat=True)
    )
    return [t for t in tasks if t.key_id not in visible]


def hidden_parent_line(parent_task_id: int) -> str:
    return _(
        "Parent task %(id)s has recall tasks you cannot see; a cancel by parent task id "
        "would stop them too, so nothing was sent for it."
    ) % {"id": parent_task_id}


def parent_group(modeladmin, request: HttpRequest, lookup, hidden) -> dict:
    """The confirmation rows of one parent task id: every task of it the mirror and
    LAAFFIC know (the type-2 cancel stops each Pending one), those just found marked."""
    pid = lookup.parent_task_id
    blocks = blocking_notes(lookup.tasks)
    new = set(lookup.new_keys)
    if hidden:
        note = _("skipped: this parent task has recall tasks you cannot see")
        rows = [
            task_row(t, task_url(modeladmin, request, t), blocks, note)
            for t in lookup.tasks
            if t not in hidden
        ]
    else:
        rows = parent_rows(
            lookup.tasks,
            lambda t: task_url(modeladmin, request, t),
            blocks,
            new_keys=new,
        )
    group = {"title": _("Parent task %(id)s") % {"id": pid}, "rows": rows}
    notes = []
    if hidden:
        notes.append(hidden_parent_line(pid))
    if lookup.error:
        notes.append(
            _(
                "LAAFFIC could not be asked for the other recall tasks of this parent, so "
                "only the local copy is listed; the cancel asks again before sending and "
                "sends nothing if it cannot: %(error)s"
            )
            % {"error": lookup.error}
        )
    if new:
        notes.append(_("Tasks marked “new” were not in the local copy until now."))
    group["notes"] = notes
    return group


# --------------------------------------------------------------------------- helpers


def _posted_action(request: HttpRequest) -> str:
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


def _within_limit(modeladmin, request: HttpRequest, queryset: QuerySet, *ordering: str):
    """The selected tasks in this order, or None (with a message) past MAX_CANCEL_BATCH."""
    limit = app_settings.MAX_CANCEL_BATCH
    tasks = list(queryset.order_by(*ordering)[: limit + 1])
    if len(tasks) > limit:
        modeladmin.message_user(request, _too_many(queryset.count()), messages.ERROR)
        return None
    return tasks


def _too_many(count: int) -> str:
    return _(
        "You selected %(count)d targets; one cancel handles at most %(limit)d. Nothing was "
        "sent: narrow the selection (e.g. filter by status Pending) and try again."
    ) % {"count": count, "limit": app_settings.MAX_CANCEL_BATCH}


def not_in_selection(modeladmin, request: HttpRequest, acted: Sequence) -> list[str]:
    """Lines naming the rows posted in ``_selected_action`` that the action did not get
    (e.g. a task that dropped out of a filtered list since the page was shown)."""
    if request.POST.get("select_across") == "1":
        return []
    acted_ids = {str(pk) for pk in acted}
    posted = [v for v in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME) if v]
    missing = [v for v in dict.fromkeys(posted) if v not in acted_ids and is_pk(v)]
    if not missing:
        return []
    found = {str(obj.pk): obj for obj in modeladmin.get_queryset(request).filter(pk__in=missing)}
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
                % {"object": obj, "status": status_label(obj.status)}
            )
    return lines


def _message_report(
    modeladmin,
    request: HttpRequest,
    report: CancelReport,
    not_sent: Sequence[str] = (),
    claimed=None,
) -> None:
    """ONE message: "2 of 3 cancelled, 1 skipped (ref 603e6259).", a link to these
    attempts in the audit log, then a line per target, at the level that fits."""
    done = report.count(Outcome.SUCCEEDED)
    total = len(report.results) + len(not_sent)
    late = sum(1 for r in report.results if r.not_started)
    parts = [
        (_("%(count)d skipped"), report.count(Outcome.SKIPPED) - late + len(not_sent)),
        (_("%(count)d not started (time budget)"), late),
        (_("%(count)d refused"), report.count(Outcome.REFUSED)),
        (_("%(count)d failed"), report.count(Outcome.FAILED)),
        (_("%(count)d unknown"), report.count(Outcome.UNKNOWN)),
        (_("%(count)d in flight"), report.count(Outcome.PENDING)),
    ]
    counts = _("%(done)d of %(total)d cancelled") % {"done": done, "total": total}
    others = [text % {"count": count} for text, count in parts if count]
    if others:
        counts = ", ".join([counts, *others])
    head = _("%(headline)s %(summary)s (ref %(ref)s).") % {
        "headline": report.headline(len(not_sent)),
        "summary": counts,
        "ref": str(report.correlation_id)[:8],
    }
    # <div>, not a nested <li>: the admin styles every li of the message list as a
    # message of its own, with its own icon.
    lines = [r.describe() for r in report.results] + list(not_sent)
    details = [
        format_html("{}{}", _disclosure(r.technical()), _offer(modeladmin, request, r))
        for r in report.results
    ]
    link = ""
    if any(r.attempt_id is not None for r in report.results):
        link = _attempts_link(modeladmin, request, report.correlation_id)
    level = report.level
    if not_sent and level == "success":
        level = "warning"
    _say(modeladmin, request, claimed, [head, *lines], level, link, details)
