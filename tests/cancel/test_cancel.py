"""The cancel service: fresh check, audit row first, one call, every outcome, the mirror after."""

from __future__ import annotations

import ssl
from datetime import datetime, timedelta

import pytest
import requests
from django.contrib.auth import get_user_model
from django.db import DatabaseError, OperationalError, connection
from django.utils import timezone
from responses import matchers

from laaffic_recall.cancel import BatchTooLarge, CancelTarget, audit, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.client.wire import parse_detail, sign
from laaffic_recall.models import (
    CancelAttempt,
    CancelType,
    NotSent,
    Outcome,
    RecallNode,
    RecallTask,
)
from laaffic_recall.signals import cancel_attempted
from laaffic_recall.sync import service as sync
from laaffic_recall.sync.mirror import FetchedDetail, store_details
from tests.support.audit import message, refuse_attempt_updates, run_verify
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    PENDING,
    SECRET,
    add_cancel,
    add_cancel_callback,
    add_detail,
    add_detail_failure,
    api_url,
    calls_to,
    detail_data,
    envelope,
    page_of,
    sent_bodies,
    signed,
    tls_error,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(db):
    return get_user_model().objects.create_user("agent", is_staff=True)


@pytest.fixture
def submission(agent):
    return Submission(user=agent, username="agent", client_ip="10.0.0.9", reason="ticket 42")


def only_attempt() -> CancelAttempt:
    [attempt] = CancelAttempt.objects.all()
    return attempt


# --------------------------------------------------------------------------- type 1


def test_task_cancel_end_to_end_records_the_attempt_and_mirrors_the_result(mocked_api, submission):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED, nodes=((101, CANCELLED),))

    report = service.cancel([CancelTarget.for_task(task)], submission)

    assert sent_bodies(mocked_api) == [{"type": 1, "id": 12}]
    [result] = report.results
    assert result.outcome == Outcome.SUCCEEDED and result.ok
    assert result.task_keys == (12,) and result.mirror_confirmed is True
    attempt = only_attempt()
    assert attempt.outcome == Outcome.SUCCEEDED
    assert (attempt.cancel_type, attempt.target_id) == (CancelType.TASK, 12)
    assert (attempt.response_code, attempt.response_message, attempt.http_status) == (
        0,
        "success",
        200,
    )
    assert attempt.request_body == {"type": 1, "id": 12}
    assert attempt.task == task and attempt.task_key_id == 12
    assert (attempt.user.username, attempt.username) == ("agent", "agent")
    assert (attempt.client_ip, attempt.reason) == ("10.0.0.9", "ticket 42")
    assert attempt.correlation_id == submission.correlation_id == report.correlation_id
    assert attempt.mirror_confirmed is True
    assert attempt.finished_at is not None and attempt.duration is not None
    task.refresh_from_db()
    assert (task.status, task.unconfirmed, task.cancel_in_doubt) == (CANCELLED, False, False)
    assert RecallNode.objects.get(key_id=101).status == CANCELLED


def test_stale_mirror_does_not_cause_a_call_when_laaffic_says_not_pending(mocked_api, submission):
    task = make_task(12, status=PENDING)  # the mirror still thinks it is Pending
    add_detail(mocked_api, 12, IN_PROGRESS)

    report = service.cancel([CancelTarget.for_task(task)], submission)

    assert calls_to(mocked_api, "cancel") == []
    attempt = only_attempt()
    assert attempt.outcome == Outcome.SKIPPED
    assert "In progress" in attempt.error_detail
    assert attempt.seen_status == IN_PROGRESS  # what LAAFFIC showed, to word it later
    assert attempt.request_body is None
    assert report.results[0].outcome == Outcome.SKIPPED
    assert report.results[0].task_keys == ()  # the request covered no task
    task.refresh_from_db()
    assert task.status == IN_PROGRESS  # the fresh read was mirrored


