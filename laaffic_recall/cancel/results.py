"""The vocabulary of a cancel: what to cancel (``CancelTarget``) and what became of it.

Plain frozen dataclasses that the admin and any command can present; ``describe()`` says
each result in plain words for a support agent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from ..client.errors import vendor_code
from ..client.printable import printable
from ..client.wire import is_valid_id
from ..models import CancelAttempt, CancelType, Outcome, RecallNode, RecallTask

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
        if not is_valid_id(target):
            raise ValueError(f"cancel id must be a positive 64-bit integer, not {target!r}")
        if not self.label:
            object.__setattr__(self, "label", default_label(self.cancel_type, target))

    @classmethod
    def for_task(cls, task: RecallTask) -> CancelTarget:
        return cls(CancelType.TASK, task.key_id, _("task %(task)s") % {"task": task})

    @classmethod
    def for_parent(cls, parent_task_id: int, tasks: Iterable[RecallTask] = ()) -> CancelTarget:
        keys = tuple(sorted({t.key_id for t in tasks}))
        label = ""
        if keys:
            label = _("parent task %(id)s (recall tasks %(keys)s)") % {
                "id": parent_task_id,
                "keys": ", ".join(f"#{key}" for key in keys),
            }
        return cls(CancelType.PARENT, parent_task_id, label, task_keys=keys)

    @classmethod
    def for_node(cls, node: RecallNode) -> CancelTarget:
        return cls(CancelType.NODE, node.key_id, str(node))

    @property
    def key(self) -> tuple[int, int]:
        return (self.cancel_type, self.target_id)

    @property
    def request_body(self) -> dict[str, int]:
        """The body of the cancel request, as the audit log keeps it."""
        return {"type": int(self.cancel_type), "id": self.target_id}


def default_label(cancel_type: int, target_id: int) -> str:
    if cancel_type == CancelType.PARENT:
        return _("parent task %(id)s") % {"id": target_id}
    if cancel_type == CancelType.NODE:
        return _("node #%(id)s") % {"id": target_id}
    return _("task #%(id)s") % {"id": target_id}


@dataclass(frozen=True)
class Scope:
    """What a target concerns, from the mirror (or a parent lookup); no state read yet.

    ``task_key_id`` is the task the attempt is recorded on; ``task_keys`` every task the
    cancel may stop (several for a parent with several recall tasks). ``skip`` is set,
    with the reason, when there is nothing to send at all.
    """

    task_key_id: int | None = None
    task_keys: tuple[int, ...] = ()
    task: RecallTask | None = None
    node: RecallNode | None = None
    skip: str = ""


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

    @property
    def submission(self) -> str:
        """The short submission reference the admin shows (first 8 characters)."""
        return str(self.correlation_id)[:8]

    def record_detail(self) -> str:
        """What the refused attempt's audit row says (``error_detail``)."""
        values = {"id": self.attempt_id, "ref": self.submission, "task": self.task_key_id}
        if self.in_doubt:
            return (
                _(
                    "Not sent: the outcome of an earlier cancel of this task is unknown "
                    '(attempt #%(id)s, submission %(ref)s). Use "Refresh from LAAFFIC" on '
                    "task #%(task)s first: the refresh settles it."
                )
                % values
            )
        return (
            _(
                "Not sent: another cancel of this task is in flight (attempt #%(id)s, "
                "submission %(ref)s)."
            )
            % values
        )

    def describe(self) -> str:
        """For an agent: on the confirmation page and in the summary of a refused attempt."""
        values = {
            "id": self.attempt_id,
            "user": self.username or _("someone"),
            # django-stubs lacks timezone.template_localtime (the templates' conversion).
            "when": timezone.template_localtime(self.started_at).strftime("%Y-%m-%d %H:%M:%S"),  # type: ignore[attr-defined]
            "task": self.task_key_id,
        }
        if self.in_doubt:
            return (
                _(
                    "The outcome of an earlier cancel of this task (attempt #%(id)s by "
                    '%(user)s at %(when)s) is unknown: use "Refresh from LAAFFIC" on task '
                    "#%(task)s first; the refresh settles it."
                )
                % values
            )
        return (
            _("A cancel of this task by %(user)s is in flight since %(when)s (attempt #%(id)s).")
            % values
        )


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

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.SUCCEEDED and self.recorded

    @property
    def vendor_next_step(self) -> str:
        """What an agent can do after LAAFFIC's refusal code (an untranslated message id)."""
        return vendor_code(self.response_code).next_step if self.response_code is not None else ""

    @property
    def problem(self) -> bool:
        bad = (Outcome.REFUSED, Outcome.FAILED, Outcome.UNKNOWN, Outcome.PENDING)
        return self.outcome in bad or not self.recorded

    def describe(self) -> str:
        label = self.target.label
        if self.outcome == Outcome.SUCCEEDED:
            text = self._succeeded(label)
        elif self.not_started:
            text = _(
                "%(label)s: not sent: the action's time budget was spent before it started; "
                "select it and try again."
            ) % {"label": label}
        elif self.outcome == Outcome.SKIPPED:
            text = _("%(label)s: skipped, nothing sent: %(detail)s") % {
                "label": label,
                "detail": self.detail,
            }
        elif self.in_doubt or self.hidden:
            text = _("%(label)s: not sent. %(detail)s") % {"label": label, "detail": self.detail}
        elif self.in_flight:
            text = _(
                "%(label)s: not sent: another cancel of this task is already in progress. "
                "%(detail)s"
            ) % {"label": label, "detail": self.detail}
        elif self.outcome == Outcome.REFUSED:
            text = _("%(label)s: refused by LAAFFIC with code %(code)s (%(name)s)") % {
                "label": label,
                "code": self.response_code,
                "name": self.code_name,
            }
            if self.response_message:
                text += f": {self.response_message}"
            text += ". " + capfirst(self.next_step()) + "."
        elif self.outcome == Outcome.FAILED:
            text = _("%(label)s: failed, the cancel did not reach LAAFFIC.") % {"label": label}
            text += " " + capfirst(self.next_step()) + "."
        else:
            text = _(
                "%(label)s: outcome unknown, the request may have reached LAAFFIC. It was not "
                'resent; press "Refresh from LAAFFIC" on the task\'s page in a minute to '
                "settle it (the next sync settles it too). Check the task before trying again."
            ) % {"label": label}
        if not self.recorded:
            text += " " + _(
                "The audit record could not be completed; it stays in flight until the next "
                "sync of the task settles it."
            )
        return printable(text)  # vendor text in it: shown with visible escapes

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
        if self.detail and self.outcome != Outcome.REFUSED:
            parts.append(self.detail)
        if self.hint:
            parts.append(self.hint)
        return printable(" ".join(parts))  # vendor text in it: shown with visible escapes

    def next_step(self) -> str:
        """Why nothing stopped and what the agent can do, in their words."""
        if self.hidden:
            return _("it concerns recall tasks you cannot see; ask someone who can see them")
        if self.outcome == Outcome.REFUSED and self.blocked_by is not None:
            if self.in_doubt:
                return _("an earlier cancel of this task is unsure: refresh the task first")
            return _("another cancel of this task is in progress: wait for its result")
        if self.outcome == Outcome.REFUSED:
            return _(vendor_code(self.response_code).next_step)
        if self.outcome == Outcome.FAILED:
            if self.hint or self.configuration:  # this site's settings, keys or clock
                return _("this site's connection to LAAFFIC needs fixing; tell your administrator")
            return _("the cancel did not reach LAAFFIC; you may try again")
        if self.not_started:
            return _("the action ran out of time before sending it; select it and try again")
        if self.outcome == Outcome.SKIPPED:
            return _("the task is no longer Pending at LAAFFIC, so there was nothing to cancel")
        return ""

    def _succeeded(self, label: str) -> str:
        if self.covered_nodes:
            text = _("%(label)s: %(rounds)s.") % {
                "label": label,
                "rounds": rounds_cancelled(self.covered_nodes),
            }
        else:
            text = _("%(label)s: cancelled.") % {"label": label}
        if self.confirmed_by_reread and self.response_code not in (None, 0):
            text += " " + _(
                "(LAAFFIC answered code %(code)s, but a re-read right after shows it Cancelled.)"
            ) % {"code": self.response_code}
        elif self.confirmed_by_reread:
            text += " " + _("(The answer was unclear; a re-read shows it Cancelled.)")
        if self.mirror_confirmed is False:
            text += " " + _(
                "The task could not be re-read, so it is shown Cancelled (unconfirmed) "
                "until the next sync."
            )
        return text


