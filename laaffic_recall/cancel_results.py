"""The vocabulary of a cancel: what to cancel (``CancelTarget``) and what became of it.

Plain frozen dataclasses that the admin and any command can present; ``describe()`` says
each result in plain words for a support agent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _

from .models import CancelType, Outcome, RecallNode, RecallTask

MAX_ID = 2**63 - 1

# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class CancelTarget:
    """One cancel to send: ``{"type": cancel_type, "id": target_id}``.

    ``task_keys`` (type 2 only) are the mirrored tasks known under that parent id; empty
    for a parent id typed by hand, which is then looked up at LAAFFIC first.
    """

    cancel_type: int
    target_id: int
    label: str = ""
    task_keys: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.cancel_type not in CancelType.values:
            raise ValueError(f"cancel type must be 1, 2 or 3, not {self.cancel_type!r}")
        target = self.target_id
        if isinstance(target, bool) or not isinstance(target, int) or not 0 < target <= MAX_ID:
            raise ValueError(f"cancel id must be a positive 64-bit integer, not {target!r}")
        if not self.label:
            object.__setattr__(self, "label", default_label(self.cancel_type, target))

    @classmethod
    def for_task(cls, task: RecallTask) -> CancelTarget:
        return cls(CancelType.TASK, task.key_id, _("task %(task)s") % {"task": task})

    @classmethod
    def for_parent(cls, parent_task_id: int, tasks: Iterable[RecallTask] = ()) -> CancelTarget:
        keys = tuple(sorted({t.key_id for t in tasks}))
        return cls(CancelType.PARENT, parent_task_id, task_keys=keys)

    @classmethod
    def for_node(cls, node: RecallNode) -> CancelTarget:
        return cls(CancelType.NODE, node.key_id, str(node))

    @property
    def key(self) -> tuple[int, int]:
        return (self.cancel_type, self.target_id)


def default_label(cancel_type: int, target_id: int) -> str:
    if cancel_type == CancelType.PARENT:
        return _("parent task %(id)s") % {"id": target_id}
    if cancel_type == CancelType.NODE:
        return _("node #%(id)s") % {"id": target_id}
    return _("task #%(id)s") % {"id": target_id}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class AttemptResult:
    """What became of one target; ``describe()`` says it in plain words for an agent."""

    target: CancelTarget
    outcome: str
    attempt_id: int | None = None
    http_status: int | None = None
    response_code: int | None = None
    response_message: str = ""
    code_name: str = ""
    hint: str = ""
    detail: str = ""
    in_flight: bool = False
    confirmed_by_reread: bool = False
    mirror_confirmed: bool | None = None
    # False when the final write of the audit row failed: the pending row stays and the
    # next sync of the task settles it.
    recorded: bool = True

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.SUCCEEDED and self.recorded

    @property
    def problem(self) -> bool:
        bad = (Outcome.REFUSED, Outcome.FAILED, Outcome.UNKNOWN, Outcome.PENDING)
        return self.outcome in bad or not self.recorded

    def describe(self) -> str:
        label = self.target.label
        if self.outcome == Outcome.SUCCEEDED:
            text = _("%(label)s: cancelled.") % {"label": label}
            if self.confirmed_by_reread:
                text += " " + _("(The answer was unclear; a re-read shows it Cancelled.)")
            if self.mirror_confirmed is False:
                text += " " + _(
                    "The task could not be re-read, so it is shown Cancelled (unconfirmed) "
                    "until the next sync."
                )
        elif self.outcome == Outcome.SKIPPED:
            text = _("%(label)s: skipped, nothing sent: %(detail)s") % {
                "label": label,
                "detail": self.detail,
            }
        elif self.in_flight:
            text = _(
                "%(label)s: not sent: another cancel of it is already in progress. %(detail)s"
            ) % {"label": label, "detail": self.detail}
        elif self.outcome == Outcome.REFUSED:
            text = _("%(label)s: refused by LAAFFIC with code %(code)s (%(name)s)") % {
                "label": label,
                "code": self.response_code,
                "name": self.code_name,
            }
            if self.response_message:
                text += f": {self.response_message}"
            text += "."
            if self.hint:
                text += f" {self.hint}"
        elif self.outcome == Outcome.FAILED:
            text = _("%(label)s: failed, the cancel did not reach LAAFFIC: %(detail)s") % {
                "label": label,
                "detail": self.detail,
            }
            if self.hint:
                text += f" {self.hint}"
            text += " " + _("You may try again.")
        else:
            text = _(
                "%(label)s: outcome unknown, the request may have reached LAAFFIC (%(detail)s). "
                "It was not resent; the next sync settles it. Check the task before trying again."
            ) % {"label": label, "detail": self.detail}
        if not self.recorded:
            text += " " + _(
                "The audit record could not be completed; it stays in flight until the next "
                "sync of the task settles it."
            )
        return text


@dataclass(frozen=True)
class CancelReport:
    """The results of one confirmed submission, in the order the targets were given."""

    correlation_id: uuid.UUID
    results: tuple[AttemptResult, ...]

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def level(self) -> str:
        """``success``, ``warning`` or ``error``: how the admin should show the summary."""
        if not self.results:
            return "warning"
        if any(r.problem for r in self.results):
            return "warning" if any(r.ok for r in self.results) else "error"
        if all(r.ok for r in self.results):
            return "success"
        return "warning"


class BatchTooLarge(ValueError):
    """More targets than ``MAX_CANCEL_BATCH`` in one call: nothing was done."""

    def __init__(self, count: int, limit: int):
        self.count = count
        self.limit = limit
        super().__init__(f"{count} cancel targets in one call; the limit is {limit}")


@dataclass(frozen=True)
class ParentLookup:
    """The recall tasks found at LAAFFIC (and mirrored) for a parent task id typed by hand."""

    parent_task_id: int
    tasks: tuple[RecallTask, ...] = ()
    error: str = ""
