"""One cancel in two steps, for every way the admin starts one.

``CancelFlow.preview()`` says, per recall task (and per round, from a node), what a
confirmation will do and why; ``confirm()`` sends one request per target through the
cancel service and says, per task, what happened as LAAFFIC's re-read shows it. The
three list actions, the task page's buttons, the parent-id form and "Cancel from here"
all build a flow; ``confirmation.py`` renders it. Nothing here words a sentence: a
``Line`` carries codes (``why``) and values, and the templates say them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..cancel.audit import Submission, blocking_attempts, claim_submission, finish_submission
from ..cancel.results import AttemptResult, CancelTarget
from ..cancel.service import BatchTooLarge, cancel, look_up_parent
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

SENT_BUT_OPEN = (Outcome.UNKNOWN, Outcome.PENDING)


@dataclass(frozen=True)
class Line:
    """One recall task of a cancel: in a preview what will happen to it (``send``), in a
    result what did (``state``: stopped, not_stopped or unknown); ``why`` says why not."""

    key: int
    label: str
    url: str = ""
    status: int | None = None
    group: int | None = None  # the parent task id it is listed under
    parent: int | None = None
    progress: str = ""  # rounds done/required, e.g. "1/3"
    created: datetime | None = None
    send: bool = False
    state: str = ""
    why: str = ""
    rounds: int | None = None  # remaining rounds: to stop, or stopped
    first_round: int | None = None
    last_round: int | None = None
    new: bool = False
    read_at: datetime | None = None
    offer_url: str = ""  # "Stop rounds N-M" of an In-progress task
    offer_first: int | None = None
    offer_last: int | None = None
    code: int | None = None
    code_name: str = ""
    message: str = ""  # LAAFFIC's own words with its refusal
    next_step: str = ""  # a vendor code's next step, an untranslated message id
    detail: str = ""  # technical, behind "details"
    by: str = ""  # who holds a blocking cancel, and since when
    since: datetime | None = None

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
        failed = any(line.why in ("refused", "failed") for line in self.not_stopped)
        return "error" if failed and not self.stopped and not self.unknown else "warning"

    def as_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "error": self.error, "lines": [x.as_json() for x in self.lines]}

    @classmethod
    def from_json(cls, values: Any) -> Result:
        if not isinstance(values, dict):
            return cls(())
        lines = tuple(Line.from_json(x) for x in values.get("lines", ()))
        return cls(lines, values.get("ref", ""), values.get("error", ""))


@dataclass
class CancelFlow:
    """A cancel of ``tasks`` (type 1 each), of their parents (type 2, ``by_parent``), of
    ``parent_ids`` typed by hand, or from ``node`` onward (type 3). ``gone`` are selected
    rows no longer in the list (``(id, row or None)``); ``urls(task)`` links a task page;
    ``offer(task, first_node, first, last)`` the "Stop rounds" link; ``visible`` the tasks
    this user may see (the task admin's queryset), or None for all."""

    tasks: Sequence[RecallTask] = ()
    by_parent: bool = False
    parent_ids: Sequence[int] = ()
    node: RecallNode | None = None
    gone: Sequence[tuple[str, Any]] = ()
    urls: Any = lambda task: ""
    offer: Any = lambda task, node, first, last: ""
    visible: Any = None
    _preview: Preview | None = field(default=None, repr=False)
    # On confirm the service's own guard decides whether another cancel blocks a task.
    _confirming: bool = field(default=False, repr=False)

    def _blocks(self, tasks: Sequence[RecallTask]) -> dict:
        return {} if self._confirming else blocking_attempts(tasks)

    # ----------------------------------------------------------------------- preview

    def preview(self) -> Preview:
        """What a confirmation would do now, per task (and per round from a node)."""
        if self._preview is None:
            if self.node is not None:
                self._preview = self._node_preview(self.node)
            elif self.by_parent or self.parent_ids:
                self._preview = self._parent_preview()
            else:
                self._preview = self._task_preview()
        return self._preview

    def _line(self, task: RecallTask, blocks: dict, offers: dict, **extra: Any) -> Line:
        remaining = None
        if task.recall_num is not None:
            remaining = max(task.recall_num - (task.finish_num or 0), 0)
        line = Line(task.key_id, str(task), self.urls(task), task.status, rounds=remaining)
        line = replace(
            line,
            parent=task.parent_task_id,
            progress=task.rounds_label,
            created=task.created_at_remote,
            **extra,
        )
        if line.why:
            return line
        blocking = blocks.get(task.key_id)
        if not is_valid_id(task.key_id):
            return replace(line, why="invalid_key")
        if blocking is not None:
            why = "in_doubt" if blocking.in_doubt else "in_flight"
            return replace(line, why=why, by=blocking.username, since=blocking.started_at)
        if task.status != Status.PENDING:
            return replace(line, why="status", **offers.get(task.key_id, {}))
        return replace(line, send=True)

    def _offers(self, tasks: Iterable[RecallTask]) -> dict[int, dict[str, Any]]:
        """ "Stop rounds N-M" for the In-progress tasks with Pending rounds (one query)."""
        running = {t.pk: t for t in tasks if t.status == Status.IN_PROGRESS}
        if not running:
            return {}
        pending: dict[int, list[RecallNode]] = {}
        nodes = RecallNode.objects.filter(task_id__in=list(running), status=Status.PENDING)
        for node in nodes.order_by("task_id", "position"):
            pending.setdefault(node.task_id, []).append(node)
        offers = {}
        for pk, nodes_ in pending.items():
            task, first, last = running[pk], nodes_[0].position + 1, nodes_[-1].position + 1
            url = self.offer(task, nodes_[0], first, last)
            offers[task.key_id] = {"offer_url": url, "offer_first": first, "offer_last": last}
        return offers

    def _gone_lines(self) -> list[Line]:
        lines = []
        for value, row in self.gone:
            if row is None:
                lines.append(Line(int(value), f"#{value}", why="gone"))
            else:
                url = self.urls(row) if isinstance(row, RecallTask) else ""
                lines.append(Line(row.key_id, str(row), url, row.status, why="moved"))
        return lines

    def _task_preview(self) -> Preview:
        blocks, offers = self._blocks(self.tasks), self._offers(self.tasks)
        lines = [self._line(t, blocks, offers) for t in self.tasks]
        targets = [CancelTarget.for_task(t) for t in self.tasks if is_valid_id(t.key_id)]
        return Preview((*lines, *self._gone_lines()), targets=tuple(targets))

    def _parent_preview(self) -> Preview:
        groups: dict[int, list[RecallTask]] = {}
        lines: list[Line] = []
        targets: list[CancelTarget] = []
        notes: list[tuple[str, Any]] = []
        for task in self.tasks:
            pid = task.parent_task_id
            if pid is None or not is_valid_id(pid):
                why = "no_parent" if pid is None else "invalid_parent"
                lines.append(Line(task.key_id, str(task), self.urls(task), task.status, why=why))
            else:
                groups.setdefault(pid, [])
        for pid in self.parent_ids:
            groups.setdefault(pid, [])
        for pid in groups:
            lookup = look_up_parent(pid)
            tasks = list(lookup.tasks)
            blocks, offers = self._blocks(tasks), self._offers(tasks)
            hidden = self._hidden(tasks)
            if lookup.error:
                notes.append(("lookup_error", {"id": pid, "error": lookup.error}))
            if hidden:
                notes.append(("hidden", pid))
            new = set(lookup.new_keys)
            group = [
                self._line(t, blocks, offers, group=pid, new=t.key_id in new)
                for t in tasks
                if t.key_id not in hidden
            ]
            if hidden or any(x.why in ("in_flight", "in_doubt") for x in group):
                why = "hidden" if hidden else "sibling_blocked"
                group = [replace(x, send=False, why=why) if x.send else x for x in group]
            lines.extend(group)
            if not hidden and tasks:
                targets.append(CancelTarget.for_parent(pid, () if lookup.error else tasks))
        lines.sort(key=lambda x: (x.group is None, x.group or 0, x.key))
        return Preview((*lines, *self._gone_lines()), targets=tuple(targets), notes=tuple(notes))

    def _node_preview(self, node: RecallNode) -> Preview:
        task = node.task
        blocks = blocking_attempts([task])
        later = list(task.nodes.filter(position__gte=node.position).order_by("position"))
        ok = is_valid_id(node.key_id) and node.is_pending and not self._hidden([task])
        line = self._line(task, blocks, {})
        stop = [n for n in later if n.is_pending] if ok and task.key_id not in blocks else []
        rounds = tuple(
            Round(n.position + 1, n.key_id, n.status, n in stop, n.pk == node.pk, n.group_task_id)
            for n in later
        )
        if self._hidden([task]):
            why = "hidden"
        elif not is_valid_id(node.key_id):
            why = "invalid_key"
        elif not node.is_pending:
            why = "node_status"
        else:
            why = line.why if line.why in ("in_flight", "in_doubt") else ""
        first = stop[0].position + 1 if stop else node.position + 1
        last = stop[-1].position + 1 if stop else None
        line = replace(
            line,
            send=bool(stop) and not why,
            why=why,
            rounds=len(stop),
            first_round=first,
            last_round=last,
            status=task.status if why != "node_status" else node.status,
        )
        targets = (
            (CancelTarget.for_node(node),) if is_valid_id(node.key_id) and why != "hidden" else ()
        )
        return Preview((line,), rounds, targets)

    def _hidden(self, tasks: Iterable[RecallTask]) -> set[int]:
        """The keys among ``tasks`` this user may not see."""
        keys = {t.key_id for t in tasks}
        if self.visible is None or not keys:
            return set()
        seen = set(self.visible.filter(key_id__in=keys).values_list("key_id", flat=True))
        return keys - seen

    # ----------------------------------------------------------------------- confirm

    def confirm(self, submission: Submission, claimed: CancelSubmission | None = None) -> Result:
        """Send what the preview would send (the service reads each target again first and
        decides), then say per task what LAAFFIC shows now; kept on ``claimed``."""
        self._confirming = self._preview is None
        preview = self.preview()
        ref = str(submission.correlation_id)[:8]
        try:
            report = cancel(list(preview.targets), submission) if preview.targets else None
        except BatchTooLarge:
            return self._finish(claimed, Result((), ref, "too_many"))
        results = report.results if report is not None else ()
        by_key: dict[int, AttemptResult] = {}
        for result in results:
            for key in self._keys_of(result, preview):
                by_key[key] = result
        now = {
            t.key_id: t
            for t in RecallTask.objects.filter(key_id__in=[x.key for x in preview.lines])
        }
        offers = self._offers(t for t in now.values() if t.key_id in by_key)
        lines = []
        for line in preview.lines:
            task, found = now.get(line.key), by_key.get(line.key)
            lines.append(self._settle(line, task, found, offers.get(line.key, {})))
        return self._finish(claimed, Result(tuple(lines), ref if report is not None else ""))

    @staticmethod
    def _keys_of(result: AttemptResult, preview: Preview) -> list[int]:
        target = result.target
        if target.cancel_type == CancelType.TASK:
            return [target.target_id]
        if target.cancel_type == CancelType.PARENT:
            return [x.key for x in preview.lines if x.group == target.target_id]
        return [x.key for x in preview.lines]

    def _settle(self, line: Line, task: RecallTask | None, result, offer: dict) -> Line:
        """A preview line as a result line: the attempt's outcome, the task as now read."""
        if result is None or line.why in ("gone", "moved", "hidden", "no_parent", "invalid_parent"):
            return replace(line, send=False, state="not_stopped", why=line.why or "not_sent")
        status = task.status if task is not None else line.status
        read_at = task.detail_synced_at if task is not None else None
        node_cancel = result.target.cancel_type == CancelType.NODE
        line = replace(
            line,
            send=False,
            status=status,
            read_at=read_at,
            code=result.response_code,
            code_name=result.code_name,
            detail=result.technical(),
        )
        if node_cancel and result.outcome == Outcome.SUCCEEDED and result.covered_nodes:
            covered = [r for r, _key in result.covered_nodes]
            line = replace(
                line, rounds=len(covered), first_round=covered[0], last_round=covered[-1]
            )
        sent = line.key in result.task_keys
        if sent and result.outcome == Outcome.SUCCEEDED:
            confirmed = result.mirror_confirmed and (node_cancel or status == Status.CANCELLED)
            return replace(
                line,
                state="stopped" if confirmed else "unknown",
                why="" if confirmed else "accepted",
            )
        if sent and result.outcome in SENT_BUT_OPEN:
            return replace(line, state="unknown", why="no_answer")
        if result.blocked_by is not None:
            blocking = result.blocked_by
            why = "in_doubt" if blocking.in_doubt else "in_flight"
            return replace(
                line, state="not_stopped", why=why, by=blocking.username, since=blocking.started_at
            )
        if result.not_started:
            return replace(line, state="not_stopped", why="not_started")
        if result.outcome == Outcome.REFUSED and sent:
            step, message = result.vendor_next_step, printable(result.response_message)
            return replace(
                line, state="not_stopped", why="refused", next_step=step, message=message
            )
        if result.outcome == Outcome.FAILED:
            why = "settings" if result.hint or result.configuration else "failed"
            return replace(line, state="not_stopped", why=why)
        if node_cancel:
            return replace(line, state="not_stopped", why="node_status")
        return replace(line, state="not_stopped", why="status", **offer)

    @staticmethod
    def _finish(claimed: CancelSubmission | None, result: Result) -> Result:
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
    """This user's latest finished submission that concerned one of ``keys``, within the
    last hour: what a page reached by going back after a cancel says was done."""
    keys = set(keys)
    recent = CancelSubmission.objects.filter(
        Q(username=username), finished_at__gte=timezone.now() - timedelta(hours=1)
    ).order_by("-finished_at")[:5]
    for row in recent:
        result = Result.from_json(row.summary)
        if keys & {line.key for line in result.lines}:
            return row, result
    return None