def test_one_target_per_distinct_id_in_one_submission(mocked_api, submission):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)

    report = service.cancel([CancelTarget.for_task(task)] * 3, submission)

    assert len(report.results) == 1
    assert len(calls_to(mocked_api, "cancel")) == 1


# --------------------------------------------------------------------------- type 3


def test_node_cancel_sends_the_node_key_and_mirrors_the_later_nodes(mocked_api, submission):
    task = make_task(12)
    nodes = make_nodes(task, COMPLETED, PENDING, PENDING)
    add_detail(mocked_api, 12, PENDING, nodes=((101, COMPLETED), (102, PENDING), (103, PENDING)))
    add_cancel(mocked_api, 3, 102)
    add_detail(
        mocked_api, 12, PENDING, nodes=((101, COMPLETED), (102, CANCELLED), (103, CANCELLED))
    )

    report = service.cancel([CancelTarget.for_node(nodes[1])], submission)

    assert sent_bodies(mocked_api) == [{"type": 3, "id": 102}]
    assert report.results[0].outcome == Outcome.SUCCEEDED
    attempt = only_attempt()
    assert (attempt.node.key_id, attempt.task.key_id, attempt.task_key_id) == (102, 12, 12)
    statuses = dict(RecallNode.objects.values_list("key_id", "status"))
    assert statuses == {101: COMPLETED, 102: CANCELLED, 103: CANCELLED}
    assert attempt.mirror_confirmed is True


def test_a_node_cancel_names_every_round_it_stopped(mocked_api, submission):
    task = make_task(12)
    nodes = make_nodes(task, COMPLETED, PENDING, PENDING, PENDING, first_key=314048)
    before = ((314048, COMPLETED), (314049, PENDING), (314050, PENDING), (314051, PENDING))
    after = ((314048, COMPLETED), (314049, CANCELLED), (314050, CANCELLED), (314051, CANCELLED))
    add_detail(mocked_api, 12, PENDING, nodes=before)
    add_cancel(mocked_api, 3, 314049)
    add_detail(mocked_api, 12, PENDING, nodes=after)

    report = service.cancel([CancelTarget.for_node(nodes[1])], submission)

    [result] = report.results
    assert result.covered_nodes == ((2, 314049), (3, 314050), (4, 314051))
    assert result.outcome == Outcome.SUCCEEDED


def test_a_node_cancel_of_the_last_round_names_that_round(mocked_api, submission):
    task = make_task(12)
    nodes = make_nodes(task, COMPLETED, PENDING)
    add_detail(mocked_api, 12, PENDING, nodes=((101, COMPLETED), (102, PENDING)))
    add_cancel(mocked_api, 3, 102)
    add_detail(mocked_api, 12, PENDING, nodes=((101, COMPLETED), (102, CANCELLED)))

    report = service.cancel([CancelTarget.for_node(nodes[1])], submission)

    assert report.results[0].covered_nodes == ((2, 102),)


@pytest.mark.parametrize(
    ("task_status", "remote_nodes", "why", "node_kept"),
    [
        pytest.param(IN_PROGRESS, ((101, IN_PROGRESS),), "In progress", True, id="not pending"),
        # The fresh read deletes the node from the mirror; the audit row survives it.
        pytest.param(PENDING, ((555, PENDING),), "no longer lists", False, id="gone from the list"),
    ],
)
def test_a_node_no_longer_pending_or_gone_from_the_list_is_skipped(
    mocked_api, submission, task_status, remote_nodes, why, node_kept
):
    task = make_task(12)
    [node] = make_nodes(task, PENDING)
    add_detail(mocked_api, 12, task_status, nodes=remote_nodes)

    service.cancel([CancelTarget.for_node(node)], submission)

    assert calls_to(mocked_api, "cancel") == []
    attempt = only_attempt()
    assert attempt.outcome == Outcome.SKIPPED and why in attempt.error_detail
    assert attempt.target_id == 101
    assert attempt.node == (node if node_kept else None)


# --------------------------------------------------------------------------- type 2


