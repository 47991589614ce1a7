"""What a cancel confirmation page shows: one row per target and what will happen to it.

The rows are plain dicts for the templates (``cancel_confirmation.html`` and a host
project's override of it): ``label``, ``url``, ``status``, ``status_css``, ``will_send``,
``note``, ``warning``, and for tasks ``parent_task_id``, ``rounds``, ``created_at``.
Nothing here writes or calls LAAFFIC; the service decides again on confirm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.utils.translation import gettext as _

from ..audit import status_label
from ..cancel import CancelTarget, cancel_blockers
from ..models import RecallNode, RecallTask, Status
from .display import status_css


def rounds_label(task: RecallTask) -> str:
    """Rounds done/required, as the task list shows them ("?" where LAAFFIC said nothing)."""
    done = "?" if task.finish_num is None else task.finish_num
    required = "?" if task.recall_num is None else task.recall_num
    return f"{done}/{required}"


def preview_row(
    label: str,
    status: int | None,
    url: str = "",
    note: str = "",
    *,
    task: RecallTask | None = None,
    warning: str = "",
) -> dict[str, Any]:
    """One line of a confirmation page: what it is, its mirrored status, what will happen.

    ``note`` (a reason it is skipped) or ``warning`` (why the service would refuse it now)
    means nothing will be sent for it; a row that is not Pending is skipped anyway.
    """
    pending = status == Status.PENDING
    row: dict[str, Any] = {
        "label": label,
        "url": url,
        "status": status_label(status),
        "status_css": status_css(status),
        "will_send": pending and not note and not warning,
        "note": note,
        "warning": warning if pending and not note else "",
    }
    if task is not None:
        row.update(
            parent_task_id=task.parent_task_id,
            rounds=rounds_label(task),
            created_at=task.created_at_remote,
        )
    return row


def task_row(
    task: RecallTask, url: str, blocks: dict[int, str] | None = None, note: str = ""
) -> dict[str, Any]:
    """A task's row, with the warning of ``cancel_blocks`` if it has one."""
    warning = (blocks or {}).get(task.key_id, "")
    return preview_row(str(task), task.status, url, note, task=task, warning=warning)


def parent_rows(
    tasks: Iterable[RecallTask], url: Callable[[RecallTask], str], blocks: dict[int, str]
) -> list[dict[str, Any]]:
    """The rows of one parent task id: one cancel covers them all, so while any of its
    tasks has a cancel in flight or in doubt, nothing is sent for the others either."""
    tasks = list(tasks)
    blocked = any(t.key_id in blocks for t in tasks)
    rows = []
    for task in tasks:
        row = task_row(task, url(task), blocks)
        if blocked and row["will_send"]:
            row.update(will_send=False, warning=sibling_warning())
        rows.append(row)
    return rows


def sibling_warning() -> str:
    return _(
        "Another recall task of this parent task id has a cancel in flight or in doubt (see "
        "its row): one cancel covers them all."
    )


def cancel_blocks(tasks: Iterable[RecallTask]) -> dict[int, str]:
    """Task key -> why the cancel service would refuse a new cancel of it now, for the
    tasks that have such a reason: another cancel in flight, or one whose outcome is
    unknown (refresh the task first). Read-only, from the service's own rule."""
    return {key: blocker.describe() for key, blocker in cancel_blockers(tasks).items()}


def safe_target(factory: Callable[..., CancelTarget], *args: Any) -> CancelTarget | None:
    """The cancel target, or None when the mirrored id cannot be sent (zero, negative, too
    large): such a row is skipped with a message, never a 500."""
    try:
        return factory(*args)
    except (TypeError, ValueError):
        return None


def node_rows(node: RecallNode, blocks: dict[int, str]) -> list[dict[str, Any]]:
    """The chosen node and every later node of its task, with what will happen to each.

    Nothing is sent unless the chosen node is Pending, the task has no cancel in flight
    or in doubt, and the node key can be sent at all.
    """
    later = list(node.task.nodes.filter(position__gte=node.position).order_by("position"))
    warning = blocks.get(node.task.key_id, "")
    note = ""
    if safe_target(CancelTarget.for_node, node) is None:
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
        row = preview_row(label, each.status, "", row_note, warning=warning)
        row["chosen"] = chosen
        row["group_task_id"] = each.group_task_id
        rows.append(row)
    return rows


def tally(context: dict[str, Any]) -> tuple[int, int]:
    """(rows that will be cancelled, rows shown) over a confirmation context."""
    rows = [row for group in context.get("groups") or () for row in group["rows"]]
    rows += list(context.get("node_rows") or ())
    return sum(1 for row in rows if row.get("will_send")), len(rows)
