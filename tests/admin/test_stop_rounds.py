"""An In-progress task is no dead end: where a whole-task cancel is not possible and later
rounds are still Pending, the confirmation, the result and the task page offer "Stop
rounds N-M" (type 3 from the first Pending node), with the "Cancel from here" preview."""

from __future__ import annotations

import re

import pytest

from laaffic_recall.models import RecallNode
from tests.support.admin import TASKS, cancel_url, last_message, node_url, task_url
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import (
    COMPLETED,
    IN_PROGRESS,
    PENDING,
    add_cancel,
    add_detail,
    calls_to,
    sent_bodies,
)

pytestmark = pytest.mark.django_db


def running_task():
    """Task 12: round 1 Completed, round 2 In progress, rounds 3 and 4 Pending."""
    task = make_task(12, status=IN_PROGRESS)
    make_nodes(task, COMPLETED, IN_PROGRESS, PENDING, PENDING)
    return task


def third_round(task) -> RecallNode:
    return RecallNode.objects.get(task=task, position=2)


def test_the_confirmation_of_a_whole_task_cancel_offers_stop_rounds(agent_client):
    task = running_task()

    for html in (
        agent_client.get(cancel_url(task)).content.decode(),
        agent_client.post(
            TASKS, {"action": "cancel_tasks", "index": 0, "_selected_action": [task.pk]}
        ).content.decode(),
    ):
        assert "Its later rounds can still be stopped:" in html
        link = re.escape(node_url(third_round(task)))
        assert re.search(rf'href="{link}[^"]*">Stop rounds 3-4</a>', html)


def test_the_offer_leads_to_the_cancel_from_here_preview_and_stops_the_rounds(
    mocked_api, agent_client
):
    task = running_task()
    node = third_round(task)
    preview = agent_client.get(node_url(node)).content.decode()
    assert "Round 3 (node #103)" in preview and "Round 4 (node #104)" in preview

    nodes = ((101, COMPLETED), (102, IN_PROGRESS), (103, PENDING), (104, PENDING))
    add_detail(mocked_api, 12, IN_PROGRESS, nodes=nodes)
    add_cancel(mocked_api, 3, 103)
    done = ((101, COMPLETED), (102, IN_PROGRESS), (103, 3), (104, 3))
    add_detail(mocked_api, 12, IN_PROGRESS, nodes=done)

    response = agent_client.post(node_url(node), {"post": "yes"})

    assert sent_bodies(mocked_api) == [{"type": 3, "id": 103}]
    _level, text = last_message(response)
    assert "Stopped 2 rounds of recall task #12" in text
    assert "Stopped rounds 3-4: LAAFFIC now shows it Cancelled" in text


def test_a_task_shown_pending_from_a_stale_copy_is_offered_stop_rounds_in_the_result(
    mocked_api, agent_client
):
    task = make_task(12)  # the mirror still says Pending
    make_nodes(task, PENDING, PENDING, PENDING)
    nodes = ((101, IN_PROGRESS), (102, PENDING), (103, PENDING))
    add_detail(mocked_api, 12, IN_PROGRESS, nodes=nodes)  # LAAFFIC moved on

    response = agent_client.post(cancel_url(task), {"post": "yes"})

    assert calls_to(mocked_api, "cancel") == []
    _level, text = last_message(response)
    assert "Its later rounds can still be stopped:" in text
    link = re.escape(node_url(RecallNode.objects.get(key_id=102)))
    assert re.search(rf'href="{link}[^"]*">Stop rounds 2-3</a>', text)


def test_the_task_page_offers_stop_rounds(agent_client):
    task = running_task()
    html = agent_client.get(task_url(task)).content.decode()
    assert re.search(
        rf'href="{re.escape(node_url(third_round(task)))}[^"]*"[^>]*>Stop rounds 3-4</a>', html
    )
