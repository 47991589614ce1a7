"""The vocabulary of a cancel: what to cancel (``CancelTarget``) and what became of it.

Plain frozen dataclasses that the admin and any command can present; they carry values,
and whoever presents them words them (the admin in its templates).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.translation import gettext as _

from ..client.errors import vendor_code
from ..client.printable import printable
from ..client.wire import is_valid_id
from ..models import CancelAttempt, CancelType, NotSent, Outcome, RecallNode, RecallTask

# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class CancelTarget:
    """One cancel to send: ``{"type": cancel_type, "id": target_id}``.

    ``task_keys`` (type 2 only) are the mirrored tasks known under that parent id; empty
    for a parent id typed by hand, which is then looked up at LAAFFIC first.

    ``task`` (type 1) is the mirrored task as the caller just read it, if it did.
    """

    cancel_type: int
    target_id: int
    task_keys: tuple[int, ...] = ()
    task: RecallTask | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.cancel_type not in CancelType.values:
            raise ValueError(f"cancel type must be 1, 2 or 3, not {self.cancel_type!r}")
        target = self.target_id
        if not is_valid_id(target):
            raise ValueError(f"cancel id must be a positive 64-bit integer, not {target!r}")

    @classmethod
    def for_task(cls, task: RecallTask) -> CancelTarget:
        return cls(CancelType.TASK, task.key_id, task=task)

    @classmethod
    def for_parent(cls, parent_task_id: int, tasks: Iterable[RecallTask] = ()) -> CancelTarget:
        keys = tuple(sorted({t.key_id for t in tasks}))
        return cls(CancelType.PARENT, parent_task_id, task_keys=keys)

    @classmethod
    def for_node(cls, node: RecallNode) -> CancelTarget:
        return cls(CancelType.NODE, node.key_id)

    @property
    def key(self) -> tuple[int, int]:
        return (self.cancel_type, self.target_id)

    @property
    def request_body(self) -> dict[str, int]:
        """The body of the cancel request, as the audit log keeps it."""
        return {"type": int(self.cancel_type), "id": self.target_id}


@dataclass(frozen=True)
class Scope:
    """What a target concerns, from the mirror (or a parent lookup); no state read yet.

    ``task_key_id`` is the task the attempt is recorded on; ``task_keys`` every task the
    cancel may stop (several for a parent with several recall tasks). ``skip`` is set,
    to why (a ``NotSent`` value), when there is nothing to send at all.
    """

    task_key_id: int | None = None
    task_keys: tuple[int, ...] = ()
    task: RecallTask | None = None
    node: RecallNode | None = None
    skip: str = ""
    # A parent's tasks as mirrored when it was resolved.
    tasks: tuple[RecallTask, ...] = ()


NO_SCOPE = Scope()  # a target not resolved to any task


# --------------------------------------------------------------------------- the guard


@dataclass(frozen=True)
class BlockingAttempt:
    """An open attempt that keeps a task from being cancelled now: one in flight, or one
    whose outcome is unknown (in doubt) until a refresh of its task settles it."""

    attempt_id: int
    correlation_id: uuid.UUID
    task_key_id: int | None
    username: str
    started_at: datetime
    in_doubt: bool

    @classmethod
    def of(cls, attempt: CancelAttempt) -> BlockingAttempt:
        return cls(
            attempt_id=attempt.pk,
            correlation_id=attempt.correlation_id,
            task_key_id=attempt.task_key_id,
            username=attempt.username,
            started_at=attempt.started_at,
            in_doubt=attempt.effective_outcome != Outcome.PENDING,
        )


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class AttemptResult:
    """What became of one target, as the audit row and the re-read after it say."""

    target: CancelTarget
    outcome: str
    attempt_id: int | None = None
    http_status: int | None = None
    response_code: int | None = None
    response_message: str = ""
    code_name: str = ""
    hint: str = ""
    detail: str = ""
    # Refused here, nothing sent: another cancel of the task is in flight, or in doubt.
    in_flight: bool = False
    in_doubt: bool = False
    blocked_by: BlockingAttempt | None = None
    # A node cancel: (round, node key) of the chosen node and the later Pending nodes it
    # stopped, as LAAFFIC listed them just before the call.
    covered_nodes: tuple[tuple[int, int], ...] = ()
    # The tasks the request covered, as the fresh read just before it found them Pending.
    task_keys: tuple[int, ...] = ()
    confirmed_by_reread: bool = False
    mirror_confirmed: bool | None = None
    # False when the final write of the audit row failed: the pending row stays and the
    # next sync of the task settles it.
    recorded: bool = True
    # Failed before anything was sent because this site's LAAFFIC settings are incomplete.
    configuration: bool = False
    # Not started: the action's ACTION_TIME_BUDGET was spent first; nothing was sent.
    not_started: bool = False
    # Refused here, nothing sent: it would stop a task the submitter may not see.
    hidden: bool = False
    # Why this app sent nothing (``NotSent``), as its audit row keeps it.
    not_sent: str = ""
    # The tasks as the cancel's reads left them in the mirror.
    seen: tuple[RecallTask, ...] = field(default=(), compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.SUCCEEDED and self.recorded

    @property
    def vendor_next_step(self) -> str:
        """What an agent can do after LAAFFIC's refusal code (an untranslated message id)."""
        return vendor_code(self.response_code).next_step if self.response_code is not None else ""

    def technical(self) -> str:
        """What an administrator needs and an agent can skip (HTTP status, LAAFFIC's hint,
        a plain-text excerpt of an odd answer), shown behind a "details" disclosure."""
        if self.outcome in (Outcome.SUCCEEDED, Outcome.SKIPPED) or self.in_flight:
            return ""
        if self.in_doubt or self.hidden:
            return ""
        parts = []
        if self.http_status is not None and self.outcome != Outcome.REFUSED:
            parts.append(_("HTTP %(status)s.") % {"status": self.http_status})
        if self.not_sent == NotSent.UNREADABLE:
            # Worded as the audit log words the row (message.html): one sentence for both.
            text = _(
                "Not sent by this app: it could not be re-read from LAAFFIC first. Error: %(error)s"
            )
            parts.append(text % {"error": self.detail})
        elif self.detail and self.outcome != Outcome.REFUSED:
            parts.append(self.detail)
        if self.hint:
            parts.append(self.hint)
        return printable(" ".join(parts))  # vendor text in it: shown with visible escapes


@dataclass(frozen=True)
class CancelReport:
    """The results of one confirmed submission, in the order the targets were given."""

    correlation_id: uuid.UUID
    results: tuple[AttemptResult, ...]

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)


@dataclass(frozen=True)
class ParentLookup:
    """The recall tasks of a parent task id: the mirror's and those found at LAAFFIC (now
    mirrored). With ``error`` set, LAAFFIC could not be asked; ``tasks`` are the mirror's."""

    parent_task_id: int
    tasks: tuple[RecallTask, ...] = ()
    error: str = ""
    # Tasks LAAFFIC listed that the mirror did not hold before this lookup.
    new_keys: tuple[int, ...] = ()
