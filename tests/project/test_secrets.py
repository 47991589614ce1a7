"""The API secret and every ``Sign`` value never reach a log record (at any level), an
exception's text, a message or page shown to an agent, the database (``dumpdata``), a
command's output, or Django's error report of an exception raised inside the client or a
cancel."""

from __future__ import annotations

import logging
from io import StringIO

import pytest
import requests
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.db import DatabaseError
from django.views.debug import ExceptionReporter

from laaffic_recall.cancel import CancelTarget, Submission, cancel, remote
from laaffic_recall.client import LaafficError
from laaffic_recall.client import http as client_http
from laaffic_recall.conf import get_client
from laaffic_recall.models import CancelAttempt, RecallTask
from laaffic_recall.sync.service import sync_task_details
from tests.support.admin import BY_PARENT, TASKS
from tests.support.mirror import make_task
from tests.support.vendor import (
    CANCELLED,
    COMPLETED,
    PENDING,
    SECRET,
    add_cancel,
    add_cancel_callback,
    add_detail,
    add_detail_failure,
    add_page,
    envelope,
)

pytestmark = pytest.mark.django_db

FORMATTER = logging.Formatter("%(name)s %(levelname)s %(message)s")


@pytest.fixture
def every_record(caplog):
    """Every record of every logger at DEBUG, the app's own included (the bundled site
    keeps ``laaffic_recall`` at WARNING, so lowering the root alone would hide them)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="laaffic_recall")
    return caplog


def record_texts(caplog) -> list[str]:
    """Each record as a handler would write it, traceback and extra fields included."""
    texts = []
    for record in caplog.records:
        texts.append(FORMATTER.format(record))
        texts.append(repr(record.args))
        texts.append(repr(vars(record)))
    return texts


def signs_sent(mocked_api) -> set[str]:
    return {call.request.headers["Sign"] for call in mocked_api.calls}


def leaks(texts, signs) -> list[str]:
    """The texts that hold the secret or one of the ``Sign`` values sent."""
    secrets = [SECRET, *signs]
    return [text for text in texts if any(secret in text for secret in secrets)]


def database_dump() -> str:
    out = StringIO()
    call_command("dumpdata", "laaffic_recall", "auth.user", stdout=out)
    return out.getvalue()


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.django_db(transaction=True)
def test_a_day_of_syncs_cancels_and_refreshes_leaves_no_secret_anywhere(
    mocked_api, every_record, agent_client
):
    texts: list[str] = []

    # A sync: one page of five tasks, a detail each, one detail failing with HTTP 500.
    add_page(mocked_api, *[(k, 500 + k, f"Task {k}", PENDING) for k in (12, 13, 14, 15, 16)])
    for key in (12, 13, 14, 15):
        add_detail(mocked_api, key, PENDING, nodes=((key * 10, PENDING),))
    add_detail_failure(mocked_api, 16, times=20)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):  # the sync ends with one failure
        call_command("laaffic_sync", "--days", "1", stdout=out, stderr=err)
    texts += [out.getvalue(), err.getvalue()]
    assert RecallTask.objects.count() == 5

    # Through the admin: a cancel LAAFFIC accepts, one it refuses (code -1).
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)
    add_detail(mocked_api, 13, PENDING)
    add_cancel(mocked_api, 1, 13, json=envelope(None, code=-1, msg="sign error"))
    add_detail(mocked_api, 13, PENDING)
    tasks = RecallTask.objects.filter(key_id__in=[12, 13]).order_by("key_id")
    response = agent_client.post(
        TASKS,
        {"action": "cancel_tasks", "_selected_action": [t.pk for t in tasks], "post": "yes"},
        follow=True,
    )
    texts += [*messages_of(response), response.content.decode()]

    # Through the service: one never sent (connection refused), one whose outcome is
    # unknown (read timeout, the re-read fails too), one that explodes in the transport.
    add_detail(mocked_api, 14, PENDING)
    add_cancel(
        mocked_api, 1, 14, body=requests.ConnectionError(ConnectionRefusedError(111, "refused"))
    )
    add_detail(mocked_api, 15, PENDING)
    add_cancel(mocked_api, 1, 15, body=requests.ReadTimeout("timed out"))
    add_detail_failure(mocked_api, 15, times=3)
    make_task(17)
    add_detail(mocked_api, 17, PENDING)

    def explode(request):
        raise RuntimeError("inside the transport")

    add_cancel_callback(mocked_api, 1, 17, explode)
    add_detail(mocked_api, 17, PENDING)
    report = cancel(
        [CancelTarget(1, 14), CancelTarget(1, 15), CancelTarget(1, 17)],
        Submission(username="bot", reason="ticket 7"),
    )
    texts += [r.technical() + r.detail for r in report.results] + [repr(report)]
    outcomes = set(CancelAttempt.objects.values_list("outcome", flat=True))
    assert outcomes == {"succeeded", "refused", "failed", "unknown"}

    # A refresh from the admin, and a parent task id typed by hand.
    add_detail(mocked_api, 14, PENDING)
    response = agent_client.post(
        TASKS,
        {
            "action": "refresh_tasks",
            "_selected_action": [RecallTask.objects.get(key_id=14).pk],
        },
        follow=True,
    )
    texts += [*messages_of(response), response.content.decode()]
    response = agent_client.post(BY_PARENT, {"parent_task_id": "999"}, follow=True)
    texts += [*messages_of(response), response.content.decode()]

    # Pages an agent reads afterwards, the audit rows, and every log record.
    for attempt in CancelAttempt.objects.all():
        page = agent_client.get(f"/admin/laaffic_recall/cancelattempt/{attempt.pk}/change/")
        texts.append(page.content.decode())
    texts.append(database_dump())
    texts += record_texts(every_record)

    signs = signs_sent(mocked_api)
    assert signs  # one per second of the run
    assert any(
        r.name == "laaffic_recall" and r.levelno == logging.INFO for r in every_record.records
    )
    assert leaks(texts, signs) == []


def test_the_check_fails_when_the_client_logs_its_secret_at_debug(
    mocked_api, every_record, monkeypatch
):
    """A line like this in the client is caught: the test above can fail."""
    real_sign = client_http.sign

    def chatty_sign(api_key, api_secret, timestamp):
        value = real_sign(api_key, api_secret, timestamp)
        logging.getLogger("laaffic_recall").debug(
            "signing %s with %s: %s", api_key, api_secret, value
        )
        return value

    monkeypatch.setattr(client_http, "sign", chatty_sign)
    add_detail(mocked_api, 12, PENDING)
    sync_task_details([12])

    found = leaks(record_texts(every_record), signs_sent(mocked_api))
    assert found and any("DEBUG signing test-key" in text for text in found)


def test_the_check_fails_when_get_client_logs_its_options(mocked_api, every_record, monkeypatch):
    real_client = client_http.LaafficClient

    def chatty(**options):
        logging.getLogger("laaffic_recall").debug("client options %s", options)
        return real_client(**options)

    monkeypatch.setattr("laaffic_recall.conf.LaafficClient", chatty)
    get_client().close()

    assert leaks(record_texts(every_record), set())


# --------------------------------------------------------------------------- error reports


def raised_by(call) -> tuple:
    """The exception ``call()`` raises, as ``sys.exc_info()`` (its traceback starts here)."""
    try:
        call()
    except Exception as exc:
        return type(exc), exc, exc.__traceback__
    raise AssertionError("nothing was raised")


def error_report(exc_info) -> str:
    """Django's error report as mailed to the site's admins: text and HTML."""
    reporter = ExceptionReporter(None, *exc_info, is_email=True)
    return reporter.get_traceback_text() + reporter.get_traceback_html()


@pytest.fixture
def production(settings):
    """Django cleanses error reports only with DEBUG off, as in production."""
    settings.DEBUG = False
    return settings


def test_the_error_report_of_a_failure_inside_the_client_holds_no_secret(
    production, mocked_api, monkeypatch
):
    # An exception from deep in the signing (as MD5 on a FIPS host raised before it was
    # declared not for security): its frames hold the secret and the signed headers.
    def refuse(*args, **kwargs):
        raise ValueError("md5 disabled")

    monkeypatch.setattr(client_http, "sign", lambda key, secret, ts: refuse(key, secret, ts))
    client = get_client()
    with pytest.raises(LaafficError) as caught:
        client.query_detail(12)
    report = error_report((caught.type, caught.value, caught.tb))
    assert "ValueError" in str(caught.value) and "query_detail" in report
    assert SECRET not in report


def test_the_error_report_of_a_transport_explosion_holds_no_sign(production, mocked_api):
    def explode(request):
        raise RuntimeError("inside the HTTP stack")

    add_cancel_callback(mocked_api, 1, 12, explode)
    client = get_client()
    with pytest.raises(LaafficError) as caught:
        client.cancel(1, 12)
    report = error_report((caught.type, caught.value, caught.tb))
    signs = signs_sent(mocked_api)
    assert signs and "RuntimeError" in report
    assert leaks([report], signs) == []


def test_the_error_report_of_a_configuration_error_in_get_client_holds_no_secret(
    production, laaffic_settings
):
    laaffic_settings["BASE_URL"] = "ftp://laaffic.test"
    del laaffic_settings  # the report shows this frame too: no dict with the secret in it
    report = error_report(raised_by(get_client))
    assert "get_client" in report and "options" in report
    assert SECRET not in report


def test_the_error_report_of_a_cancel_logged_with_its_traceback_holds_no_secret(
    production, mocked_api, every_record, monkeypatch
):
    """What a host's AdminEmailHandler on the app's logger would mail: the record the
    cancel service logs with ``logger.exception`` when what the fresh read found (the task
    no longer Pending) cannot be stored (the signed client is in the frames' locals)."""
    make_task(12)
    add_detail(mocked_api, 12, COMPLETED)

    def store_fails(fetched):
        raise DatabaseError("the database went away")

    monkeypatch.setattr(remote, "store_details", store_fails)
    cancel([CancelTarget(1, 12)], Submission(username="bot"))

    with_traceback = [r for r in every_record.records if r.exc_info]
    assert [r.exc_info[0] for r in with_traceback] == [DatabaseError]
    report = error_report(with_traceback[0].exc_info)
    assert "the database went away" in report and "client" in report
    assert leaks([report], signs_sent(mocked_api)) == []
