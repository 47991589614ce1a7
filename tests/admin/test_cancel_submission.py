"""One confirmation, one submission: the confirmation form carries a one-time token, and a
repeated POST of it (double click, browser resend, back and resubmit) starts nothing and
is told, as information, what became of the first."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.messages import constants as levels

from laaffic_recall.models import CancelAttempt, CancelSubmission, Outcome
from tests.support.admin import TASKS, cancel_url, last_message
from tests.support.mirror import make_task
from tests.support.vendor import CANCELLED, PENDING, add_cancel, add_detail, calls_to

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'<input type="hidden" name="submission_token" value="([0-9a-f-]{36})">')


def token_of(html: str) -> str:
    [token] = TOKEN.findall(html)
    return token


def test_each_confirmation_page_carries_a_new_token_and_the_script(agent_client):
    task = make_task(12)
    first = agent_client.get(cancel_url(task)).content.decode()
    second = agent_client.get(cancel_url(task)).content.decode()

    assert token_of(first) != token_of(second)
    assert "laaffic_recall/confirm.js" in first
    assert 'data-sending="Sending to LAAFFIC…"' in first
    assert CancelSubmission.objects.count() == 0  # a GET claims nothing


def test_a_second_post_of_the_same_confirmation_sends_nothing_and_repeats_the_result(
    mocked_api, agent_client
):
    task = make_task(12)
    token = token_of(agent_client.get(cancel_url(task)).content.decode())
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)
    form = {"post": "yes", "reason": "ticket 5", "submission_token": token}

    first = agent_client.post(cancel_url(task), form)
    again = agent_client.post(cancel_url(task), form)

    assert len(calls_to(mocked_api, "cancel")) == 1
    assert CancelAttempt.objects.count() == 1  # no "refused: already in progress" row
    assert last_message(first)[0] == levels.SUCCESS
    level, text = last_message(again)
    assert level == levels.INFO
    assert "already sent" in text and "nothing was sent again" in text
    assert "Stopped: LAAFFIC now shows it Cancelled" in text
    row = CancelSubmission.objects.get()
    assert f"?correlation_id={row.correlation_id}" in text
    assert CancelAttempt.objects.get().correlation_id == row.correlation_id


def test_a_post_while_the_first_is_in_progress_says_so_and_sends_nothing(mocked_api, agent_client):
    task = make_task(12)
    token = uuid.uuid4()
    CancelSubmission.objects.create(token=token, username="agent")

    response = agent_client.post(cancel_url(task), {"post": "yes", "submission_token": str(token)})

    assert response.status_code == 302
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0
    level, text = last_message(response)
    assert (
        level == levels.INFO
        and "Its result appears in the audit log as soon as LAAFFIC answers" in text
    )


def test_the_action_confirmation_is_one_time_too(mocked_api, agent_client):
    task = make_task(12)
    page = agent_client.post(
        TASKS, {"action": "cancel_tasks", "index": 0, "_selected_action": [task.pk]}
    )
    form = {
        "action": "cancel_tasks",
        "_selected_action": [task.pk],
        "post": "yes",
        "submission_token": token_of(page.content.decode()),
    }
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)

    agent_client.post(TASKS, form)
    again = agent_client.post(TASKS, form)

    assert len(calls_to(mocked_api, "cancel")) == 1
    assert last_message(again)[0] == levels.INFO
    assert CancelAttempt.objects.get().outcome == Outcome.SUCCEEDED


@pytest.mark.parametrize("again", ["task page", "list action"])
def test_the_confirmation_reached_again_after_a_cancel_shows_that_result_not_an_error(
    mocked_api, agent_client, again
):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)
    page = agent_client.get(cancel_url(task)).content.decode()
    agent_client.post(cancel_url(task), {"post": "yes", "submission_token": token_of(page)})

    if again == "task page":  # the browser's Back to the confirmation
        html = agent_client.get(cancel_url(task)).content.decode()
    else:  # the list's action form sent again (Back, then "resubmit")
        form = {"action": "cancel_tasks", "index": 0, "_selected_action": [task.pk]}
        html = agent_client.post(TASKS, form).content.decode()

    assert "This cancel was already sent, at " in html
    assert "Stopped: LAAFFIC now shows it Cancelled, read at " in html
    assert "errornote" not in html and "laaffic-confirm-button" not in html
    assert len(calls_to(mocked_api, "cancel")) == 1