def test_parent_id_typed_by_hand_is_looked_up_mirrored_checked_then_cancelled(
    mocked_api, submission, settings
):
    parent = 2024051800123

    def window(request):
        params = requests.compat.json.loads(request.body)["params"]
        start = datetime.strptime(params["strTime"], "%Y-%m-%d %H:%M:%S")
        end = datetime.strptime(params["endTime"], "%Y-%m-%d %H:%M:%S")
        ok = params["taskName"] == str(parent) and (end - start) >= timedelta(days=30)
        return ok, "" if ok else f"unexpected lookup {params}"

    mocked_api.post(
        api_url("queryPage"),
        json=page_of((77, parent, "Spring campaign", PENDING), (78, 9120240518001230, "x", 0)),
        match=[signed, window],
    )
    add_detail(mocked_api, 77, PENDING)
    add_cancel(mocked_api, 2, parent)
    add_detail(mocked_api, 77, CANCELLED)

    report = service.cancel([CancelTarget(CancelType.PARENT, parent)], submission)

    assert sent_bodies(mocked_api) == [{"type": 2, "id": parent}]
    assert report.results[0].outcome == Outcome.SUCCEEDED
    task = RecallTask.objects.get(key_id=77)
    assert (task.parent_task_id, task.task_name, task.status) == (
        parent,
        "Spring campaign",
        CANCELLED,
    )
    assert not RecallTask.objects.filter(key_id=78).exists()  # a fuzzy name match, not ours
    attempt = only_attempt()
    assert (attempt.cancel_type, attempt.target_id, attempt.task) == (2, parent, task)


def test_a_parent_lookup_keeps_a_fresher_detail_stored_while_the_page_was_in_flight(
    mocked_api,
):
    parent = 2024051800123

    def page(request):
        # A cancel's re-read stores task 77 Cancelled while this (older) page travels.
        now = timezone.now()
        store_details([FetchedDetail(parse_detail(detail_data(77, CANCELLED)), now, now)])
        return 200, {}, requests.compat.json.dumps(page_of((77, parent, "Spring", PENDING)))

    mocked_api.add_callback("POST", api_url("queryPage"), callback=page, match=[signed])

    lookup = service.look_up_parent(parent)

    assert not lookup.error
    task = RecallTask.objects.get(key_id=77)
    assert [t.key_id for t in lookup.tasks] == [77]
    assert task.status == CANCELLED  # the list record, older than the detail, lost
    assert lookup.tasks[0].status == CANCELLED


def test_a_parent_lookup_mirrors_new_tasks_and_updates_known_ones(mocked_api):
    parent = 2024051800123
    make_task(77, parent_task_id=parent, task_name="old name")
    mocked_api.post(
        api_url("queryPage"),
        json=page_of((77, parent, "new name", PENDING), (79, parent, "other", IN_PROGRESS)),
        match=[signed],
    )

    lookup = service.look_up_parent(parent)

    names = dict(RecallTask.objects.values_list("key_id", "task_name"))
    assert names == {77: "new name", 79: "other"}
    assert sorted(t.key_id for t in lookup.tasks) == [77, 79]
    assert RecallTask.objects.get(key_id=79).status == IN_PROGRESS


def test_parent_id_not_found_is_skipped_without_a_call(mocked_api, submission):
    mocked_api.post(api_url("queryPage"), json=page_of(), match=[signed])

    report = service.cancel([CancelTarget(CancelType.PARENT, 31337)], submission)

    assert calls_to(mocked_api, "cancel") == []
    assert report.results[0].outcome == Outcome.SKIPPED
    assert only_attempt().not_sent == NotSent.NO_TASKS
    assert "parent task id 31337" in message(only_attempt())


def test_parent_of_mirrored_tasks_checks_their_details_not_the_list(mocked_api, submission):
    task = make_task(12, parent_task_id=555)
    add_detail(mocked_api, 12, COMPLETED)

    service.cancel([CancelTarget.for_parent(555, [task])], submission)

    assert calls_to(mocked_api, "queryPage") == [] and calls_to(mocked_api, "cancel") == []
    assert only_attempt().outcome == Outcome.SKIPPED


