"""The cancel confirmation page: one row per target and what will happen to it on confirm.

In the manner of Django's ``delete_selected``: the page lists exactly what will be
cancelled and posts back with ``post=yes``. Its template is found by name through the
usual chain, ``admin/<app>/<model>/cancel_confirmation.html``, then
``admin/<app>/cancel_confirmation.html``, then ``admin/cancel_confirmation.html``, so a
host project overrides it by dropping a file in place. Nothing here writes or calls
LAAFFIC; the cancel service decides again on confirm.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.contrib.admin import helpers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from ..cancel.audit import blocking_attempts
from ..client.wire import is_valid_id
from ..forms import CancelReasonForm
from ..models import RecallNode, RecallTask, Status, status_label
from .display import status_css


@dataclass(frozen=True)
class Row:
    """One line of a confirmation page: what it is, its mirrored status, what will happen.

    ``note`` (why it is skipped) or ``warning`` (why the service would refuse it now)
    means nothing will be sent for it; a row that is not Pending is skipped anyway.
    """

    label: str
    status: str
    status_css: str
    will_send: bool
    url: str = ""
    note: str = ""
    warning: str = ""
    parent_task_id: int | None = None
    rounds: str = ""
    created_at: datetime | None = None
    group_task_id: int | None = None
    chosen: bool = False
    new: bool = False
    # "Stop rounds N-M": a type-3 cancel from the first Pending node of an In-progress task.
    offer_label: str = ""
    offer_url: str = ""


def row(
    label: str, status: int | None, url: str = "", note: str = "", warning: str = "", **extra
) -> Row:
    pending = status == Status.PENDING
    return Row(
        label=label,
        status=status_label(status),
        status_css=status_css(status),
        will_send=pending and not note and not warning,
        url=url,
        note=note,
        warning=warning if pending and not note else "",
        **extra,
    )


def task_row(task: RecallTask, url: str, blocks: dict[int, str], note: str = "") -> Row:
    """A task's row, with the warning of ``blocking_notes`` if it has one."""
    return row(
        str(task),
        task.status,
        url,
        note,
        blocks.get(task.key_id, ""),
        parent_task_id=task.parent_task_id,
        rounds=task.rounds_label,
        created_at=task.created_at_remote,
    )


@dataclass(frozen=True)
class StopRounds:
    """The offer where a whole-task cancel is not possible: the task is In progress and
    later rounds are still Pending; a type-3 cancel from the first Pending node stops them."""

    label: str
    url: str
    node: RecallNode


def stop_rounds(modeladmin, request: HttpRequest, task: RecallTask) -> StopRounds | None:
    """ "Stop rounds N-M" for an In-progress task with Pending rounds (None otherwise); its
    URL is the node's "Cancel from here" confirmation, the same preview."""
    if task.status != Status.IN_PROGRESS or not is_valid_id(task.key_id):
        return None
    pending = list(task.nodes.filter(status=Status.PENDING).order_by("position"))
    if not pending:
        return None
    first, last = pending[0].position + 1, pending[-1].position + 1
    if first == last:
        label = _("Stop round %(round)d") % {"round": first}
    else:
        label = _("Stop rounds %(first)d-%(last)d") % {"first": first, "last": last}
    url = reverse(
        f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_cancel_from_node",
        args=[task.pk, pending[0].pk],
    )
    return StopRounds(label, with_filters(modeladmin, request, url), pending[0])


def with_offer(modeladmin, request: HttpRequest, row: Row, task: RecallTask) -> Row:
    """The row, with "Stop rounds N-M" when the task is In progress with Pending rounds."""
    offer = stop_rounds(modeladmin, request, task)
    if offer is None:
        return row
    note = _(
        "skipped: In progress, so the whole task cannot be cancelled; its later rounds can "
        "still be stopped:"
    )
    return replace(row, note=note, offer_label=offer.label, offer_url=offer.url)


def parent_rows(
    tasks: Iterable[RecallTask],
    url: Callable[[RecallTask], str],
    blocks: dict[int, str],
    new_keys: Collection[int] = (),
) -> list[Row]:
    """The rows of one parent task id: one cancel covers them all, so while any of its
    tasks has a cancel in flight or in doubt, nothing is sent for the others either.
    Tasks in ``new_keys`` were not mirrored before the page looked them up."""
    tasks = list(tasks)
    rows = [
        replace(task_row(task, url(task), blocks), new=task.key_id in new_keys) for task in tasks
    ]
    if not any(task.key_id in blocks for task in tasks):
        return rows
    warning = _(
        "Another recall task of this parent task id has a cancel in flight or in doubt (see "
        "its row): one cancel covers them all."
    )
    return [replace(r, will_send=False, warning=warning) if r.will_send else r for r in rows]


