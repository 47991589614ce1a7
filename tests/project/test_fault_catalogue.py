"""Fault-catalogue cases followed through the services, not only the client: a malformed
200 answer to a cancel, a database error after LAAFFIC accepted a cancel up to the sync
that settles it, and a bad configuration met by a sync and a cancel."""

from __future__ import annotations

import html
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from laaffic_recall import models
from laaffic_recall.cancel import CancelTarget, Submission, cancel
from laaffic_recall.client import ConfigurationError
from laaffic_recall.client.wire import EXCERPT_CHARS
from laaffic_recall.models import CancelAttempt, Outcome, RecallTask
from laaffic_recall.sync import service as sync
from tests.support.admin import TASKS, last_message
from tests.support.audit import refuse_attempt_updates
from tests.support.mirror import make_task
from tests.support.vendor import (
    CANCELLED,
    PENDING,
    add_cancel,
    add_detail,
    calls_to,
)

pytestmark = pytest.mark.django_db


def submission() -> Submission:
    return Submission(username="agent", reason="ticket 9")


# --------------------------------------------------------------------------- malformed 200


MALFORMED = [
    pytest.param(b"OK", "OK", id="plain-text"),
    pytest.param(b"<html><body>Proxy says hi</body></html>", "Proxy says hi", id="html"),
    pytest.param(b"", "", id="empty"),
    pytest.param(b"[0, 1]", "[0, 1]", id="json-array"),
    pytest.param(b"0", "0", id="json-scalar"),
    pytest.param(b"\xff\xfe not utf-8", "not utf-8", id="not-utf-8"),
    pytest.param(b"y" * 5000, "larger than 4000 bytes", id="huge"),
]


@pytest.mark.parametrize(("body", "shown"), MALFORMED)
def test_a_malformed_200_to_a_cancel_is_unknown_re_read_and_capped(
    mocked_api, laaffic_settings, body, shown
):
    laaffic_settings["MAX_RESPONSE_BYTES"] = 4000
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body=body, status=200, content_type="text/plain")
    add_detail(mocked_api, 12, PENDING)

    report = cancel([CancelTarget.for_task(task)], submission())

    assert len(calls_to(mocked_api, "cancel")) == 1  # never resent
    assert len(calls_to(mocked_api, "queryDetail")) == 2  # the fresh read, the re-read
    attempt = CancelAttempt.objects.get()
    assert attempt.outcome == Outcome.UNKNOWN
    assert attempt.http_status == 200
    assert shown in attempt.error_detail
    assert "A re-read right after shows it Pending." in attempt.error_detail
    assert len(attempt.error_detail) < 2 * EXCERPT_CHARS + 400  # an excerpt, not the body
    [result] = report.results
    assert result.outcome == Outcome.UNKNOWN and result.task_keys == (12,)
    assert (attempt.first_outcome, attempt.settled_by) == (Outcome.UNKNOWN, "")


def test_a_malformed_200_then_a_re_read_showing_cancelled_is_succeeded(mocked_api):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body=b"OK", status=200)
    add_detail(mocked_api, 12, CANCELLED)

    [result] = cancel([CancelTarget.for_task(task)], submission()).results

    attempt = CancelAttempt.objects.get()
    assert (attempt.outcome, attempt.confirmed_by_reread) == (Outcome.SUCCEEDED, True)
    assert "A re-read right after shows it Cancelled." in attempt.error_detail
    assert result.ok and (attempt.first_outcome, attempt.settled_by) == (Outcome.UNKNOWN, "reread")


def test_a_malformed_200_through_the_admin_tells_the_agent_the_outcome_is_unknown(
    mocked_api, agent_client
):
    task = make_task(12, task_name="Spring")
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body=b"<html>proxy page</html>", status=200)
    add_detail(mocked_api, 12, PENDING)

    response = agent_client.post(
        TASKS, {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"}
    )

    _level, text = last_message(response)
    assert text.startswith('<span class="laaffic-cancel-headline">1 recall task not known yet.')
    assert "#12 Spring</a>" in text and "Not known yet whether the cancel of" in text
    assert "proxy page" in text.split("<details", 1)[1]  # the odd answer, behind details
    assert CancelAttempt.objects.get().outcome == Outcome.UNKNOWN


# --------------------------------------------------------------------------- DB error, then sync


def test_a_database_error_after_an_accepted_cancel_is_settled_by_the_next_sync(
    mocked_api, monkeypatch
):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)

    with connection.execute_wrapper(refuse_attempt_updates):
        [result] = cancel([CancelTarget.for_task(task)], submission()).results

    assert result.recorded is False
    attempt = CancelAttempt.objects.get()
    assert attempt.outcome == Outcome.PENDING  # committed before the call, survives

    # Later, once the row is older than STALE_ATTEMPT_SECONDS (its worker gone), the next
    # sync of the task (here a refresh) reads it Cancelled and settles the row.
    monkeypatch.setattr(models, "stale_cutoff", lambda: timezone.now() + timedelta(seconds=1))
    add_detail(mocked_api, 12, CANCELLED)
    sync.sync_task_details([12])

    attempt.refresh_from_db()
    assert attempt.outcome == Outcome.SUCCEEDED
    assert attempt.confirmed_by_reread is True
    assert "Settled by the sync" in attempt.error_detail
    assert len(calls_to(mocked_api, "cancel")) == 1  # nothing was resent
    task.refresh_from_db()
    assert task.status == CANCELLED and task.cancel_in_doubt is False


# --------------------------------------------------------------------------- configuration


BAD_CONFIGURATION = [
    pytest.param({"PRODUCT": "fax"}, "Unknown LAAFFIC product 'fax'", id="product"),
    pytest.param({"BASE_URL": "ftp://laaffic.test"}, "is not an http(s) URL", id="base-url-scheme"),
    pytest.param({"BASE_URL": "laaffic.test"}, "is not an http(s) URL", id="base-url-bare"),
]


@pytest.mark.parametrize(("change", "hint"), BAD_CONFIGURATION)
def test_a_sync_with_a_bad_configuration_fails_fast_with_the_hint(
    mocked_api, laaffic_settings, change, hint
):
    laaffic_settings.update(change)

    with pytest.raises(ConfigurationError) as caught:
        sync.sync_recent(days=1)
    assert hint in str(caught.value)
    with pytest.raises(CommandError) as caught:
        call_command("laaffic_sync", "--days", "1", stdout=StringIO(), stderr=StringIO())
    assert hint in str(caught.value)
    assert len(mocked_api.calls) == 0 and not RecallTask.objects.exists()


@pytest.mark.parametrize(("change", "hint"), BAD_CONFIGURATION)
def test_a_cancel_with_a_bad_configuration_fails_fast_with_the_hint(
    mocked_api, laaffic_settings, agent_client, change, hint
):
    task = make_task(12, task_name="Spring")
    laaffic_settings.update(change)

    [result] = cancel([CancelTarget.for_task(task)], submission()).results
    assert result.outcome == Outcome.FAILED and hint in result.technical()

    response = agent_client.post(
        TASKS, {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"}
    )
    _level, text = last_message(response)
    assert hint in html.unescape(text)
    assert len(mocked_api.calls) == 0
    for attempt in CancelAttempt.objects.all():
        assert attempt.outcome == Outcome.FAILED and attempt.request_body is None
