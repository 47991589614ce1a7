"""Refresh where the doubt is: the task page's "Refresh from LAAFFIC" button, what a
refresh says it settled, and no Cancel button while a cancel of the task is unsure."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import time_format

from laaffic_recall.admin.refresh import join_sentences
from laaffic_recall.models import CancelAttempt, CancelType, Outcome, SyncRun, SyncTrigger
from laaffic_recall.verify import verify_chain
from tests.support.admin import TASKS, logged_in, task_url
from tests.support.audit import attempt_on, raw_sql
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import CANCELLED, PENDING, add_detail

pytestmark = pytest.mark.django_db

STARTED = timezone.now().replace(hour=14, minute=2) - timedelta(days=1)


def refresh_url(task) -> str:
    return reverse("admin:laaffic_recall_recalltask_refresh", args=[task.pk])


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def clock(value) -> str:
    """A time of day as the pages write it (``{{ value|time }}``)."""
    return time_format(timezone.template_localtime(value))


def unknown_cancel(task):
    task.cancel_in_doubt = True
    task.save()
    return attempt_on(
        task, CancelType.TASK, task.key_id, Outcome.UNKNOWN, started_at=STARTED, request_body={}
    )


def test_the_task_page_offers_refresh_to_whoever_may_view_it(viewer_client):
    task = make_task(12)
    html = viewer_client.get(task_url(task)).content.decode()

    assert re.search(rf'<form method="post" action="{refresh_url(task)}"', html)
    assert "Refresh from LAAFFIC" in html and "Cancel this task" not in html


def test_a_get_of_the_refresh_url_changes_nothing(mocked_api, viewer_client):
    task = make_task(12)
    response = viewer_client.get(refresh_url(task))
    assert response.status_code == 302 and response.url == task_url(task)
    assert len(mocked_api.calls) == 0


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_refresh_of_a_task_not_here_goes_back_to_the_list_and_says_so(
    mocked_api, viewer_client, method
):
    url = reverse("admin:laaffic_recall_recalltask_refresh", args=[987654])
    response = getattr(viewer_client, method)(url)
    assert response.status_code == 302 and response.url == TASKS
    assert texts(response) == [
        "There is no recall task with id “987654” here; it may have been removed."
    ]
    assert len(mocked_api.calls) == 0


def test_while_a_cancel_is_unsure_the_cancel_buttons_give_way_to_refresh(agent_client):
    task = make_task(12)
    make_nodes(task, PENDING, PENDING)
    unknown_cancel(task)

    html = agent_client.get(task_url(task)).content.decode()

    assert "Cancel this task" not in html and "Cancel from here" not in html
    assert f"Not known yet whether the cancel of {clock(STARTED)} stopped the calls." in html
    assert "Refresh from LAAFFIC" in html


@pytest.mark.parametrize(
    ("state", "outcome", "said"),
    [
        (
            PENDING,
            Outcome.FAILED,
            "had no effect: the task is still Pending; you can cancel it again.",
        ),
        (CANCELLED, Outcome.SUCCEEDED, "did stop the calls."),
    ],
)
def test_a_refresh_on_the_task_page_settles_an_unknown_cancel_and_says_so(
    mocked_api, viewer_client, audit_chain_key, state, outcome, said
):
    task = make_task(12)
    attempt = unknown_cancel(task)
    add_detail(mocked_api, 12, state)

    response = viewer_client.post(refresh_url(task))

    assert response.status_code == 302 and response.url == task_url(task)
    assert CancelAttempt.objects.get(pk=attempt.pk).outcome == outcome
    [message] = texts(response)
    assert f"The cancel of {clock(STARTED)} (task #12) {said}" in message
    assert "Nothing had changed" not in message
    settled = CancelAttempt.objects.get(pk=attempt.pk)
    assert settled.chain_seq is not None  # settled by the refresh, so linked into the chain
    assert verify_chain(record=False).ok


def test_the_list_action_says_what_it_settled_too(mocked_api, viewer_client):
    task = make_task(12)
    unknown_cancel(task)
    add_detail(mocked_api, 12, PENDING)

    response = viewer_client.post(
        TASKS, {"action": "refresh_tasks", "index": 0, "_selected_action": [task.pk]}
    )

    [message] = texts(response)
    assert "had no effect: the task is still Pending; you can cancel it again." in message


def test_both_refreshes_are_recorded_as_admin_refresh_sync_runs(mocked_api, viewer_client):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_detail(mocked_api, 12, PENDING)

    viewer_client.post(refresh_url(task))
    viewer_client.post(
        TASKS, {"action": "refresh_tasks", "index": 0, "_selected_action": [task.pk]}
    )

    runs = list(SyncRun.objects.order_by("id"))
    assert [run.trigger for run in runs] == [SyncTrigger.REFRESH, SyncTrigger.REFRESH]
    assert all(run.ok and run.details_fetched == 1 for run in runs)


def test_a_refresh_does_not_settle_a_cancel_changed_outside_the_app_and_says_why(
    mocked_api, viewer_client, audit_chain_key
):
    task = make_task(12)
    attempt = unknown_cancel(task)
    raw_sql(f"UPDATE {CancelAttempt._meta.db_table} SET username = 'director'")
    add_detail(mocked_api, 12, CANCELLED)

    response = viewer_client.post(refresh_url(task))

    assert CancelAttempt.objects.get(pk=attempt.pk).outcome == Outcome.UNKNOWN
    [message] = texts(response)
    assert (
        f"Whether the cancel of {clock(STARTED)} (task #12) stopped the calls is not known, "
        "and this app will not settle it: its audit record was changed outside the app. "
        "LAAFFIC shows the task Cancelled; ask an administrator to check the audit log."
    ) in message


# --------------------------------------------------------------------------- not known yet


def outcome_url(attempt) -> str:
    return reverse("admin:laaffic_recall_recalltask_attempt_outcome", args=[attempt.pk])


def test_not_known_yet_is_one_short_sentence_with_one_instruction(agent_client):
    task = make_task(12)
    unknown_cancel(task)
    html = agent_client.get(task_url(task)).content.decode()
    box = re.search(r'<div class="laaffic-not-known-yet".*?</div>', html, re.S).group(0)
    words = re.sub(r"<[^>]+>", " ", box).split()
    assert len(words) <= 30, words
    assert box.count("Refresh from LAAFFIC") == 2  # the instruction and its button
    assert "in a minute" not in box
    assert f'data-outcome-url="{outcome_url(CancelAttempt.objects.get())}"' in box


def test_the_outcome_poll_says_not_known_then_what_laaffic_showed(mocked_api, viewer_client):
    task = make_task(12)
    attempt = unknown_cancel(task)
    assert viewer_client.get(outcome_url(attempt)).json() == {"known": False}

    add_detail(mocked_api, 12, CANCELLED)
    viewer_client.post(refresh_url(task))

    answer = viewer_client.get(outcome_url(attempt)).json()
    assert answer["known"] is True
    assert f"The cancel of {clock(STARTED)} stopped the calls" in answer["html"]
    assert len(mocked_api.calls) == 1  # the poll itself never asks LAAFFIC


def test_the_outcome_poll_of_a_task_the_user_may_not_see_is_not_found(client, mocked_api):
    task = make_task(12)
    attempt = unknown_cancel(task)
    stranger = logged_in(client, "stranger")
    assert stranger.get(outcome_url(attempt)).status_code in (302, 404)


def test_refresh_beside_the_sentence_settles_and_returns_to_the_page(mocked_api, viewer_client):
    task = make_task(12)
    attempt = unknown_cancel(task)
    add_detail(mocked_api, 12, CANCELLED)
    url = reverse("admin:laaffic_recall_recalltask_refresh_attempt", args=[attempt.pk])

    response = viewer_client.post(url, {"next": task_url(task)})

    assert response.status_code == 302 and response.url == task_url(task)
    assert CancelAttempt.objects.get(pk=attempt.pk).outcome == Outcome.SUCCEEDED
    response = viewer_client.post(url, {"next": "https://elsewhere.example/"})
    assert response.url == TASKS


def test_a_refresh_moves_the_task_pages_clock(mocked_api, viewer_client):
    task = make_task(12, synced_at=timezone.now() - timedelta(minutes=13))
    add_detail(mocked_api, 12, PENDING)
    before = viewer_client.get(task_url(task)).content.decode()
    assert re.search(r"Last read from LAAFFIC 13(\xa0|&nbsp;)minutes ago", before)

    viewer_client.post(refresh_url(task))

    after = viewer_client.get(task_url(task)).content.decode()
    assert "Last read from LAAFFIC less than a minute ago (" in after


def test_sentences_follow_each_other_as_each_language_writes_them():
    assert join_sentences(["Refreshed 1 task.", "Nothing had changed."]) == (
        "Refreshed 1 task. Nothing had changed."
    )
    assert join_sentences(["已从 LAAFFIC 刷新 1 个任务。", "没有变化。"]) == (
        "已从 LAAFFIC 刷新 1 个任务。没有变化。"
    )
