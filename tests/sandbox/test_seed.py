"""Seeding the sandbox (realistic, consistent, deterministic) and letting time pass (tick)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from laaffic_recall.sandbox.models import SandboxCall, SandboxFault, SandboxNode, SandboxTask
from laaffic_recall.sandbox.state import derived_status, tick
from laaffic_recall.sandbox.testing import Status, create_task, inject_fault, seed
from tests.support.sandbox import C, E, P, R, X

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 5, 18, 12, 0, 0, tzinfo=UTC)


def snapshot():
    return [
        (
            t.key_id,
            t.task_id,
            t.task_name,
            t.create_time,
            t.recall_type,
            t.recall_interval,
            t.status,
            [(n.key_id, n.group_task_id, n.status, n.script_id) for n in t.nodes.all()],
        )
        for t in SandboxTask.objects.order_by("key_id").prefetch_related("nodes")
    ]


def node_statuses(task):
    return list(task.nodes.order_by("position").values_list("status", flat=True))


def test_seed_gives_a_realistic_consistent_mix():
    result = seed(300, seed=1, now=NOW)
    tasks = list(SandboxTask.objects.prefetch_related("nodes"))
    assert (result.tasks, len(tasks)) == (300, 300)
    assert result.nodes == SandboxNode.objects.count()
    assert set(result.by_status) == set(Status.values)
    assert sum(result.by_status.values()) == 300
    for task in tasks:
        statuses = [n.status for n in sorted(task.nodes.all(), key=lambda n: n.position)]
        assert 1 <= len(statuses) <= 6
        assert (task.status, task.finish_num) == derived_status(statuses)
        assert task.recall_num == len(statuses)
        assert 100_000 <= task.key_id < 1_000_000
        assert NOW - timedelta(days=7) <= task.create_time < NOW
        assert str(task.task_id).startswith(f"{task.create_time:%Y%m%d}")
        assert len(str(task.task_id)) == 13
        assert task.task_name
    node_keys = list(SandboxNode.objects.values_list("key_id", flat=True))
    group_ids = list(SandboxNode.objects.values_list("group_task_id", flat=True))
    parent_ids = [t.task_id for t in tasks]
    assert len(set(node_keys)) == len(node_keys)
    # Group-call ids are unique; a parent id is shared only by recall tasks of that parent.
    assert len(set(group_ids) | set(parent_ids)) == len(group_ids) + len(set(parent_ids))
    # Recent tasks are mostly still open, old ones mostly finished.
    recent = [t for t in tasks if t.create_time > NOW - timedelta(hours=6)]
    old = [t for t in tasks if t.create_time < NOW - timedelta(days=2)]
    open_share = lambda group: sum(t.status in (P, R) for t in group) / len(group)  # noqa: E731
    assert open_share(recent) > open_share(old)


def test_same_seed_same_sandbox_other_seed_other_sandbox():
    seed(60, seed=7, now=NOW)
    first = snapshot()
    seed(60, seed=7, now=NOW, clear=True)
    assert snapshot() == first
    seed(60, seed=8, now=NOW, clear=True)
    assert snapshot() != first


def test_seeding_again_appends_with_fresh_ids():
    seed(30, seed=1, now=NOW)
    first = set(SandboxTask.objects.values_list("pk", flat=True))
    seed(30, seed=1, now=NOW)
    assert SandboxTask.objects.count() == 60
    tasks = SandboxTask.objects.values_list("pk", "task_id")
    old = {parent for pk, parent in tasks if pk in first}
    new = {parent for pk, parent in tasks if pk not in first}
    assert old and new and not old & new  # no parent id of the first batch reused


def test_seed_with_one_status():
    result = seed(20, seed=2, status=P)
    assert result.by_status == {P: 20}
    assert set(SandboxNode.objects.values_list("status", flat=True)) == {P}


def test_seed_command_resets_and_reports(capsys):
    create_task([C])
    inject_fault("empty")
    SandboxCall.objects.create(family="ai_agent", call="queryPage", http_status=200)
    out = StringIO()
    call_command("laaffic_sandbox_seed", "--tasks", "25", "--seed", "4", "--reset", stdout=out)
    assert SandboxTask.objects.count() == 25
    assert not SandboxFault.objects.exists() and not SandboxCall.objects.exists()
    assert "25 tasks" in out.getvalue() and "Pending" in out.getvalue()


def test_seed_command_rejects_nonsense():
    with pytest.raises(CommandError):
        call_command("laaffic_sandbox_seed", "--tasks", "-1")


def test_tick_advances_node_by_node_to_completed():
    task = create_task([P, P])
    seen = []
    for _ in range(5):
        tick()
        task.refresh_from_db()
        seen.append((task.status, node_statuses(task), task.finish_num))
    assert seen == [
        (R, [R, P], 0),
        (R, [C, P], 1),
        (R, [C, R], 1),
        (C, [C, C], 2),
        (C, [C, C], 2),
    ]


def test_tick_finishes_a_partly_cancelled_task_as_cancelled():
    task = create_task([C, R, X])
    tick()
    task.refresh_from_db()
    assert (task.status, node_statuses(task)) == (X, [C, C, X])


def test_tick_leaves_finished_tasks_alone():
    finished = [create_task(nodes) for nodes in ([C], [C, X], [E])]
    result = tick()
    assert result.advanced == 0
    assert [node_statuses(t) for t in finished] == [[C], [C, X], [E]]


def test_tick_fraction_is_a_share_of_open_tasks():
    for _ in range(40):
        create_task([P])
    assert tick(fraction=0).advanced == 0
    partial = tick(fraction=0.5, rng=random.Random(1))
    assert 0 < partial.advanced < 40
    assert partial.open_before == 40


def test_tick_command_runs_steps_and_adds_pending_tasks():
    task = create_task([P, P])
    out = StringIO()
    call_command("laaffic_sandbox_tick", "--steps", "2", "--new", "3", "--seed", "1", stdout=out)
    task.refresh_from_db()
    assert node_statuses(task) == [C, P]
    assert SandboxTask.objects.count() == 7
    assert "Tick 2:" in out.getvalue()
    newest = SandboxTask.objects.exclude(pk=task.pk).order_by("-create_time")[0]
    assert newest.create_time > datetime.now(UTC) - timedelta(minutes=5)


@pytest.mark.parametrize(
    "args", [["--fraction", "2"], ["--steps", "0"], ["--steps", "-1"], ["--new", "-2"]]
)
def test_tick_command_rejects_nonsense(args):
    with pytest.raises(CommandError):
        call_command("laaffic_sandbox_tick", *args)


def test_admin_advance_action_moves_selected_tasks_one_step(admin_client):
    chosen, other = create_task([P, P]), create_task([P])
    response = admin_client.post(
        "/admin/laaffic_sandbox/sandboxtask/",
        {"action": "advance_tasks", "_selected_action": [chosen.pk], "index": 0},
        follow=True,
    )
    assert "1 task advanced" in response.content.decode()
    assert node_statuses(chosen) == [R, P]
    assert node_statuses(other) == [P]


@pytest.mark.parametrize("model", ["sandboxtask", "sandboxfault", "sandboxcall"])
def test_sandbox_admin_pages_render(admin_client, model):
    seed(5, seed=1)
    inject_fault("latency", seconds=0.1)
    assert admin_client.get(f"/admin/laaffic_sandbox/{model}/").status_code == 200
    task = SandboxTask.objects.first()
    assert (
        admin_client.get(f"/admin/laaffic_sandbox/sandboxtask/{task.pk}/change/").status_code == 200
    )


def test_seed_gives_parents_with_several_recall_tasks_some_all_pending():
    # A fixed clock: statuses and which tasks may share a parent id (same day) follow it.
    seed(300, seed=7, now=datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
    by_parent: dict[int, list[int]] = {}
    for parent, status in SandboxTask.objects.values_list("task_id", "status"):
        by_parent.setdefault(parent, []).append(status)
    shared = {parent: s for parent, s in by_parent.items() if len(s) > 1}
    assert len(shared) >= 10
    assert any(s.count(Status.PENDING) >= 2 for s in shared.values())
    names = {
        parent: set(SandboxTask.objects.filter(task_id=parent).values_list("task_name", flat=True))
        for parent in shared
    }
    assert all(len(n) == 1 for n in names.values())  # siblings carry their parent's name