# --------------------------------------------------------------------------- outcomes


CREDENTIALS_STEP = "credentials or allowed IPs of this site need fixing; tell your administrator"
CLOCK_STEP = "this site's clock is off; tell your administrator; nothing was stopped"


@pytest.mark.parametrize(
    ("body", "code", "hint_words", "step"),
    [
        ({"code": -1, "msg": "auth fail"}, -1, "API key and secret", CREDENTIALS_STEP),
        ({"code": -2, "msg": "ip not allowed"}, -2, "allow-list", CREDENTIALS_STEP),
        ({"code": -16, "msg": "timestamp expired"}, -16, "clock", CLOCK_STEP),
        (
            {"code": -18, "msg": "port program unusual"},
            -18,
            "try again later",
            "LAAFFIC had a problem; try again in a minute",
        ),
        (
            {"code": -22, "msg": "parameter exception"},
            -22,
            "parameters",
            "LAAFFIC refused the request; refresh the task to see its state",
        ),
        (
            {"code": -99, "msg": "something new"},
            -99,
            "",
            "refresh the task to see its state, and tell your administrator if it happens",
        ),
        ({"status": "-16", "reason": "Timestamp expired", "data": None}, -16, "clock", CLOCK_STEP),
    ],
)
def test_every_refusal_is_recorded_verbatim_with_the_hint(
    mocked_api, submission, body, code, hint_words, step
):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, json=body)
    add_detail(mocked_api, 12, PENDING)  # the re-read after a refusal

    report = service.cancel([CancelTarget.for_task(task)], submission)

    attempt = only_attempt()
    message = body.get("msg", body.get("reason"))
    assert attempt.outcome == Outcome.REFUSED
    assert (attempt.response_code, attempt.response_message) == (code, message)
    assert attempt.http_status == 200
    assert hint_words in attempt.error_detail
    assert attempt.mirror_confirmed is True
    [result] = report.results
    assert (result.response_code, result.response_message) == (code, message)
    assert step.lower() in result.vendor_next_step.lower()  # the agent's next step
    assert hint_words in result.technical()  # the developer's hint, behind "details"
    assert len(calls_to(mocked_api, "cancel")) == 1
    assert len(calls_to(mocked_api, "queryDetail")) == 2


def test_html_502_is_unknown_stays_unknown_when_the_reread_shows_pending(mocked_api, submission):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body="<html><h1>502 Bad Gateway</h1></html>", status=502)
    add_detail(mocked_api, 12, PENDING)

    report = service.cancel([CancelTarget.for_task(task)], submission)

    attempt = only_attempt()
    assert attempt.outcome == Outcome.UNKNOWN
    assert attempt.http_status == 502 and attempt.response_code is None
    assert "502 Bad Gateway" in attempt.error_detail
    assert "shows it Pending" in attempt.error_detail
    assert len(calls_to(mocked_api, "cancel")) == 1  # never resent
    assert report.results[0].outcome == Outcome.UNKNOWN
    assert report.results[0].task_keys == (12,)  # it may have reached LAAFFIC
    task.refresh_from_db()
    assert task.cancel_in_doubt is True and task.status == PENDING


def test_read_timeout_is_unknown_then_succeeded_when_the_reread_shows_cancelled(
    mocked_api, submission
):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body=requests.ReadTimeout("read timed out"))
    add_detail(mocked_api, 12, CANCELLED)

    report = service.cancel([CancelTarget.for_task(task)], submission)

    attempt = only_attempt()
    assert attempt.outcome == Outcome.SUCCEEDED
    assert attempt.confirmed_by_reread is True
    assert attempt.response_code is None
    assert "Cancelled" in attempt.error_detail
    assert report.results[0].confirmed_by_reread
    assert len(calls_to(mocked_api, "cancel")) == 1
    task.refresh_from_db()
    assert task.cancel_in_doubt is False


