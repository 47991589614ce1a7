"""The sandbox's cancel rules for each cancel type, through Django's test client."""

from __future__ import annotations

import json

import pytest

from laaffic_recall.sandbox.models import SandboxTask
from laaffic_recall.sandbox.testing import Status, create_task, signed_headers
from tests.support.sandbox import C, E, P, R, X

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sandbox_config(settings):
    settings.LAAFFIC_SANDBOX = {"API_KEY": "sbx-key", "API_SECRET": "sbx-secret"}


def cancel(client, cancel_type, target) -> dict:
    response = client.post(
        "/sandbox/voice/recallFlow/cancel",
        data=json.dumps({"type": cancel_type, "id": target}),
        content_type="application/json",
        headers=signed_headers(),
    )
    assert response.status_code == 200
    return response.json()


def statuses(task):
    task.refresh_from_db()
    return task.status, list(task.nodes.order_by("position").values_list("status", flat=True))


def test_type_1_cancels_a_pending_task_and_its_nodes(client):
    task = create_task([P, P, P])
    other = create_task([P, P])
    assert cancel(client, 1, task.key_id) == {"code": 0, "msg": "success", "data": None}
    assert statuses(task) == (X, [X, X, X])
    assert statuses(other) == (P, [P, P])


def test_type_2_cancels_the_pending_task_of_a_parent_id(client):
    task = create_task([P, P], task_id=2024051800123)
    other = create_task([P], task_id=2024051800124)
    assert cancel(client, 2, 2024051800123)["code"] == 0
    assert statuses(task) == (X, [X, X])
    assert statuses(other) == (P, [P])


@pytest.mark.parametrize("cancel_type", [1, 2])
@pytest.mark.parametrize(
    "nodes",
    [
        pytest.param([C, R, P], id="in-progress"),
        pytest.param([C, C], id="completed"),
        pytest.param([C, X], id="cancelled"),
        pytest.param([C, E], id="exception"),
    ],
)
def test_types_1_and_2_refuse_a_task_that_is_not_pending(client, cancel_type, nodes):
    task = create_task(nodes)
    before = statuses(task)
    target = task.key_id if cancel_type == 1 else task.task_id
    body = cancel(client, cancel_type, target)
    assert body["code"] != 0
    assert body["data"] is None
    assert str(Status(before[0]).label) in body["msg"]
    assert statuses(task) == before


def test_refusal_code_is_configurable(client, settings):
    settings.LAAFFIC_SANDBOX = {**settings.LAAFFIC_SANDBOX, "REFUSAL_CODE": -99}
    task = create_task([C])
    assert cancel(client, 1, task.key_id)["code"] == -99


def test_type_3_cancels_the_node_and_later_pending_ones_only(client):
    task = create_task([C, R, P, P, P])
    third = task.nodes.get(position=2)
    assert cancel(client, 3, third.key_id)["code"] == 0
    # A round is still running: the task goes on until it finishes.
    assert statuses(task) == (R, [C, R, X, X, X])


def test_type_3_leaves_earlier_pending_nodes_alone(client):
    task = create_task([P, P, P])
    assert cancel(client, 3, task.nodes.get(position=1).key_id)["code"] == 0
    assert statuses(task) == (P, [P, X, X])


def test_type_3_cancels_the_task_when_nothing_is_left_to_run(client):
    task = create_task([C, C, P, P])
    assert cancel(client, 3, task.nodes.get(position=2).key_id)["code"] == 0
    assert statuses(task) == (X, [C, C, X, X])
    assert task.finish_num == 2


def test_type_3_from_the_first_node_cancels_a_pending_task(client):
    task = create_task([P, P])
    assert cancel(client, 3, task.nodes.get(position=0).key_id)["code"] == 0
    assert statuses(task) == (X, [X, X])


@pytest.mark.parametrize("node_status", [R, C, X, E])
def test_type_3_refuses_a_node_that_is_not_pending(client, node_status):
    task = create_task([C, node_status, P] if node_status != E else [C, E])
    before = statuses(task)
    body = cancel(client, 3, task.nodes.get(position=1).key_id)
    assert body["code"] != 0
    assert str(Status(node_status).label) in body["msg"]
    assert statuses(task) == before


def test_a_second_cancel_of_the_same_task_is_refused(client):
    task = create_task([P, P])
    assert cancel(client, 1, task.key_id)["code"] == 0
    second = cancel(client, 1, task.key_id)
    assert second["code"] != 0 and "Cancelled" in second["msg"]
    assert SandboxTask.objects.get(pk=task.pk).status == X


def test_cancel_by_the_other_family_path_works_the_same(client):
    task = create_task([P])
    response = client.post(
        "/sandbox/v3/voice/recallFlow/cancel",
        data=json.dumps({"type": 1, "id": task.key_id}),
        content_type="application/json",
        headers=signed_headers(),
    )
    assert response.json()["code"] == 0
    assert statuses(task) == (X, [X])
