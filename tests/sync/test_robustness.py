"""A sync survives what it cannot store or a host cannot handle: broken ``task_synced``
receivers, one bad record in a page, unexpected exceptions; configuration still stops it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from responses import matchers

from laaffic_recall.cancel import CancelTarget
from laaffic_recall.cancel import service as cancel_service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.cancel.reconcile import on_task_synced
from laaffic_recall.client import ConfigurationError
from laaffic_recall.conf import remote_timezone
from laaffic_recall.models import CancelAttempt, Outcome, RecallNode, RecallTask
from laaffic_recall.signals import task_synced
from laaffic_recall.sync import service as sync
from tests.support.mirror import make_task
from tests.support.vendor import CANCELLED, PENDING, add_cancel, add_detail, api_url, sent_bodies

pytestmark = pytest.mark.django_db

DAY = datetime(2024, 5, 18, tzinfo=UTC)
TWO_DAYS = DAY + timedelta(days=2)
RECONCILE_UID = "laaffic_recall.reconcile_cancels"


def broken_receiver(sender, task, **kwargs):
    raise RuntimeError(f"host receiver broke on {task.key_id}")


@pytest.fixture
def broken_host_receiver():
    """A host project's receiver that always raises, connected after the app's own."""
    task_synced.connect(broken_receiver, sender=RecallTask, dispatch_uid="test.broken")
    yield
    task_synced.disconnect(sender=RecallTask, dispatch_uid="test.broken")


@pytest.fixture
def broken_receiver_first():
    """The broken receiver connected *before* the app's reconcile receiver."""
    task_synced.disconnect(sender=RecallTask, dispatch_uid=RECONCILE_UID)
    task_synced.connect(broken_receiver, sender=RecallTask, dispatch_uid="test.broken")
    task_synced.connect(on_task_synced, sender=RecallTask, dispatch_uid=RECONCILE_UID)
    yield
    task_synced.disconnect(sender=RecallTask, dispatch_uid="test.broken")


def receiver_errors(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "laaffic_recall" and "task_synced receiver" in r.getMessage()
    ]


# --------------------------------------------------------------------------- receivers


def test_a_broken_receiver_neither_stops_a_sync_nor_loses_its_pages(
    fake, broken_host_receiver, caplog
):
    fake.add_task(1, created="2024-05-18 10:00:00")
    fake.add_task(2, created="2024-05-19 10:00:00")  # the second window

    summary = sync.sync_tasks(DAY, TWO_DAYS, workers=1)

    assert summary.ok and summary.pages_fetched == 2 and summary.details_fetched == 2
    assert RecallNode.objects.filter(task__key_id__in=[1, 2]).count() == 6
    errors = receiver_errors(caplog)
    assert len(errors) == 2 and {r.levelno for r in errors} == {logging.ERROR}
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in errors)
    assert "broken_receiver" in errors[0].getMessage()


def test_the_apps_reconcile_still_runs_after_a_receiver_that_failed_before_it(
    mocked_api, broken_receiver_first
):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body="<html>502</html>", status=502)
    add_detail(mocked_api, 12, PENDING)
    cancel_service.cancel([CancelTarget.for_task(task)], Submission(username="agent"))
    assert CancelAttempt.objects.get().outcome == Outcome.UNKNOWN

    add_detail(mocked_api, 12, CANCELLED, nodes=((101, CANCELLED),))
    sync.sync_task_details([12])

    attempt = CancelAttempt.objects.get()
    assert attempt.outcome == Outcome.SUCCEEDED and attempt.confirmed_by_reread


def test_a_broken_receiver_does_not_leave_an_accepted_cancel_pending(
    mocked_api, broken_host_receiver
):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED, nodes=((101, CANCELLED),))

    report = cancel_service.cancel([CancelTarget.for_task(task)], Submission(username="agent"))

    assert sent_bodies(mocked_api) == [{"type": 1, "id": 12}]
    assert report.results[0].outcome == Outcome.SUCCEEDED
    attempt = CancelAttempt.objects.get()
    assert attempt.outcome == Outcome.SUCCEEDED and attempt.mirror_confirmed
    assert RecallTask.objects.get(key_id=12).status == CANCELLED


# --------------------------------------------------------------------------- bad records


