"""A cancel by parent task id stops every Pending task of the parent: the list action and
the typed form both show, guard, re-read and name them all; and an agent who may not see
one of them (a host's narrowed ``get_queryset``) cannot stop it by any path."""

from __future__ import annotations

import pytest
from django.contrib.messages import constants as levels

from laaffic_recall.models import CancelAttempt, CancelType, Outcome, RecallTask
from tests.support.admin import BY_PARENT, NODES, TASKS, cancel_url, last_message, node_url
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import (
    CANCELLED,
    PENDING,
    add_cancel,
    add_detail,
    api_url,
    calls_to,
    envelope,
    page_of,
    sent_bodies,
    signed,
)

pytestmark = pytest.mark.django_db

PARENT = 500


def lists_parent(mocked_api, *records, times: int = 2) -> None:
    """queryPage by parent id answers these records (preview, then confirmation)."""
    for _each in range(times):
        mocked_api.post(api_url("queryPage"), json=page_of(*records), match=[signed])


def preview(client, *tasks):
    return client.post(
        TASKS,
        {
            "action": "cancel_tasks_by_parent",
            "index": 0,
            "_selected_action": [t.pk for t in tasks],
        },
    )


def confirm(client, *tasks):
    return client.post(
        TASKS,
        {
            "action": "cancel_tasks_by_parent",
            "_selected_action": [t.pk for t in tasks],
            "post": "yes",
        },
    )


def test_one_sibling_selected_lists_guards_rereads_and_names_them_all(mocked_api, agent_client):
    selected = make_task(12, parent_task_id=PARENT, task_name="Selected")
    make_task(13, parent_task_id=PARENT, task_name="Sibling in the mirror")
    # #14 is at LAAFFIC only: the list action finds it with queryPage.
    lists_parent(
        mocked_api,
        (12, PARENT, "Selected", PENDING),
        (13, PARENT, "Sibling in the mirror", PENDING),
        (14, PARENT, "Sibling not mirrored", PENDING),
    )

    html = preview(agent_client, selected).content.decode()

    for name in ("#12 Selected", "#13 Sibling in the mirror", "#14 Sibling not mirrored"):
        assert name in html
    assert "3 of 3" not in html  # all three will be cancelled: no "x of y" line
    assert html.count('class="laaffic-new"') == 1  # #14 was not mirrored before
    assert calls_to(mocked_api, "cancel") == []

    for key in (12, 13, 14):
        add_detail(mocked_api, key, PENDING)
    add_cancel(mocked_api, 2, PARENT)
    for key in (12, 13, 14):
        add_detail(mocked_api, key, CANCELLED)

    response = confirm(agent_client, selected)

    assert sent_bodies(mocked_api) == [{"type": 2, "id": PARENT}]
    statuses = dict(RecallTask.objects.values_list("key_id", "status"))
    assert statuses == {12: CANCELLED, 13: CANCELLED, 14: CANCELLED}
    level, text = last_message(response)
    assert level == levels.SUCCESS
    assert "Stopped 3 recall tasks" in text
    for key in (12, 13, 14):
        assert text.count(f"#{key} ") == 1
    assert text.count("Stopped: LAAFFIC now shows it Cancelled, read at") == 3
    row = CancelAttempt.objects.get()
    assert "Recall tasks of this parent task: #12, #13, #14." in row.error_detail


def test_a_siblings_cancel_in_flight_refuses_the_parent_cancel_locally(mocked_api, agent_client):
    selected = make_task(12, parent_task_id=PARENT)
    sibling = make_task(13, parent_task_id=PARENT)
    CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=13,
        task=sibling,
        task_key_id=13,
        outcome=Outcome.PENDING,
    )
    lists_parent(mocked_api, (12, PARENT, "A", PENDING), (13, PARENT, "B", PENDING))

    html = preview(agent_client, selected).content.decode()
    assert "is cancelling it since" in html and "Nothing here can be cancelled" in html

    response = confirm(agent_client, selected)

    assert calls_to(mocked_api, "cancel") == []
    level, text = last_message(response)
    assert level == levels.WARNING and "Nothing was stopped." in text
    assert "is cancelling it since" in text


# --------------------------------------------------------------------------- visibility


def test_the_list_action_refuses_a_parent_with_a_task_the_agent_cannot_see(
    mocked_api, agent_client, team_admin
):
    mine = make_task(12, parent_task_id=PARENT, task_name="Team A reminder")
    make_task(13, parent_task_id=PARENT, task_name="Team B reminder")
    lists_parent(mocked_api, (12, PARENT, "Team A reminder", PENDING), (13, PARENT, "Team B", 0))

    html = preview(agent_client, mine).content.decode()
    assert "has recall tasks you cannot see" in html
    assert "Team B" not in html
    response = confirm(agent_client, mine)

    assert calls_to(mocked_api, "cancel") == []
    _level, text = last_message(response)
    assert "has recall tasks you cannot see" in text