def test_read_timeout_with_a_failing_reread_stays_unknown(mocked_api, submission):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body=requests.ReadTimeout("read timed out"))
    add_detail_failure(mocked_api, 12)

    service.cancel([CancelTarget.for_task(task)], submission)

    attempt = only_attempt()
    assert attempt.outcome == Outcome.UNKNOWN and attempt.mirror_confirmed is False
    assert "failed too" in attempt.error_detail
    task.refresh_from_db()
    assert task.status == PENDING and not task.unconfirmed  # nothing assumed


CERT_FAILED = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate")
BAD_RECORD = ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] bad record mac")


@pytest.mark.parametrize(
    "failure",
    [
        requests.ConnectionError(ConnectionRefusedError(111, "Connection refused")),
        requests.ConnectTimeout("connect timed out"),
        tls_error(CERT_FAILED),
    ],
    ids=["refused", "connect-timeout", "tls-certificate"],
)
def test_not_reaching_laaffic_is_failed_and_not_reread(mocked_api, submission, failure):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body=failure)

    report = service.cancel([CancelTarget.for_task(task)], submission)

    attempt = only_attempt()
    assert attempt.outcome == Outcome.FAILED
    assert attempt.request_body == {"type": 1, "id": 12}
    assert attempt.mirror_confirmed is None
    assert len(calls_to(mocked_api, "queryDetail")) == 1
    [result] = report.results
    assert result.outcome == Outcome.FAILED and not (result.hint or result.configuration)
    task.refresh_from_db()
    assert task.cancel_in_doubt is False


def test_a_tls_error_other_than_the_certificate_check_may_have_been_sent(mocked_api, submission):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body=tls_error(BAD_RECORD))
    add_detail(mocked_api, 12, PENDING)

    report = service.cancel([CancelTarget.for_task(task)], submission)

    attempt = only_attempt()
    assert attempt.outcome == Outcome.UNKNOWN
    assert len(calls_to(mocked_api, "cancel")) == 1  # never resent
    assert len(calls_to(mocked_api, "queryDetail")) == 2  # re-read at once
    assert report.results[0].outcome == Outcome.UNKNOWN


def test_http_429_on_cancel_is_failed_not_retried(mocked_api, submission):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body="slow down", status=429, headers={"Retry-After": "1"})

    service.cancel([CancelTarget.for_task(task)], submission)

    attempt = only_attempt()
    assert (attempt.outcome, attempt.http_status) == (Outcome.FAILED, 429)
    assert len(calls_to(mocked_api, "cancel")) == 1


def test_freshness_read_failure_sends_nothing(mocked_api, submission):
    task = make_task(12)
    mocked_api.post(
        api_url("queryDetail"), json={"code": -16, "msg": "timestamp expired"}, match=[signed]
    )

    report = service.cancel([CancelTarget.for_task(task)], submission)

    assert calls_to(mocked_api, "cancel") == []
    attempt = only_attempt()
    assert attempt.outcome == Outcome.FAILED and attempt.not_sent == NotSent.UNREADABLE
    assert "timestamp expired" in attempt.error_detail and "sent" not in attempt.error_detail
    assert message(attempt).startswith(
        "Not sent by this app: it could not be re-read from LAAFFIC first. Error: LAAFFIC "
    )
    # Behind "details", worded as the audit log words the row.
    assert report.results[0].technical().startswith(message(attempt)[:60])
    assert "clock" in report.results[0].technical()
    assert report.results[0].hint  # this site's settings: the admin says "tell your administrator"