def test_one_record_the_database_refuses_does_not_sink_its_page(fake):
    for key in (1, 2, 3):
        fake.add_task(key, created=datetime(2024, 5, 18, 8, key))
    fake.tasks[2].task_id = 2**70  # a parent task id beyond any integer column

    summary = sync.sync_tasks(DAY, DAY + timedelta(days=1), workers=1)

    assert [(f.what, f.key) for f in summary.failures] == [("task", "2")]
    assert sorted(RecallTask.objects.values_list("key_id", flat=True)) == [1, 3]
    assert RecallNode.objects.filter(task__key_id__in=[1, 3]).count() == 6
    assert summary.tasks_created == 2 and summary.details_fetched == 2
    assert sorted(fake.detail_keys()) == [1, 3]  # the refused record's detail is not read


def test_a_refused_record_keeps_its_stored_row_and_the_others_are_updated(fake):
    for key in (1, 2):
        fake.add_task(key, created=datetime(2024, 5, 18, 8, key))
    sync.sync_tasks(DAY, DAY + timedelta(days=1))
    before = RecallTask.objects.values().get(key_id=2)
    fake.tasks[1].finish_num = fake.tasks[2].finish_num = 1
    fake.tasks[2].task_id = 2**70

    summary = sync.sync_tasks(DAY, DAY + timedelta(days=1))

    assert [(f.what, f.key) for f in summary.failures] == [("task", "2")]
    assert RecallTask.objects.get(key_id=1).finish_num == 1
    assert RecallTask.objects.values().get(key_id=2) == before


def test_an_unexpected_exception_on_one_page_is_counted_and_the_next_window_read(mocked_api):
    def page(day: str, **answer):
        window = {"strTime": f"{day} 00:00:00", "endTime": f"{day} 23:59:59"}
        mocked_api.post(
            api_url("queryPage"),
            match=[matchers.json_params_matcher({"params": window}, strict_match=False)],
            **answer,
        )

    page("2024-05-18", body=ValueError("invalid literal for int() with base 10: '¹'"))
    record = {"keyId": 7, "taskId": 5, "taskName": "a", "createTime": "2024-05-19 08:00:00"}
    data = {"total": 1, "size": 100, "current": 1, "pages": 1, "records": [record]}
    page("2024-05-19", json={"code": 0, "msg": "ok", "data": data})
    add_detail(mocked_api, 7, PENDING)

    summary = sync.sync_tasks(DAY, TWO_DAYS, workers=1)

    ((what, key, message),) = [(f.what, f.key, f.message) for f in summary.failures]
    assert what == "page" and key.startswith("2024-05-18 00:00:00") and "ValueError" in message
    assert list(RecallTask.objects.values_list("key_id", flat=True)) == [7]
    assert RecallNode.objects.filter(task__key_id=7).count() == 1


def test_an_unexpected_exception_reading_one_detail_is_counted(mocked_api, fake):
    fake.add_task(1)
    fake.add_task(2, created="2024-05-18 11:00:00")
    mocked_api.replace(  # a queryDetail that explodes inside the HTTP stack
        "POST", api_url("queryDetail"), body=ValueError("unexpected inside requests")
    )

    summary = sync.sync_tasks(DAY, DAY + timedelta(days=1), workers=2)

    assert sorted(f.key for f in summary.failures) == ["1", "2"]
    assert all("ValueError" in f.message for f in summary.failures)
    assert RecallTask.objects.count() == 2  # the list records are stored all the same


# --------------------------------------------------------------------------- time zone


def test_an_unknown_remote_time_zone_fails_a_sync_fast_with_the_hint(fake, laaffic_settings):
    laaffic_settings["REMOTE_TIMEZONE"] = "Asia/Shangai"
    fake.add_task(1)

    with pytest.raises(ConfigurationError) as caught:
        sync.sync_tasks(DAY, DAY + timedelta(days=1))

    assert "'Asia/Shangai'" in str(caught.value)
    assert "LAAFFIC_RECALL['REMOTE_TIMEZONE']" in str(caught.value)
    assert fake.calls == []


@pytest.mark.parametrize("value", ["Asia/Shangai", "", "../etc/passwd", None, 8])
def test_remote_tz_raises_the_clients_configuration_error(laaffic_settings, value):
    laaffic_settings["REMOTE_TIMEZONE"] = value

    with pytest.raises(ConfigurationError):
        remote_timezone()


def test_remote_tz_accepts_a_zone_name_or_a_tzinfo(laaffic_settings):
    laaffic_settings["REMOTE_TIMEZONE"] = "Asia/Shanghai"
    assert str(remote_timezone()) == "Asia/Shanghai"
    laaffic_settings["REMOTE_TIMEZONE"] = UTC
    assert remote_timezone() is UTC