def test_the_typed_form_refuses_a_parent_with_a_task_the_agent_cannot_see(
    mocked_api, agent_client, team_admin
):
    lists_parent(
        mocked_api, (12, PARENT, "Team A reminder", PENDING), (13, PARENT, "Team B", PENDING)
    )

    looked_up = agent_client.post(BY_PARENT, {"parent_task_id": PARENT})
    assert "has recall tasks you cannot see" in looked_up.content.decode()
    assert "Yes, I’m sure" not in looked_up.content.decode()

    forged = agent_client.post(BY_PARENT, {"parent_task_id": PARENT, "post": "yes"})

    assert forged.status_code == 302
    assert calls_to(mocked_api, "cancel") == []
    assert "has recall tasks you cannot see" in last_message(forged)[1]


def test_task_and_node_paths_refuse_a_task_the_agent_cannot_see(
    mocked_api, agent_client, team_admin
):
    other = make_task(13, task_name="Team B reminder")
    [node] = make_nodes(other, PENDING)

    by_button = agent_client.post(cancel_url(other), {"post": "yes"})
    by_node_button = agent_client.post(node_url(node), {"post": "yes"})
    by_action = agent_client.post(
        TASKS, {"action": "cancel_tasks", "_selected_action": [other.pk], "post": "yes"}
    )
    by_node_action = agent_client.post(
        NODES, {"action": "cancel_from_node", "_selected_action": [node.pk], "post": "yes"}
    )

    assert calls_to(mocked_api, "cancel") == []
    assert CancelAttempt.objects.filter(outcome=Outcome.SUCCEEDED).count() == 0
    assert by_button.status_code == by_node_button.status_code == 302
    # The node of a task the agent cannot see is not in their node list either.
    assert "Not stopped: this row no longer exists." in last_message(by_node_action)[1]
    assert "Team B" not in last_message(by_node_action)[1]
    assert by_action.status_code == 302


HIDDEN_KEY = 7013


def lists_parent_after_a_fault(mocked_api) -> None:
    """queryPage fails once (the admin's lookup), then lists a visible task and one of
    another team that the mirror does not hold yet (the service's lookup)."""
    mocked_api.post(api_url("queryPage"), json=envelope(None, -1, "system busy"), match=[signed])
    lists_parent(
        mocked_api,
        (12, PARENT, "Team A reminder", PENDING),
        (HIDDEN_KEY, PARENT, "Team B secret", PENDING),
        times=1,
    )
    for key in (12, HIDDEN_KEY):
        add_detail(mocked_api, key, PENDING)
    add_cancel(mocked_api, 2, PARENT)


def assert_refused_naming_no_hidden_task(mocked_api, response) -> None:
    assert calls_to(mocked_api, "cancel") == []
    row = CancelAttempt.objects.get()
    assert row.outcome == Outcome.REFUSED
    assert row.request_body is None
    assert row.task_key_id in (12, None)
    for value in (row.error_detail, row.response_message, str(row.task_key_id)):
        assert str(HIDDEN_KEY) not in value and "Team B" not in value
    level, text = last_message(response)
    assert level == levels.ERROR
    assert "has recall tasks you cannot see" in text
    assert str(HIDDEN_KEY) not in text and "Team B" not in text


def test_the_typed_form_refuses_when_the_admins_lookup_failed_and_the_services_finds_a_hidden_task(
    mocked_api, agent_client, team_admin
):
    make_task(12, parent_task_id=PARENT, task_name="Team A reminder")
    lists_parent_after_a_fault(mocked_api)

    response = agent_client.post(BY_PARENT, {"parent_task_id": PARENT, "post": "yes"})

    assert response.status_code == 302
    assert_refused_naming_no_hidden_task(mocked_api, response)


def test_the_list_action_refuses_when_the_admins_lookup_failed_and_the_services_finds_a_hidden_task(
    mocked_api, agent_client, team_admin
):
    mine = make_task(12, parent_task_id=PARENT, task_name="Team A reminder")
    lists_parent_after_a_fault(mocked_api)

    response = confirm(agent_client, mine)

    assert response.status_code == 302
    assert_refused_naming_no_hidden_task(mocked_api, response)


def test_the_parent_form_offers_no_hidden_task_as_did_you_mean(
    mocked_api, agent_client, team_admin
):
    make_task(HIDDEN_KEY, parent_task_id=PARENT, task_name="Team B secret")
    lists_parent(mocked_api, times=1)

    html = agent_client.post(BY_PARENT, {"parent_task_id": HIDDEN_KEY}).content.decode()

    assert "did you mean" not in html and "Team B" not in html
