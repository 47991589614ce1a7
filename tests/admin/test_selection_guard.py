"""A change-list POST whose ``_selected_action`` holds a value that is no row id is sent
back to the list with a message, on every list and for every action, never a 500 nor a
traceback in the log."""

from __future__ import annotations

import logging

import pytest
from django.contrib.messages import constants as levels

from laaffic_recall.models import CancelAttempt, CancelType, Outcome
from tests.support.admin import ATTEMPTS, NODES, TASKS, last_message
from tests.support.audit import attempt_on
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import PENDING

pytestmark = pytest.mark.django_db

BAD_IDS = ["abc", "", "#42", "4.2", "\x00", "-1", "１２", "9" * 24, str(2**63)]
LISTS = [
    (ATTEMPTS, "download_csv"),
    (TASKS, "cancel_tasks"),
    (TASKS, "refresh_tasks"),
    (NODES, "cancel_from_node"),
]


@pytest.fixture
def rows():
    task = make_task(12)
    make_nodes(task, PENDING)
    attempt_on(task, CancelType.TASK, 12, Outcome.SUCCEEDED)


@pytest.mark.parametrize("confirmation", [False, True], ids=["action", "confirmation"])
@pytest.mark.parametrize(("url", "action"), LISTS)
@pytest.mark.parametrize("value", BAD_IDS)
def test_a_selected_value_that_is_no_id_is_refused_with_a_message(
    agent_client, rows, caplog, url, action, value, confirmation
):
    data = {"action": action, "_selected_action": ["1", value]}
    data.update({"post": "yes"} if confirmation else {"index": 0})
    agent_client.raise_request_exception = False

    with caplog.at_level(logging.WARNING):
        response = agent_client.post(url, data)

    assert response.status_code == 302
    assert response["Location"] == url
    level, text = last_message(response)
    assert level == levels.ERROR and "invalid id" in text
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_the_csv_action_still_answers_for_real_ids(agent_client, rows):
    pk = CancelAttempt.objects.get().pk
    response = agent_client.post(
        ATTEMPTS, {"action": "download_csv", "index": 0, "_selected_action": [str(pk)]}
    )

    assert response.status_code == 200
    assert b"".join(response.streaming_content).count(b"\n") == 2  # the header and the row
