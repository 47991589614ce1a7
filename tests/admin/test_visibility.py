"""A host that narrows the task admin's ``get_queryset`` (here: each agent sees their
team's tasks) narrows the node admin too, and an attempt's page names only a task the
agent may see."""

from __future__ import annotations

import pytest
from django.urls import reverse

from laaffic_recall.models import CancelType, Outcome
from tests.support.admin import ATTEMPTS, NODES
from tests.support.audit import attempt_on
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import PENDING

pytestmark = pytest.mark.django_db


def attempt_page(attempt) -> str:
    return reverse("admin:laaffic_recall_cancelattempt_change", args=[attempt.pk])


def node_page(node) -> str:
    return reverse("admin:laaffic_recall_recallnode_change", args=[node.pk])


def test_the_node_list_and_node_pages_show_only_nodes_of_visible_tasks(agent_client, team_admin):
    mine = make_task(12, task_name="Team A reminder")
    other = make_task(13, task_name="Team B secret")
    [my_node] = make_nodes(mine, PENDING, first_key=301)
    [other_node] = make_nodes(other, PENDING, first_key=401)

    listed = agent_client.get(NODES).content.decode()
    searched = agent_client.get(NODES, {"q": "13"}).content.decode()

    assert ">301<" in listed and ">401<" not in listed
    assert "Team B" not in listed and "Team B" not in searched
    assert agent_client.get(node_page(my_node)).status_code == 200
    hidden = agent_client.get(node_page(other_node), follow=True)
    assert "Team B" not in hidden.content.decode()
    assert hidden.redirect_chain and hidden.redirect_chain[0][1] == 302


def test_without_a_narrowed_task_admin_every_node_is_listed(agent_client):
    make_nodes(make_task(12, task_name="Team A reminder"), PENDING, first_key=301)
    make_nodes(make_task(13, task_name="Team B secret"), PENDING, first_key=401)

    listed = agent_client.get(NODES).content.decode()

    assert ">301<" in listed and ">401<" in listed


def test_an_attempt_page_names_only_a_task_the_agent_may_see(agent_client, team_admin):
    mine = make_task(12, task_name="Team A reminder")
    other = make_task(13, task_name="Team B secret")
    on_mine = attempt_on(mine, CancelType.TASK, 12, Outcome.SKIPPED)
    on_other = attempt_on(other, CancelType.TASK, 13, Outcome.SKIPPED)

    shown = agent_client.get(attempt_page(on_mine)).content.decode()
    hidden = agent_client.get(attempt_page(on_other)).content.decode()

    assert "Team A reminder" in shown
    assert "#13" in hidden and "Team B" not in hidden


def test_the_csv_export_leaves_out_the_name_of_a_task_the_agent_may_not_see(
    agent_client, team_admin
):
    mine = make_task(12, task_name="Team A reminder")
    other = make_task(13, task_name="Team B secret")
    rows = [
        attempt_on(mine, CancelType.TASK, 12, Outcome.SKIPPED),
        attempt_on(other, CancelType.TASK, 13, Outcome.SKIPPED),
    ]

    response = agent_client.post(
        ATTEMPTS,
        {"action": "download_csv", "index": 0, "_selected_action": [r.pk for r in rows]},
    )
    text = b"".join(response.streaming_content).decode()

    assert "Team A reminder" in text and "Team B" not in text
    assert text.count("\n") == 3