def test_missing_credentials_fail_fast_with_the_hint_and_no_call(mocked_api, submission, settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "API_SECRET": ""}
    task = make_task(12)

    report = service.cancel([CancelTarget.for_task(task)], submission)

    assert len(mocked_api.calls) == 0
    attempt = only_attempt()
    assert attempt.outcome == Outcome.FAILED and "API_SECRET" in attempt.error_detail
    assert attempt.not_sent == NotSent.SETTINGS
    assert message(attempt).startswith(
        "Not sent by this app: its LAAFFIC settings are incomplete; tell your administrator. "
        "Error: "
    )
    assert "API_SECRET" in report.results[0].technical()  # behind "details"
    assert report.results[0].configuration


# --------------------------------------------------------------------------- mirror after


def test_success_with_a_failing_reread_marks_the_task_unconfirmed(mocked_api, submission):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail_failure(mocked_api, 12)

    report = service.cancel([CancelTarget.for_task(task)], submission)

    attempt = only_attempt()
    assert attempt.outcome == Outcome.SUCCEEDED and attempt.mirror_confirmed is False
    task.refresh_from_db()
    assert (task.status, task.unconfirmed) == (CANCELLED, True)
    assert report.results[0].mirror_confirmed is False

    # The next sync confirms (or corrects) the assumption.
    add_detail(mocked_api, 12, CANCELLED)
    sync.sync_task_details([12])
    task.refresh_from_db()
    assert (task.status, task.unconfirmed) == (CANCELLED, False)


def test_node_success_with_a_failing_reread_marks_it_and_later_pending_nodes(
    mocked_api, submission
):
    task = make_task(12)
    nodes = make_nodes(task, COMPLETED, PENDING, PENDING, PENDING)
    add_detail(
        mocked_api,
        12,
        PENDING,
        nodes=((101, COMPLETED), (102, PENDING), (103, PENDING), (104, PENDING)),
    )
    add_cancel(mocked_api, 3, 103)
    add_detail_failure(mocked_api, 12)

    service.cancel([CancelTarget.for_node(nodes[2])], submission)

    rows = {n.key_id: (n.status, n.unconfirmed) for n in RecallNode.objects.all()}
    assert rows == {
        101: (COMPLETED, False),
        102: (PENDING, False),
        103: (CANCELLED, True),
        104: (CANCELLED, True),
    }


# --------------------------------------------------------------------------- audit first


def test_an_unexpected_exception_from_the_call_still_finishes_the_row(mocked_api, submission):
    task = make_task(12)

    def explode(request):
        raise RuntimeError("boom inside the transport")

    add_detail(mocked_api, 12, PENDING)
    add_cancel_callback(mocked_api, 1, 12, explode)
    add_detail(mocked_api, 12, PENDING)

    report = service.cancel([CancelTarget.for_task(task)], submission)

    attempt = only_attempt()
    assert attempt.outcome == Outcome.UNKNOWN
    assert "RuntimeError" in attempt.error_detail
    assert attempt.finished_at is not None
    assert report.results[0].outcome == Outcome.UNKNOWN


def test_database_error_after_the_vendor_accepted_leaves_the_pending_row(mocked_api, submission):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)

    with connection.execute_wrapper(refuse_attempt_updates):
        report = service.cancel([CancelTarget.for_task(task)], submission)

    assert len(calls_to(mocked_api, "cancel")) == 1
    attempt = only_attempt()
    assert attempt.outcome == Outcome.PENDING  # committed before the call, still there
    assert attempt.request_body == {"type": 1, "id": 12}
    [result] = report.results
    assert result.outcome == Outcome.SUCCEEDED and result.recorded is False
    # What the re-read found is not lost with the row: the mirror shows it.
    task.refresh_from_db()
    assert task.status == CANCELLED and task.unconfirmed is False
    assert task.cancel_in_doubt is True  # the open row keeps it for the next sync


def refuse_detail_writes(execute, sql, params, many, context):
    """A database execute wrapper that fails every write of a task's detail."""
    if sql.lstrip().upper().startswith("UPDATE") and "detail_raw" in sql:
        raise OperationalError("disk full")
    return execute(sql, params, many, context)


