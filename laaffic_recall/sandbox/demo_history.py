"""Earlier cancel attempts for a fresh demo, so its audit log and charts are not empty.

Made for real: the app's own cancel service cancels a few mirrored tasks against the
sandbox, as the demo's support agent, with sandbox faults switched on for single targets
(and off again) where an outcome needs one. Each outcome an agent meets shows up:
succeeded (a whole task, the rounds from round 2 on, a parent task id, and one whose answer
was lost but a re-read shows it cancelled), refused (by LAAFFIC, and locally while another
cancel of the task is in doubt), failed (the task could not be read first, so nothing was
sent), skipped (the task was no longer Pending) and unknown (settled as failed by the next
sync, which finds the task still Pending).

The attempts start when the demo runs: the service stamps each with the time it starts, and
the audit log is append-only and chained, so they are not spread over earlier days.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import Count

from ..cancel.audit import Submission
from ..cancel.results import AttemptResult, CancelTarget
from ..cancel.service import cancel
from ..models import CancelAttempt, Outcome, RecallNode, RecallTask, Status
from .models import FaultKind, FaultWhen, SandboxFault

if TYPE_CHECKING:
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    class _Rounds(TypedDict):
        rounds: int


REASON_PREFIX = "Demo: "


@dataclass(frozen=True)
class DemoHistory:
    """What the demo's earlier cancels became: one (scenario, outcome) per attempt."""

    attempts: tuple[tuple[str, str], ...] = ()

    def counts(self) -> Counter:
        return Counter(outcome for _scenario, outcome in self.attempts)


@dataclass(frozen=True)
class _Fault:
    kind: str
    call: str
    when: str = FaultWhen.BEFORE
    code: int | None = None
    message: str = ""


class _Pool:
    """Pending mirrored tasks not used yet, oldest key first, so each scenario has its own."""

    def __init__(self) -> None:
        self.pending: list[WithAnnotations[RecallTask, _Rounds]] = list(
            RecallTask.objects.filter(status=Status.PENDING, unconfirmed=False)
            .annotate(rounds=Count("nodes"))
            .order_by("key_id")
        )

    def take(
        self, condition: Callable[[WithAnnotations[RecallTask, _Rounds]], bool] = lambda task: True
    ) -> RecallTask | None:
        for task in self.pending:
            if condition(task):
                self.pending.remove(task)
                return task
        return None

    def take_parent(self) -> tuple[int, list[RecallTask]] | None:
        """A parent task id whose recall tasks are all still unused, with those tasks."""
        keys = {task.key_id for task in self.pending}
        for task in self.pending:
            if task.parent_task_id is None:
                continue
            tasks = list(RecallTask.objects.filter(parent_task_id=task.parent_task_id))
            if all(each.key_id in keys for each in tasks):
                self.pending = [t for t in self.pending if t not in tasks]
                return task.parent_task_id, tasks
        return None


def make_cancel_history(username: str = "agent") -> DemoHistory:
    """Cancel a few mirrored tasks as ``username``, once: nothing when the audit log already
    holds an attempt. Call it while ``LAAFFIC_RECALL`` points at the sandbox, outside a
    transaction (the cancel service commits each audit row before its request)."""
    if CancelAttempt.objects.exists():
        return DemoHistory()
    # The sandbox's planned 502s (logged as server errors) and the client's warnings about
    # them are not news here; the app's own errors still show.
    with _quiet({"django.request": logging.CRITICAL, "laaffic_recall": logging.ERROR}):
        return DemoHistory(tuple(_make(username)))


@contextmanager
def _quiet(levels: dict[str, int]) -> Iterator[None]:
    """Each named logger at (at least) the given level for the duration."""
    loggers = [logging.getLogger(name) for name in levels]
    before = [each.level for each in loggers]
    for each, level in zip(loggers, levels.values(), strict=True):
        each.setLevel(max(level, each.level))
    try:
        yield
    finally:
        for each, level in zip(loggers, before, strict=True):
            each.setLevel(level)


def _make(username: str) -> list[tuple[str, str]]:
    user = get_user_model()._default_manager.filter(username=username).first()
    pool = _Pool()
    made: list[tuple[str, str]] = []

    def attempt(
        scenario: str, reason: str, target: CancelTarget | None, fault: _Fault | None = None
    ) -> AttemptResult | None:
        if target is None:
            return None
        submission = Submission(
            user=user, username=username, reason=REASON_PREFIX + reason, client_ip=None
        )
        row = _switch_on(fault, target.target_id) if fault is not None else None
        try:
            [result] = cancel([target], submission).results
        finally:
            if row is not None:
                SandboxFault.objects.filter(pk=row.pk).update(enabled=False)
        made.append((scenario, result.outcome))
        return result

    parent = pool.take_parent()
    attempt(
        "parent",
        "the customer asked us to stop every recall of this campaign.",
        CancelTarget.for_parent(parent[0], parent[1]) if parent else None,
    )
    attempt(
        "task",
        "the customer paid; no more reminder calls.",
        _task_target(pool.take()),
    )
    node = _second_round(pool.take(lambda task: task.rounds >= 2))
    attempt(
        "node",
        "one round is enough for this list; stop the later rounds.",
        CancelTarget.for_node(node) if node is not None else None,
    )
    attempt(
        "answer lost",
        "duplicate campaign (LAAFFIC's answer was lost on the way back).",
        _task_target(pool.take()),
        _Fault(FaultKind.HTML_502, "cancel", when=FaultWhen.AFTER),
    )
    attempt(
        "refused by LAAFFIC",
        "wrong customer list (LAAFFIC failed on its side).",
        _task_target(pool.take()),
        _Fault(FaultKind.CODE, "cancel", code=-18),
    )
    in_doubt = _task_target(pool.take())
    attempt(
        "unknown",
        "complaint about repeated calls (a proxy answered 502 instead of LAAFFIC).",
        in_doubt,
        _Fault(FaultKind.HTML_502, "cancel"),
    )
    if made and made[-1] == ("unknown", Outcome.UNKNOWN):
        attempt("refused here", "complaint about repeated calls, second try.", in_doubt)
    attempt(
        "failed",
        "customer moved abroad (LAAFFIC could not be read first).",
        _task_target(pool.take()),
        _Fault(FaultKind.CODE, "queryDetail", code=-18),
    )
    attempt(
        "failed",
        "number no longer in service (LAAFFIC answered an empty page).",
        _task_target(pool.take()),
        _Fault(FaultKind.EMPTY, "queryDetail"),
    )
    for status, reason in (
        (Status.COMPLETED, "stop the calls of this list (they had already ended)."),
        (Status.IN_PROGRESS, "stop the calls of this list (a round was already running)."),
    ):
        task = RecallTask.objects.filter(status=status).order_by("key_id").first()
        attempt("not pending", reason, _task_target(task))
    return made


def _task_target(task: RecallTask | None) -> CancelTarget | None:
    return CancelTarget.for_task(task) if task is not None else None


def _second_round(task: RecallTask | None) -> RecallNode | None:
    if task is None:
        return None
    return task.nodes.filter(status=Status.PENDING).order_by("position")[1:2].first()


def _switch_on(fault: _Fault, target_id: int) -> SandboxFault:
    """A sandbox fault for this one target's request, firing once (switched off after)."""
    # A whole-task cancel names the task's key in its cancel and in its reads alike.
    return SandboxFault.objects.create(
        kind=fault.kind,
        calls=fault.call,
        ids=str(target_id),
        when=fault.when,
        code=fault.code,
        message=fault.message,
        remaining=1,
        note=REASON_PREFIX + "one of the earlier cancels of the demo's audit log.",
    )