def rounds_cancelled(covered: Sequence[tuple[int, int]]) -> str:
    """E.g. "rounds 2-4 cancelled (nodes #314049-#314051)" or "round 3 cancelled (node #7)"."""
    rounds = [r for r, _key in covered]
    keys = [k for _round, k in covered]
    if len(covered) == 1:
        return _("round %(round)s cancelled (node #%(key)s)") % {"round": rounds[0], "key": keys[0]}
    return _("rounds %(rounds)s cancelled (nodes %(keys)s)") % {
        "rounds": _span(rounds, ""),
        "keys": _span(keys, "#"),
    }


def _span(values: list[int], prefix: str) -> str:
    """``2-4`` for consecutive values, else ``2, 4, 5``."""
    if values == list(range(values[0], values[0] + len(values))):
        return f"{prefix}{values[0]}-{prefix}{values[-1]}"
    return ", ".join(f"{prefix}{v}" for v in values)


@dataclass(frozen=True)
class CancelReport:
    """The results of one confirmed submission, in the order the targets were given."""

    correlation_id: uuid.UUID
    results: tuple[AttemptResult, ...]

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    def headline(self, not_sent: int = 0) -> str:
        """One plain sentence an agent can act on: calls stopped, nothing stopped (why,
        what to do), or not sure yet (what to do). ``not_sent``: targets left out before
        the service ran (invalid ids, rows gone)."""
        total = len(self.results) + not_sent
        done = sum(1 for r in self.results if r.outcome == Outcome.SUCCEEDED)
        unsure = [r for r in self.results if r.outcome in (Outcome.UNKNOWN, Outcome.PENDING)]
        if unsure:
            return _(
                "Not sure yet whether calls stopped: press “Refresh from LAAFFIC” on the "
                "task's page in a minute; it settles this."
            )
        if total and done == total:
            return _("Calls stopped.")
        if done:
            return _(
                "Calls stopped for %(done)d of %(total)d; nothing was stopped for the others: "
                "see each line."
            ) % {"done": done, "total": total}
        steps = list(dict.fromkeys(r.next_step() for r in self.results if r.next_step()))
        if len(steps) == 1 and not not_sent:
            step = steps[0].removesuffix(_("; nothing was stopped"))  # said already
            return _("Nothing was stopped: %(step)s.") % {"step": step}
        return _("Nothing was stopped: see each line for why and what to do.")

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


@dataclass(frozen=True)
class ParentLookup:
    """The recall tasks of a parent task id: the mirror's and those found at LAAFFIC (now
    mirrored). With ``error`` set, LAAFFIC could not be asked; ``tasks`` are the mirror's."""

    parent_task_id: int
    tasks: tuple[RecallTask, ...] = ()
    error: str = ""
    # Tasks LAAFFIC listed that the mirror did not hold before this lookup.
    new_keys: tuple[int, ...] = ()