def test_a_close_that_fails_after_the_row_is_linked_links_it_again_apart(
    mocked_api, submission, audit_chain_key, monkeypatch, capsys
):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)
    settle, failures = audit.settle_doubt, []

    def settle_fails_once(*args, **kwargs):  # after the row's link, in the same transaction
        if not failures:
            failures.append(1)
            raise DatabaseError("lost the connection")
        return settle(*args, **kwargs)

    monkeypatch.setattr(audit, "settle_doubt", settle_fails_once)
    [result] = service.cancel([CancelTarget.for_task(task)], submission).results

    attempt = only_attempt()
    assert failures and result.recorded and attempt.outcome == Outcome.SUCCEEDED
    assert attempt.chain_seq == 1  # linked by the write that kept it
    _out, problem = run_verify(capsys)
    assert problem is None, problem
    task.refresh_from_db()
    assert task.cancel_in_doubt is False


def test_a_mirror_that_cannot_store_the_reread_does_not_keep_the_row_open(mocked_api, submission):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)

    with connection.execute_wrapper(refuse_detail_writes):
        [result] = service.cancel([CancelTarget.for_task(task)], submission).results

    attempt = only_attempt()
    assert attempt.outcome == Outcome.SUCCEEDED and result.recorded is True
    assert attempt.mirror_confirmed is False and result.mirror_confirmed is False
    assert attempt.error_detail == (
        "The re-read after the cancel failed: the mirror could not be updated (database error)"
    )
    task.refresh_from_db()
    # Marked as LAAFFIC should now be, until a sync confirms it; no doubt left.
    assert (task.status, task.unconfirmed, task.cancel_in_doubt) == (CANCELLED, True, False)


# --------------------------------------------------------------------------- in flight


def in_flight_cancel_of_task_12(**fields) -> CancelAttempt:
    """A whole-task cancel of task 12 that has not finished (recorded by its key only)."""
    return CancelAttempt.objects.create(
        cancel_type=CancelType.TASK, target_id=12, task_key_id=12, outcome=Outcome.PENDING, **fields
    )


def test_a_second_attempt_while_one_is_in_flight_sends_nothing(mocked_api, submission):
    task = make_task(12)
    other = in_flight_cancel_of_task_12(username="other")

    report = service.cancel([CancelTarget.for_task(task)], submission)

    assert len(mocked_api.calls) == 0  # refused before the fresh read
    refused = CancelAttempt.objects.get(outcome=Outcome.REFUSED)
    assert refused.response_code is None and refused.request_body is None
    assert (refused.not_sent, refused.blocked_by, refused.error_detail) == (
        NotSent.IN_FLIGHT,
        other.pk,
        "",
    )
    assert message(refused) == (
        f"Not sent by this app: another cancel of this task was in flight (attempt #{other.pk})."
    )
    assert refused.task == task and refused.task_key_id == 12
    [result] = report.results
    assert result.in_flight and result.blocked_by.username == "other"
    assert result.blocked_by.attempt_id == other.pk


def test_a_stale_in_flight_row_becomes_unknown_and_asks_for_a_refresh(
    mocked_api, submission, settings
):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "STALE_ATTEMPT_SECONDS": 60}
    task = make_task(12)
    dead = in_flight_cancel_of_task_12(started_at=timezone.now() - timedelta(minutes=5))

    report = service.cancel([CancelTarget.for_task(task)], submission)

    assert len(mocked_api.calls) == 0
    assert report.results[0].in_doubt
    dead.refresh_from_db()
    assert dead.outcome == Outcome.UNKNOWN
    assert "worker most likely stopped" in dead.error_detail

    # A refresh settles it from the real state; then the task can be cancelled again.
    add_detail(mocked_api, 12, PENDING)
    sync.sync_task_details([12])
    dead.refresh_from_db()
    assert dead.outcome == Outcome.FAILED and dead.confirmed_by_reread
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)
    again = service.cancel([CancelTarget.for_task(task)], submission)
    assert again.results[0].outcome == Outcome.SUCCEEDED


