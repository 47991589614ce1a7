"""What a cancel will do and did, per recall task.

``plan_tasks``, ``plan_parents`` and ``plan_node`` read the mirror (and LAAFFIC, for the
tasks of a parent task id) and say per task whether a confirmation would send a cancel that
covers it, and why not; ``run`` sends the plan's targets through ``service.cancel`` and says
per task what happened, as LAAFFIC's re-read shows it. A ``Line`` carries codes (``why``)
and values, never a sentence: whoever presents it words it (the admin in its templates),
and a ``Result`` kept as values is worded again in the reader's language.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..client.printable import printable
from ..client.wire import is_valid_id
from ..models import (
    CancelSubmission,
    CancelType,
    Outcome,
    RecallNode,
    RecallTask,
    Status,
    status_label,
)
from .audit import (
    Submission,
    blocking_attempts,
    claim_submission,
    finish_submission,
    hidden_keys,
)
from .results import AttemptResult, CancelTarget
from .service import BatchTooLarge, cancel, look_up_parent

SENT_BUT_OPEN = (Outcome.UNKNOWN, Outcome.PENDING)
NOT_SENT = ("gone", "moved", "hidden", "no_parent", "invalid_parent")


@dataclass(frozen=True)
class Line:
    """One recall task of a cancel: in a preview what will happen to it (``send``), in a
    result what did (``state``: stopped, not_stopped or unknown); ``why`` says why not."""

    key: int
    label: str
    pk: int | None = None  # the mirrored task's row
    status: int | None = None
    group: int | None = None  # the parent task id it is listed under
    parent: int | None = None
    progress: str = ""  # rounds done/required, e.g. "1/3"
    created: datetime | None = None
    send: bool = False
    state: str = ""
    why: str = ""
    rounds: int | None = None  # remaining rounds: to stop, or stopped
    round_span: str = ""  # the rounds of a cancel from a node: "3-4", or "2, 4"
    new: bool = False
    read_at: datetime | None = None
    offer_node: int | None = None  # "Stop rounds N-M" of an In-progress task: its first node
    offer_first: int | None = None
    offer_last: int | None = None
    code: int | None = None
    code_name: str = ""
    message: str = ""  # LAAFFIC's own words with its refusal
    next_step: str = ""  # a vendor code's next step, an untranslated message id
    detail: str = ""  # technical, behind "details"
    attempt: int | None = None  # the audit row of the cancel that covered it
    by: str = ""  # who holds a blocking cancel, and since when
    since: datetime | None = None
    url: str = ""  # links a presenter adds: the task's page, the "Stop rounds" preview
    offer_url: str = ""

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    def as_json(self) -> dict[str, Any]:
        values = asdict(self)
        for name in ("read_at", "since", "created"):
            values[name] = values[name] and values[name].isoformat()
        return values

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> Line:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        for name in ("read_at", "since", "created"):
            values[name] = values.get(name) and parse_datetime(values[name])
        return cls(**values)


@dataclass(frozen=True)
class Round:
    """A round of a cancel from a node: the chosen node and each later one."""

    number: int
    key: int
    status: int | None
    send: bool
    chosen: bool
    group_task_id: int | None

    @property
    def status_label(self) -> str:
        return status_label(self.status)


@dataclass(frozen=True)
class Preview:
    lines: tuple[Line, ...]
    rounds: tuple[Round, ...] = ()
    targets: tuple[CancelTarget, ...] = ()
    notes: tuple[tuple[str, Any], ...] = ()  # (code, value): lookup errors, hidden tasks

    @property
    def to_stop(self) -> list[Line]:
        return [line for line in self.lines if line.send]

    @property
    def rounds_to_stop(self) -> int | None:
        counts = [line.rounds for line in self.to_stop]
        return None if None in counts or not counts else sum(c or 0 for c in counts)


@dataclass(frozen=True)
class Result:
    """What one confirmed submission did, per task, in the order of its preview."""

    lines: tuple[Line, ...]
    ref: str = ""
    error: str = ""  # "too_many" or "unexpected": nothing (more) was done
    started: datetime | None = None

    def _with(self, state: str) -> list[Line]:
        return [line for line in self.lines if line.state == state]

    @property
    def stopped(self) -> list[Line]:
        return self._with("stopped")

    @property
    def not_stopped(self) -> list[Line]:
        return self._with("not_stopped")

    @property
    def unknown(self) -> list[Line]:
        return self._with("unknown")

    @property
    def rounds_stopped(self) -> int | None:
        counts = [line.rounds for line in self.stopped]
        return None if None in counts or not counts else sum(c or 0 for c in counts)

    @property
    def level(self) -> str:
        if self.error or not self.lines:
            return "error" if self.error else "warning"
        if len(self.stopped) == len(self.lines):
            return "success"
        refusals = ("refused", "failed", "settings", "hidden", "hidden_task")
        failed = any(line.why in refusals for line in self.not_stopped)
        return "error" if failed and not self.stopped and not self.unknown else "warning"

    def as_json(self) -> dict[str, Any]:
        started = self.started and self.started.isoformat()
        lines = [x.as_json() for x in self.lines]
        return {"ref": self.ref, "error": self.error, "started": started, "lines": lines}

    @classmethod
    def from_json(cls, values: Any) -> Result:
        if not isinstance(values, dict):
            return cls(())
        lines = tuple(Line.from_json(x) for x in values.get("lines", ()))
        started = values.get("started") and parse_datetime(values["started"])
        return cls(lines, values.get("ref", ""), values.get("error", ""), started)


# --------------------------------------------------------------------------- the plan


def span(numbers: Sequence[int]) -> str:
    """``3-5`` for consecutive round numbers, else ``2, 4``; ``3`` for one."""
    if len(numbers) > 1 and list(numbers) == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}-{numbers[-1]}"
    return ", ".join(map(str, numbers))


def _remaining(task: RecallTask) -> int | None:
    if task.recall_num is None:
        return None
    return max(task.recall_num - (task.finish_num or 0), 0)


def _line(task: RecallTask, blocks: dict, offers: dict, **extra: Any) -> Line:
    """What a cancel covering ``task`` will do to it, from the mirror and the guard."""
    line = Line(
        task.key_id,
        str(task),
        task.pk,
        task.status,
        parent=task.parent_task_id,
        progress=task.rounds_label,
        created=task.created_at_remote,
        rounds=_remaining(task),
        **extra,
    )
    blocking = blocks.get(task.key_id)
    if line.why:
        return line
    if not is_valid_id(task.key_id):
        return replace(line, why="invalid_key")
    if blocking is not None:
        why = "in_doubt" if blocking.in_doubt else "in_flight"
        return replace(line, why=why, by=blocking.username, since=blocking.started_at)
    if task.status != Status.PENDING:
        return replace(line, why="status", **offers.get(task.key_id, {}))
    return replace(line, send=True)


def offers(tasks: Iterable[RecallTask]) -> dict[int, dict[str, Any]]:
    """ "Stop rounds N-M" of the In-progress tasks with Pending rounds (one query)."""
    running = {t.pk: t for t in tasks if t.status == Status.IN_PROGRESS}
    pending: dict[int, list[RecallNode]] = {}
    if running:
        nodes = RecallNode.objects.filter(task_id__in=list(running), status=Status.PENDING)
        for node in nodes.order_by("task_id", "position"):
            pending.setdefault(node.task_id, []).append(node)
    return {
        running[pk].key_id: {
            "offer_node": each[0].pk,
            "offer_first": each[0].position + 1,
            "offer_last": each[-1].position + 1,
        }
        for pk, each in pending.items()
    }


def _gone(gone: Sequence[tuple[str, Any]]) -> list[Line]:
    """Selected rows no longer in the list: ``(id, row now or None)``."""
    lines = []
    for value, row in gone:
        if row is None:
            lines.append(Line(int(value), f"#{value}", why="gone"))
        else:
            pk = row.pk if isinstance(row, RecallTask) else None
            lines.append(Line(row.key_id, str(row), pk, row.status, why="moved"))
    return lines


def _blocks(tasks: Sequence[RecallTask], confirming: bool) -> dict:
    # On confirm the service's own guard decides whether another cancel blocks a task.
    return {} if confirming else blocking_attempts(tasks)


def _hidden(tasks: Iterable[RecallTask], visible: Any) -> set[int]:
    """The keys among ``tasks`` this user may not see (``visible``: None for all)."""
    return hidden_keys(visible, (t.key_id for t in tasks))


def plan_tasks(tasks: Sequence[RecallTask], gone=(), confirming: bool = False) -> Preview:
    """A cancel of each task (type 1)."""
    blocks, offered = _blocks(tasks, confirming), offers(tasks)
    lines = [_line(t, blocks, offered) for t in tasks]
    targets = [CancelTarget.for_task(t) for t in tasks if is_valid_id(t.key_id)]
    return Preview((*lines, *_gone(gone)), targets=tuple(targets))


def plan_parents(
    tasks: Sequence[RecallTask] = (),
    parent_ids: Sequence[int] = (),
    gone=(),
    visible: Any = None,
    confirming: bool = False,
) -> Preview:
    """A cancel of the parent task id of each task, and of each of ``parent_ids`` (type 2):
    it stops every Pending task of that parent, so each is listed, as LAAFFIC has it now."""
    lines: list[Line] = []
    targets: list[CancelTarget] = []
    notes: list[tuple[str, Any]] = []
    parents = dict.fromkeys(parent_ids)
    for task in tasks:
        pid = task.parent_task_id
        if pid is not None and is_valid_id(pid):
            parents[pid] = None
        else:
            why = "no_parent" if pid is None else "invalid_parent"
            lines.append(_line(task, {}, {}, why=why))
    for pid in parents:
        lookup = look_up_parent(pid)
        found = list(lookup.tasks)
        blocks, offered, hidden = _blocks(found, confirming), offers(found), _hidden(found, visible)
        if lookup.error:
            notes.append(("lookup_error", {"id": pid, "error": lookup.error}))
        if hidden:
            notes.append(("hidden", pid))
        new = set(lookup.new_keys)
        group = [
            _line(t, blocks, offered, group=pid, new=t.key_id in new)
            for t in found
            if t.key_id not in hidden
        ]
        if hidden or any(x.why in ("in_flight", "in_doubt") for x in group):
            why = "hidden" if hidden else "sibling_blocked"
            group = [replace(x, send=False, why=why) if x.send else x for x in group]
        lines.extend(group)
        if found and not hidden:
            targets.append(CancelTarget.for_parent(pid, () if lookup.error else found))
    lines.sort(key=lambda x: (x.group is None, x.group or 0, x.key))
    return Preview((*lines, *_gone(gone)), targets=tuple(targets), notes=tuple(notes))


def plan_node(node: RecallNode, visible: Any = None) -> Preview:
    """A cancel from ``node`` onward (type 3): the chosen round and every later one."""
    task = node.task
    blocks = blocking_attempts([task])
    later = list(task.nodes.filter(position__gte=node.position).order_by("position"))
    if _hidden([task], visible):
        why = "hidden"
    elif not is_valid_id(node.key_id):
        why = "invalid_key"
    elif not node.is_pending:
        why = "node_status"
    else:
        why = _line(task, blocks, {}).why
        why = why if why in ("in_flight", "in_doubt") else ""
    stop = [] if why else [n for n in later if n.is_pending]
    rounds = tuple(
        Round(n.position + 1, n.key_id, n.status, n in stop, n.pk == node.pk, n.group_task_id)
        for n in later
    )
    line = replace(
        _line(task, blocks, {}),
        send=bool(stop),
        why=why,
        rounds=len(stop),
        round_span=span([n.position + 1 for n in stop]),
        status=node.status if why == "node_status" else task.status,
    )
    if why in ("in_flight", "in_doubt"):
        blocking = blocks[task.key_id]
        line = replace(line, by=blocking.username, since=blocking.started_at)
    sendable = is_valid_id(node.key_id) and why != "hidden"
    return Preview((line,), rounds, (CancelTarget.for_node(node),) if sendable else ())


# --------------------------------------------------------------------------- the result


def run(preview: Preview, submission: Submission, claimed: CancelSubmission | None) -> Result:
    """Send the plan's targets (the service reads each again first and decides), then say
    per task what LAAFFIC shows now; kept on ``claimed`` as values."""
    ref, started = str(submission.correlation_id)[:8], timezone.now()
    try:
        report = cancel(list(preview.targets), submission) if preview.targets else None
    except BatchTooLarge:
        return finish(claimed, Result((), ref, "too_many"))
    by_key: dict[int, AttemptResult] = {}
    for result in report.results if report is not None else ():
        for key in _keys_of(result, preview):
            by_key[key] = result
    # Each task as the cancel's reads left it, else as the mirror holds it now.
    now = {t.key_id: t for result in by_key.values() for t in result.seen}
    if missing := [x.key for x in preview.lines if x.key not in now]:
        now.update((t.key_id, t) for t in RecallTask.objects.filter(key_id__in=missing))
    offered = offers(t for t in now.values() if t.key_id in by_key)
    lines = tuple(
        settle(line, now.get(line.key), by_key.get(line.key), offered.get(line.key, {}))
        for line in preview.lines
    )
    return finish(claimed, Result(lines, ref if report is not None else "", started=started))


def _keys_of(result: AttemptResult, preview: Preview) -> list[int]:
    target = result.target
    if target.cancel_type == CancelType.TASK:
        return [target.target_id]
    if target.cancel_type == CancelType.PARENT:
        return [x.key for x in preview.lines if x.group == target.target_id]
    return [x.key for x in preview.lines]


def settle(line: Line, task: RecallTask | None, result, offer: dict) -> Line:  # noqa: C901
    """A planned line as a result: the attempt's outcome, and the task as now mirrored."""
    if result is None or line.why in NOT_SENT:
        return replace(line, send=False, state="not_stopped", why=line.why or "not_sent")
    status = task.status if task is not None else line.status
    node_cancel = result.target.cancel_type == CancelType.NODE
    line = replace(
        line,
        send=False,
        state="not_stopped",
        status=status,
        read_at=task.detail_synced_at if task is not None else None,
        code=result.response_code,
        code_name=result.code_name,
        attempt=result.attempt_id,
        detail=result.technical(),
    )
    if node_cancel and result.outcome == Outcome.SUCCEEDED and result.covered_nodes:
        covered = [r for r, _key in result.covered_nodes]
        line = replace(line, rounds=len(covered), round_span=span(covered))
    sent = line.key in result.task_keys
    if sent and result.outcome == Outcome.SUCCEEDED:
        if result.mirror_confirmed and (node_cancel or status == Status.CANCELLED):
            return replace(line, state="stopped")
        return replace(line, state="unknown", why="accepted")
    if sent and result.outcome in SENT_BUT_OPEN:
        return replace(line, state="unknown", why="no_answer")
    if result.hidden:
        return replace(line, why="hidden" if line.group else "hidden_task")
    if result.blocked_by is not None:
        blocking = result.blocked_by
        why = "in_doubt" if blocking.in_doubt else "in_flight"
        return replace(line, why=why, by=blocking.username, since=blocking.started_at)
    if result.not_started:
        return replace(line, why="not_started")
    if result.outcome == Outcome.REFUSED and sent:
        step, message = result.vendor_next_step, printable(result.response_message)
        return replace(line, why="refused", next_step=step, message=message)
    if result.outcome == Outcome.FAILED:
        return replace(line, why="settings" if result.hint or result.configuration else "failed")
    if node_cancel:
        return replace(line, why="node_status")
    return replace(line, why="status", **offer)


def finish(claimed: CancelSubmission | None, result: Result) -> Result:
    if claimed is not None:
        finish_submission(claimed, result.as_json(), result.level)
    return result


def claim(token: str, username: str) -> tuple[CancelSubmission | None, CancelSubmission | None]:
    """(the submission this POST claimed, or the earlier one that used its token)."""
    try:
        value = uuid.UUID(token)
    except ValueError:
        return None, None
    row, created = claim_submission(value, username)
    return (row, None) if created else (None, row)


def handled_before(username: str, keys: Iterable[int]) -> tuple[CancelSubmission, Result] | None:
    """This user's latest finished submission, within the hour, that concerned one of
    ``keys``: what a page reached by going back after a cancel says was done."""
    keys = set(keys)
    recent = CancelSubmission.objects.filter(
        username=username, finished_at__gte=timezone.now() - timedelta(hours=1)
    ).order_by("-finished_at")[:5]
    for row in recent:
        result = Result.from_json(row.summary)
        if keys & {line.key for line in result.lines}:
            return row, result
    return None