def node_rows(node: RecallNode, blocks: dict[int, str]) -> list[Row]:
    """The chosen node and every later node of its task, with what will happen to each.

    Nothing is sent unless the chosen node is Pending, the task has no cancel in flight
    or in doubt, and the node key can be sent at all.
    """
    later = node.task.nodes.filter(position__gte=node.position).order_by("position")
    warning = blocks.get(node.task.key_id, "")
    note = ""
    if not is_valid_id(node.key_id):
        note = _("skipped: invalid node key %(key)s") % {"key": node.key_id}
    elif not node.is_pending:
        note = _("skipped: the chosen node is %(status)s") % {"status": status_label(node.status)}
    rows = []
    for each in later:
        chosen = each.pk == node.pk
        label = _("round %(round)d: node #%(key)s") % {
            "round": each.position + 1,
            "key": each.key_id,
        }
        row_note = ""
        if note and chosen:
            row_note = note
        elif note and each.is_pending:
            row_note = _("skipped: nothing is sent for the chosen node")
        rows.append(
            row(
                label,
                each.status,
                note=row_note,
                warning=warning,
                group_task_id=each.group_task_id,
                chosen=chosen,
            )
        )
    return rows


def blocking_notes(tasks: Iterable[RecallTask]) -> dict[int, str]:
    """Task key -> why the cancel service would refuse a new cancel of it now, for the
    tasks that have such a reason: another cancel in flight, or one whose outcome is
    unknown (refresh the task first). Read-only, from the service's own rule."""
    return {key: blocking.describe() for key, blocking in blocking_attempts(tasks).items()}


def template_names(modeladmin, name: str) -> list[str]:
    """``admin/<app>/<model>/<name>``, then ``admin/<app>/<name>``, then ``admin/<name>``."""
    opts = modeladmin.opts
    return [
        f"admin/{opts.app_label}/{opts.model_name}/{name}",
        f"admin/{opts.app_label}/{name}",
        f"admin/{name}",
    ]


def with_filters(modeladmin, request: HttpRequest, url: str) -> str:
    """``url`` with the change list's filters of this request kept (``_changelist_filters``
    on a change or cancel page, the list's own query on the change list)."""
    context = {
        "opts": modeladmin.opts,
        "preserved_filters": modeladmin.get_preserved_filters(request),
    }
    return add_preserved_filters(context, url)


def render_confirmation(
    modeladmin, request: HttpRequest, context: dict[str, Any]
) -> TemplateResponse:
    """The confirmation page. ``context``: title, intro, the rows (``groups`` of title and
    rows, or ``node_rows`` and ``task``), form, back_url, and for an action its name and
    the ``selected`` primary keys, or ``hidden_fields`` to post back."""
    request.current_app = modeladmin.admin_site.name
    rows = [r for group in context.get("groups", ()) for r in group["rows"]]
    rows += context.get("node_rows", [])
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.opts,
        "media": modeladmin.media,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "preserved_filters": modeladmin.get_preserved_filters(request),
        "will_cancel_count": sum(1 for r in rows if r.will_send),
        # One-time: a second POST of this page's form starts nothing (see run_cancel).
        "submission_token": uuid.uuid4(),
        "row_count": len(rows),
        **context,
    }
    return TemplateResponse(
        request, template_names(modeladmin, "cancel_confirmation.html"), context
    )


def task_url(modeladmin, request: HttpRequest, task: RecallTask) -> str:
    """The task's page, keeping the change list's filters of this request."""
    url = reverse(f"{modeladmin.admin_site.name}:laaffic_recall_recalltask_change", args=[task.pk])
    return with_filters(modeladmin, request, url)


def invalid_key_note(task: RecallTask) -> str:
    """A confirmation row's note for a task whose key cannot be sent ("" when it can)."""
    if is_valid_id(task.key_id):
        return ""
    return _("skipped: invalid recall key %(key)s") % {"key": task.key_id}


def invalid_key_line(task: RecallTask) -> str:
    return _("%(task)s has an invalid recall key (%(key)s); nothing sent.") % {
        "task": task,
        "key": task.key_id,
    }


def node_context(node: RecallNode, form: CancelReasonForm, back_url: str, obj=None) -> dict:
    """The confirmation of a cancel from ``node`` onward: it and every later node."""
    intro = _(
        "Are you sure you want to cancel %(node)s and every later node of task %(task)s? "
        "LAAFFIC will not run these recall rounds."
    ) % {"node": node, "task": node.task}
    return {
        "title": _("Cancel from a node onward"),
        "object": obj,
        "intro": intro,
        "task": node.task,
        "node_rows": node_rows(node, blocking_notes([node.task])),
        "form": form,
        "back_url": back_url,
    }