# --------------------------------------------------------------------------- batch, signal


def test_more_targets_than_the_cap_are_refused_before_anything_happens(
    mocked_api, submission, settings
):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "MAX_CANCEL_BATCH": 2}
    targets = [CancelTarget(CancelType.TASK, k) for k in (1, 2, 3)]
    with pytest.raises(BatchTooLarge) as info:
        service.cancel(targets, Submission())
    assert (info.value.count, info.value.limit) == (3, 2)
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


def test_cancel_attempted_is_sent_once_per_finished_attempt(mocked_api, submission):
    received = []

    def listener(sender, attempt, **kwargs):
        received.append((sender, attempt.target_id, attempt.outcome, attempt.pk))

    cancel_attempted.connect(listener)
    try:
        a, b = make_task(12), make_task(13)
        add_detail(mocked_api, 12, PENDING)
        add_cancel(mocked_api, 1, 12)
        add_detail(mocked_api, 12, CANCELLED)
        add_detail(mocked_api, 13, COMPLETED)
        service.cancel([CancelTarget.for_task(a), CancelTarget.for_task(b)], submission)
    finally:
        cancel_attempted.disconnect(listener)

    rows = dict(CancelAttempt.objects.values_list("target_id", "pk"))
    assert sorted(received) == [
        (CancelAttempt, 12, Outcome.SUCCEEDED, rows[12]),
        (CancelAttempt, 13, Outcome.SKIPPED, rows[13]),
    ]


def test_a_failing_signal_receiver_does_not_break_the_cancel(mocked_api, submission):
    def broken(sender, attempt, **kwargs):
        raise RuntimeError("chat is down")

    cancel_attempted.connect(broken)
    try:
        task = make_task(12)
        add_detail(mocked_api, 12, PENDING)
        add_cancel(mocked_api, 1, 12)
        add_detail(mocked_api, 12, CANCELLED)
        report = service.cancel([CancelTarget.for_task(task)], submission)
    finally:
        cancel_attempted.disconnect(broken)
    [result] = report.results
    assert (result.outcome, result.recorded) == (Outcome.SUCCEEDED, True)
    attempt = only_attempt()
    assert attempt.outcome == Outcome.SUCCEEDED and attempt.finished_at is not None
    assert attempt.response_code == 0 and attempt.mirror_confirmed is True


@pytest.mark.parametrize("bad", [0, -5, 2**63, "12", 1.5, True, None])
def test_targets_validate_their_id(bad):
    with pytest.raises(ValueError, match="cancel id must be a positive 64-bit integer"):
        CancelTarget(CancelType.TASK, bad)


@pytest.mark.parametrize("bad_type", [0, 4, -1])
def test_targets_validate_their_type(bad_type):
    with pytest.raises(ValueError, match="cancel type must be 1, 2 or 3"):
        CancelTarget(bad_type, 12)


# --------------------------------------------------------------------------- secrets


def test_no_secret_or_sign_in_audit_rows(mocked_api, submission):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body="<html>bad gateway</html>", status=502)
    add_detail(mocked_api, 12, PENDING)
    service.cancel([CancelTarget.for_task(task)], submission)

    signs = {c.request.headers["Sign"] for c in mocked_api.calls}
    row = repr(list(CancelAttempt.objects.values()))
    assert SECRET not in row
    assert not any(s in row for s in signs)
    assert sign("test-key", SECRET, "0")[:8] not in row


def test_requests_are_signed_and_bodies_exact(mocked_api, submission):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    mocked_api.post(
        api_url("cancel"),
        json=envelope(None),
        match=[
            signed,
            matchers.json_params_matcher({"type": 1, "id": 12}, strict_match=True),
            matchers.header_matcher({"Api-Key": "test-key"}),
        ],
    )
    add_detail(mocked_api, 12, CANCELLED)
    report = service.cancel([CancelTarget.for_task(task)], submission)
    assert report.results[0].outcome == Outcome.SUCCEEDED
