"""The sync service: windows, paging, upserts, details, nodes, failures, query counts."""

from __future__ import annotations

import itertools
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from responses import matchers

from laaffic_recall.client import ApiError, ConfigurationError
from laaffic_recall.client.wire import parse_detail, parse_task_record
from laaffic_recall.conf import get_client
from laaffic_recall.models import CancelAttempt, CancelType, Outcome, RecallNode, RecallTask
from laaffic_recall.signals import task_synced
from laaffic_recall.sync import sync_task_details, sync_tasks
from laaffic_recall.sync.mirror import FetchedDetail, store_details, store_records
from laaffic_recall.sync.service import split_window
from tests.support.concurrency import wait_for_a_lock
from tests.support.fake_laaffic import FakeLaaffic
from tests.support.vendor import TEST_SETTINGS, api_url, load

pytestmark = pytest.mark.django_db

DAY = datetime(2024, 5, 18, tzinfo=UTC)
NEXT_DAY = DAY + timedelta(days=1)
MORNING = datetime(2024, 5, 18, 8, 0)  # naive, as the vendor writes it


def snapshot() -> tuple[list, list]:
    """Every stored column of every task and node."""
    return (
        list(RecallTask.objects.order_by("key_id").values()),
        list(RecallNode.objects.order_by("key_id").values()),
    )


def node_keys(task_key: int) -> list[int]:
    return list(
        RecallNode.objects.filter(task__key_id=task_key)
        .order_by("position")
        .values_list("key_id", flat=True)
    )


# --------------------------------------------------------------------------- windows


def test_a_week_is_split_into_seven_days_without_overlap():
    windows = split_window(DAY, DAY + timedelta(days=7))

    assert len(windows) == 7
    assert str(windows[0]) == "2024-05-18 00:00:00..2024-05-18 23:59:59"
    assert str(windows[-1]) == "2024-05-24 00:00:00..2024-05-24 23:59:59"
    for before, after in itertools.pairwise(windows):
        assert after.start - before.end == timedelta(seconds=1)


def test_the_last_window_is_cut_at_the_end_and_sizes_follow_the_setting(laaffic_settings):
    laaffic_settings["SYNC_WINDOW_HOURS"] = 12
    windows = split_window(DAY, DAY + timedelta(hours=30))

    assert [str(w) for w in windows] == [
        "2024-05-18 00:00:00..2024-05-18 11:59:59",
        "2024-05-18 12:00:00..2024-05-18 23:59:59",
        "2024-05-19 00:00:00..2024-05-19 05:59:59",
    ]


def test_windows_are_written_in_the_remote_time_zone(laaffic_settings):
    laaffic_settings["REMOTE_TIMEZONE"] = "Asia/Shanghai"
    (window,) = split_window(DAY, NEXT_DAY)

    assert str(window) == "2024-05-18 08:00:00..2024-05-19 07:59:59"


def test_until_now_includes_the_current_second_and_keeps_the_length():
    now = DAY + timedelta(hours=5, seconds=7, microseconds=400_000)
    windows = split_window(now - timedelta(days=1), now)

    assert len(windows) == 1
    # A task created at 05:00:07, the current second, is inside the window.
    assert str(windows[0]) == "2024-05-17 05:00:08..2024-05-18 05:00:07"


def test_an_empty_or_reversed_window_is_refused():
    with pytest.raises(ValueError, match="the sync window is empty"):
        split_window(DAY, DAY)
    with pytest.raises(ValueError, match="the sync window is empty"):
        split_window(NEXT_DAY, DAY)


def test_each_window_is_queried_and_times_are_stored_aware(fake, laaffic_settings):
    laaffic_settings["REMOTE_TIMEZONE"] = "Asia/Shanghai"
    fake.add_task(1, created="2024-05-18 09:00:00")  # 01:00 UTC
    fake.add_task(2, created="2024-05-19 07:59:59")  # last second of the first window
    fake.add_task(3, created="2024-05-20 12:00:00")  # third window

    summary = sync_tasks(DAY, DAY + timedelta(days=3))

    windows = [(b["params"]["strTime"], b["params"]["endTime"]) for b in fake.bodies("queryPage")]
    assert windows == [
        ("2024-05-18 08:00:00", "2024-05-19 07:59:59"),
        ("2024-05-19 08:00:00", "2024-05-20 07:59:59"),
        ("2024-05-20 08:00:00", "2024-05-21 07:59:59"),
    ]
    assert summary.windows == 3 and summary.tasks_created == 3
    assert RecallTask.objects.get(key_id=1).created_at_remote == datetime(
        2024, 5, 18, 1, 0, tzinfo=UTC
    )


# --------------------------------------------------------------------------- paging


def test_pages_are_followed_until_a_short_page(fake):
    fake.add_tasks(250, start=MORNING, step=timedelta(seconds=30))

    summary = sync_tasks(DAY, NEXT_DAY)

    pages = fake.bodies("queryPage")
    assert [(b["current"], b["size"]) for b in pages] == [(1, 100), (2, 100), (3, 100)]
    assert summary.pages_fetched == 3
    assert summary.tasks_seen == summary.tasks_created == 250
    assert RecallTask.objects.count() == 250
    assert RecallNode.objects.count() == 750


def test_paging_stops_at_the_page_count_when_the_last_page_is_full(fake):
    fake.add_tasks(200, start=MORNING, step=timedelta(seconds=30))

    sync_tasks(DAY, NEXT_DAY)

    assert [b["current"] for b in fake.bodies("queryPage")] == [1, 2]
    assert RecallTask.objects.count() == 200


def test_duplicates_across_pages_and_a_growing_total_leave_no_duplicate(fake):
    fake.add_tasks(150, start=MORNING, step=timedelta(seconds=30))

    def new_tasks_arrive(body, data):
        if body["current"] == 1:  # 30 newer tasks appear: page 2 repeats part of page 1
            fake.add_tasks(30, first=5000, start=MORNING + timedelta(hours=5), step=timedelta(1))
        return data

    fake.page_hook = new_tasks_arrive
    summary = sync_tasks(DAY, NEXT_DAY)

    assert [b["current"] for b in fake.bodies("queryPage")] == [1, 2]
    assert summary.tasks_seen == summary.tasks_created == 150
    assert RecallTask.objects.count() == 150
    assert len(fake.detail_keys()) == len(set(fake.detail_keys())) == 150


def test_an_empty_page_ends_the_window(fake):
    fake.add_tasks(300, start=MORNING, step=timedelta(seconds=30))

    def second_page_empty(body, data):
        return {**data, "records": []} if body["current"] == 2 else data

    fake.page_hook = second_page_empty
    summary = sync_tasks(DAY, NEXT_DAY)

    assert [b["current"] for b in fake.bodies("queryPage")] == [1, 2]
    assert summary.ok and RecallTask.objects.count() == 100


def test_without_a_page_count_a_repeated_page_ends_the_window(fake):
    fake.add_tasks(100, start=MORNING, step=timedelta(seconds=30))

    def no_paging_info_and_current_ignored(body, data):
        first = {**data, "current": 1, "pages": None, "total": None}
        return {**first, "records": [t.record() for t in list(fake.tasks.values())[:100]]}

    fake.page_hook = no_paging_info_and_current_ignored
    summary = sync_tasks(DAY, NEXT_DAY)

    assert [b["current"] for b in fake.bodies("queryPage")] == [1, 2]
    assert summary.tasks_seen == 100


# --------------------------------------------------------------------------- create, update


def test_the_first_sync_stores_every_field_of_tasks_and_nodes(fake):
    fake.add_task(41, created="2024-05-18 09:30:00", status=1, nodes=3, finish_num=1)
    fake.add_task(42, created="2024-05-18 09:00:00", status=2, nodes=1, recall_type=1)

    summary = sync_tasks(DAY, NEXT_DAY)

    assert summary.ok
    assert (summary.tasks_seen, summary.tasks_created, summary.tasks_updated) == (2, 2, 0)
    assert (summary.nodes_created, summary.nodes_updated, summary.nodes_removed) == (4, 0, 0)
    assert summary.details_fetched == 2
    task = RecallTask.objects.get(key_id=41)
    assert task.parent_task_id == 2024051800041
    assert task.task_name == "Campaign 41"
    assert task.created_at_remote == datetime(2024, 5, 18, 9, 30, tzinfo=UTC)
    assert (task.recall_type, task.recall_interval, task.recall_num) == (0, 30, 3)
    assert (task.finish_num, task.status) == (1, 1)
    assert task.raw == fake.tasks[41].record()
    assert task.detail_raw == fake.tasks[41].detail()
    assert task.detail_synced_at is not None and not task.unconfirmed
    nodes = list(task.nodes.order_by("position"))
    assert [n.key_id for n in nodes] == [4100, 4101, 4102]
    assert [n.position for n in nodes] == [0, 1, 2]
    assert [n.status for n in nodes] == [2, 0, 0]
    assert nodes[1].group_task_id == 3024051804101
    assert nodes[1].script_id == "tpl-1"
    assert nodes[1].raw == fake.tasks[41].nodes[1]
    assert RecallTask.objects.get(key_id=42).recall_type == 1


@pytest.mark.parametrize("envelope", ["code", "status"])
def test_a_second_identical_sync_changes_nothing(mocked_api, envelope):
    fake = FakeLaaffic(mocked_api, envelope=envelope)
    fake.add_tasks(5, start=MORNING, step=timedelta(minutes=1), status=1)
    fake.add_tasks(3, first=2000, start=MORNING, step=timedelta(minutes=1), status=2)
    sync_tasks(DAY, NEXT_DAY)
    before = snapshot()

    again = sync_tasks(DAY, NEXT_DAY)

    assert again.ok
    assert (again.tasks_seen, again.tasks_created, again.tasks_updated) == (8, 0, 0)
    assert (again.nodes_created, again.nodes_updated, again.nodes_removed) == (0, 0, 0)
    assert again.details_fetched == 5  # the unfinished ones are re-read, unchanged
    assert not again.changed
    assert snapshot() == before


def test_changes_at_laaffic_are_stored_and_counted(fake):
    fake.add_task(1, status=1)
    fake.add_task(2, status=1, created="2024-05-18 11:00:00")
    sync_tasks(DAY, NEXT_DAY)
    fake.tasks[1].finish_num = 1  # list record only
    fake.tasks[2].nodes[1]["nodeStatus"] = 1  # detail only

    summary = sync_tasks(DAY, NEXT_DAY)

    assert (summary.tasks_created, summary.tasks_updated) == (0, 2)
    assert (summary.nodes_created, summary.nodes_updated, summary.nodes_removed) == (0, 1, 0)
    assert RecallTask.objects.get(key_id=1).finish_num == 1
    assert RecallNode.objects.get(key_id=201).status == 1


# --------------------------------------------------------------------------- what is read


def test_terminal_tasks_with_synced_nodes_are_not_read_again(fake):
    fake.add_task(1, status=2)  # completed
    fake.add_task(2, status=3)  # cancelled
    fake.add_task(3, status=4)  # execution exception
    fake.add_task(4, status=1)  # in progress
    fake.add_task(5, status=0)  # pending
    sync_tasks(DAY, NEXT_DAY)
    assert fake.detail_keys() == [1, 2, 3, 4, 5]
    fake.calls.clear()

    summary = sync_tasks(DAY, NEXT_DAY)

    assert fake.detail_keys() == [4, 5]
    assert summary.details_fetched == 2


def test_a_terminal_task_with_a_cancel_in_doubt_is_read_again(fake):
    fake.add_task(1, status=3)  # cancelled, perhaps by our own unknown attempt
    fake.add_task(2, status=3)
    sync_tasks(DAY, NEXT_DAY)
    RecallTask.objects.filter(key_id=1).update(cancel_in_doubt=True)
    fake.calls.clear()

    sync_tasks(DAY, NEXT_DAY)

    assert fake.detail_keys() == [1]


def test_a_task_that_just_finished_is_read_once_more(fake):
    fake.add_task(1, status=1)
    sync_tasks(DAY, NEXT_DAY)
    fake.tasks[1].status = 2
    for node in fake.tasks[1].nodes:
        node["nodeStatus"] = 2
    fake.calls.clear()

    sync_tasks(DAY, NEXT_DAY)
    assert fake.detail_keys() == [1]
    assert set(RecallNode.objects.values_list("status", flat=True)) == {2}
    fake.calls.clear()

    sync_tasks(DAY, NEXT_DAY)
    assert fake.detail_keys() == []


def test_a_terminal_task_whose_detail_failed_is_read_next_time(fake):
    fake.add_task(1, status=2)
    fake.fail_detail(1)
    first = sync_tasks(DAY, NEXT_DAY)
    assert RecallTask.objects.get(key_id=1).detail_synced_at is None
    assert not first.ok
    fake.detail_faults.clear()
    fake.calls.clear()

    second = sync_tasks(DAY, NEXT_DAY)

    assert second.ok and fake.detail_keys() == [1]
    assert node_keys(1) == [100, 101, 102]


def test_named_tasks_are_read_even_when_terminal(fake):
    fake.add_task(1, status=2)
    fake.add_task(2, status=2, created="2020-01-01 00:00:00")  # outside the window
    sync_tasks(DAY, NEXT_DAY)
    fake.calls.clear()

    summary = sync_tasks(DAY, NEXT_DAY, key_ids=[1, 2])

    assert fake.detail_keys() == [1, 2]
    assert summary.tasks_created == 1
    assert RecallTask.objects.get(key_id=2).detail_synced_at is not None


def test_sync_task_details_reads_only_the_named_tasks(fake):
    fake.add_task(7, status=1)
    fake.add_task(8, status=1)

    summary = sync_task_details([7])

    assert fake.bodies("queryPage") == []
    assert fake.detail_keys() == [7]
    assert summary.tasks_created == 1 and summary.nodes_created == 3
    assert list(RecallTask.objects.values_list("key_id", flat=True)) == [7]


def test_task_name_is_passed_to_the_vendor_filter(fake):
    fake.add_task(1, name="Spring renewals")
    fake.add_task(2, name="Autumn survey")

    sync_tasks(DAY, NEXT_DAY, task_name="renewals")

    assert fake.bodies("queryPage")[0]["params"]["taskName"] == "renewals"
    assert list(RecallTask.objects.values_list("key_id", flat=True)) == [1]


def test_invalid_keys_and_workers_are_refused_before_any_call(fake):
    with pytest.raises(ValueError, match="a task key must be a positive 64-bit integer"):
        sync_task_details([0])
    with pytest.raises(ValueError, match="a task key must be a positive 64-bit integer"):
        sync_task_details(["12"])
    with pytest.raises(ValueError, match="workers must be at least 1"):
        sync_task_details([1], workers=0)
    assert fake.calls == []


# --------------------------------------------------------------------------- nodes


def test_reordered_nodes_move_and_vanished_nodes_are_deleted(fake):
    fake.add_task(1, nodes=4)
    sync_tasks(DAY, NEXT_DAY)
    n0, n1, n2, n3 = fake.tasks[1].nodes
    fake.tasks[1].nodes = [n3, n1, n0, {**n2, "keyId": 199}]  # 102 vanished, 199 is new

    summary = sync_tasks(DAY, NEXT_DAY)

    assert node_keys(1) == [103, 101, 100, 199]
    assert (summary.nodes_created, summary.nodes_updated, summary.nodes_removed) == (1, 2, 1)
    assert not RecallNode.objects.filter(key_id=102).exists()


def test_a_removed_node_keeps_its_audit_rows(fake):
    fake.add_task(1, nodes=2)
    sync_tasks(DAY, NEXT_DAY)
    node = RecallNode.objects.get(key_id=101)
    attempt = CancelAttempt.objects.create(
        cancel_type=CancelType.NODE,
        target_id=101,
        task=node.task,
        task_key_id=1,
        node=node,
        outcome=Outcome.REFUSED,
    )
    fake.tasks[1].nodes.pop()

    sync_tasks(DAY, NEXT_DAY)

    attempt = CancelAttempt.objects.get(pk=attempt.pk)
    assert attempt.node is None and attempt.target_id == 101 and attempt.task.key_id == 1


def test_a_fresher_stored_detail_is_not_overwritten_by_an_older_answer():
    old = parse_detail({"keyId": 5, "status": 0, "nodeList": [{"keyId": 50, "nodeStatus": 0}]})
    new = parse_detail({"keyId": 5, "status": 3, "nodeList": [{"keyId": 50, "nodeStatus": 3}]})
    asked = timezone.now()
    # A cancel's re-read, asked and stored while the sync's call was in flight:
    store_details([FetchedDetail(new, requested_at=asked, received_at=timezone.now())])

    changes = store_details([FetchedDetail(old, requested_at=asked, received_at=asked)])

    assert changes.stale == {5} and changes.stored == ()
    assert RecallTask.objects.get(key_id=5).status == 3
    assert RecallNode.objects.get(key_id=50).status == 3


def test_a_detail_clears_the_unconfirmed_marks_of_a_cancel(fake):
    fake.add_task(1, status=0)
    sync_tasks(DAY, NEXT_DAY)
    RecallTask.objects.filter(key_id=1).update(unconfirmed=True, status=3)
    RecallNode.objects.filter(key_id=100).update(unconfirmed=True, status=3)

    summary = sync_tasks(DAY, NEXT_DAY)

    task = RecallTask.objects.get(key_id=1)
    assert (task.status, task.unconfirmed) == (0, False)
    assert RecallNode.objects.filter(unconfirmed=True).count() == 0
    assert RecallNode.objects.get(key_id=100).status == 0
    assert summary.tasks_updated == 1 and summary.nodes_updated == 1


# --------------------------------------------------------------------------- failures


def test_a_failing_detail_amid_good_ones_is_reported_and_leaves_its_rows(fake):
    for key in range(1, 6):
        fake.add_task(key, status=1, created=MORNING + timedelta(minutes=key))
    sync_tasks(DAY, NEXT_DAY)
    for task in fake.tasks.values():
        task.nodes[1]["nodeStatus"] = 1
    fake.fail_detail(3, code=-22, msg="parameter exception")
    fake.break_detail(4, http_status=502)
    fake.calls.clear()
    before = list(RecallNode.objects.filter(task__key_id__in=[3, 4]).order_by("key_id").values())

    summary = sync_tasks(DAY, NEXT_DAY)

    assert not summary.ok
    failures = {f.key: f for f in summary.failures}
    assert set(failures) == {"3", "4"}
    assert failures["3"].what == "detail" and "-22" in failures["3"].message
    assert "502" in failures["4"].message
    assert fake.detail_keys().count(4) == 1 + TEST_SETTINGS["READ_RETRIES"]
    assert summary.nodes_updated == 3 and summary.details_fetched == 3
    after = list(RecallNode.objects.filter(task__key_id__in=[3, 4]).order_by("key_id").values())
    assert after == before
    assert RecallNode.objects.get(key_id=501).status == 1
    assert TEST_SETTINGS["API_SECRET"] not in "".join(str(f) for f in summary.failures)


def test_a_failing_page_is_reported_and_the_other_pages_are_stored(fake):
    fake.add_tasks(250, start=MORNING, step=timedelta(seconds=30))
    fake.fail_page("2024-05-18 00:00:00", 2, code=-18)

    summary = sync_tasks(DAY, NEXT_DAY)

    assert [b["current"] for b in fake.bodies("queryPage")] == [1, 2, 3]
    ((what, key, message),) = [(f.what, f.key, f.message) for f in summary.failures]
    assert what == "page" and key.endswith("page 2") and "-18" in message
    assert RecallTask.objects.count() == 150
    assert summary.details_fetched == 150


def test_a_refused_signature_on_the_first_call_stops_the_run(fake, laaffic_settings):
    laaffic_settings["API_SECRET"] = "not-the-secret"
    fake.add_task(1)

    with pytest.raises(ApiError) as caught:
        sync_tasks(DAY, DAY + timedelta(days=7))

    assert caught.value.code == -1
    assert len(fake.calls) == 1
    assert RecallTask.objects.count() == 0


def test_a_refused_first_detail_stops_a_details_run(fake, laaffic_settings):
    laaffic_settings["API_SECRET"] = "not-the-secret"

    with pytest.raises(ApiError):
        sync_task_details([1], workers=1)


def test_missing_credentials_fail_before_any_call(fake, laaffic_settings):
    del laaffic_settings["API_KEY"]

    with pytest.raises(ConfigurationError):
        sync_tasks(DAY, NEXT_DAY)
    assert fake.calls == []


def test_a_clock_refusal_after_a_success_is_counted_not_raised(fake):
    fake.add_task(1)
    fake.add_task(2, created="2024-05-18 11:00:00")
    fake.fail_detail(2, code=-16, msg="timestamp expired")

    summary = sync_tasks(DAY, NEXT_DAY, workers=1)

    assert [f.key for f in summary.failures] == ["2"]
    assert RecallNode.objects.filter(task__key_id=1).count() == 3


def test_a_detail_the_database_refuses_is_reported_and_the_batch_still_stored(fake):
    for key in (1, 2, 3):
        fake.add_task(key, created=MORNING + timedelta(minutes=key))
    fake.tasks[2].nodes[0]["keyId"] = 2**70  # beyond any integer column

    summary = sync_tasks(DAY, NEXT_DAY)

    assert [(f.what, f.key) for f in summary.failures] == [("detail", "2")]
    assert RecallNode.objects.filter(task__key_id__in=[1, 3]).count() == 6
    assert not RecallNode.objects.filter(task__key_id=2).exists()


# --------------------------------------------------------------------------- both envelopes


def test_both_envelope_shapes_and_the_exact_requests(mocked_api):
    signed = matchers.header_matcher({"Api-Key": "test-key"}, strict_match=False)
    mocked_api.post(
        api_url("queryPage"),
        json=load("page_status_envelope.json"),
        match=[
            signed,
            matchers.json_params_matcher(
                {
                    "current": 1,
                    "size": 100,
                    "params": {"strTime": "2024-05-18 00:00:00", "endTime": "2024-05-18 23:59:59"},
                }
            ),
        ],
    )
    for key, fixture in [
        (700001, "detail_ivr_status_envelope.json"),
        (700002, "detail_ai_agent.json"),
    ]:
        mocked_api.post(
            api_url("queryDetail"),
            json=load(fixture),
            match=[signed, matchers.json_params_matcher({"keyId": key})],
        )

    summary = sync_tasks(DAY, NEXT_DAY)

    assert summary.ok and summary.tasks_created == 2 and summary.nodes_created == 3
    ivr = RecallTask.objects.get(key_id=700001)
    assert (ivr.parent_task_id, ivr.recall_type, ivr.finish_num, ivr.status) == (
        2024051800123,
        1,
        1,
        1,
    )
    first, second = ivr.nodes.order_by("position")
    assert (first.key_id, first.status, first.script_id) == (9100001, 2, None)
    assert second.status == 0
    assert second.raw["text"] == "Hello <b>again</b>" and first.raw["uploadName"] == "reminder.mp3"
    assert ivr.detail_raw["searchCount"] is True
    assert RecallNode.objects.get(key_id=9200001).script_id == "1717"


# --------------------------------------------------------------------------- scale


def count_queries(fake, first: int, tasks: int) -> int:
    """Queries of a whole sync of one page of ``tasks`` new tasks with 5 nodes each."""
    start = datetime(2024, 6, 1) + timedelta(days=first)
    fake.add_tasks(tasks, first=first * 1000, start=start, step=timedelta(seconds=10), nodes=5)
    window_start = timezone.make_aware(start, UTC)
    with CaptureQueriesContext(connection) as queries:
        summary = sync_tasks(window_start, window_start + timedelta(days=1))
    assert summary.ok and summary.tasks_created == tasks
    return len(queries)


def test_queries_per_page_do_not_grow_with_the_page_size(fake, django_assert_max_num_queries):
    few = count_queries(fake, 1, 10)
    fake.add_tasks(100, first=3000, start=datetime(2024, 6, 5), step=timedelta(seconds=10), nodes=5)
    window_start = datetime(2024, 6, 5, tzinfo=UTC)

    # Equal where the database takes any number of parameters (PostgreSQL); SQLite caps
    # them at 999, so Django splits the bulk inserts of 500 nodes into a few statements.
    limit = few if connection.features.max_query_params is None else few + 8
    with django_assert_max_num_queries(limit):
        summary = sync_tasks(window_start, window_start + timedelta(days=1))

    assert summary.tasks_created == 100 and summary.nodes_created == 500
    # And again with every row changed: still a constant number of queries.
    for task in fake.tasks.values():
        task.finish_num = 2
        for node in task.nodes:
            node["nodeStatus"] = 4
    with django_assert_max_num_queries(limit):
        summary = sync_tasks(window_start, window_start + timedelta(days=1))
    assert summary.tasks_updated == 100 and summary.nodes_updated == 500


def test_the_signal_is_sent_for_each_task_whose_mirror_changed(fake):
    fake.add_task(1, status=1)
    fake.add_task(2, status=1, created="2024-05-18 11:00:00")
    fake.add_task(3, status=2, created="2024-05-18 12:00:00")
    received = []

    def receiver(sender, task, **kwargs):
        received.append((task.key_id, task.pk is not None, task.status))

    task_synced.connect(receiver)
    try:
        sync_tasks(DAY, NEXT_DAY)
        first = sorted(received)
        received.clear()
        sync_tasks(DAY, NEXT_DAY)
        unchanged = list(received)
        fake.tasks[2].nodes[1]["nodeStatus"] = 1
        received.clear()
        sync_tasks(DAY, NEXT_DAY)
    finally:
        task_synced.disconnect(receiver)

    assert first == [(1, True, 1), (2, True, 1), (3, True, 2)]
    assert unchanged == []  # 1 and 2 were read again, unchanged: nothing to announce
    assert received == [(2, True, 1)]


def test_an_unchanged_task_with_a_cancel_in_doubt_is_announced_and_settled(fake):
    fake.add_task(1, status=1)
    fake.add_task(2, status=1, created="2024-05-18 11:00:00")
    sync_tasks(DAY, NEXT_DAY)
    RecallTask.objects.filter(key_id=1).update(cancel_in_doubt=True)
    received = []

    def receiver(sender, task, **kwargs):
        received.append(task.key_id)

    task_synced.connect(receiver)
    try:
        sync_tasks(DAY, NEXT_DAY)
    finally:
        task_synced.disconnect(receiver)

    assert received == [1]
    assert not RecallTask.objects.get(key_id=1).cancel_in_doubt  # no attempt was open


MIRROR_WRITE = re.compile(
    r"\b(INSERT INTO|UPDATE|DELETE FROM)\s+[\"`]?laaffic_recall_recall(task|node)\b", re.I
)


def mirror_writes(queries: CaptureQueriesContext) -> list[str]:
    """The statements that wrote to the tasks or nodes table."""
    return [q["sql"] for q in queries.captured_queries if MIRROR_WRITE.search(q["sql"])]


def list_lags_its_detail(body, data):
    """Each live task listed Pending while its detail says In progress: the list lags."""
    records = [{**r, "status": 0} if r["status"] == 1 else r for r in data["records"]]
    return {**data, "records": records}


@pytest.mark.parametrize("list_lags", [False, True], ids=["same", "list lags its detail"])
def test_an_unchanged_resync_writes_no_task_or_node(fake, list_lags):
    fake.add_tasks(5, start=MORNING, step=timedelta(minutes=1), status=1)
    fake.add_tasks(3, first=2000, start=MORNING, step=timedelta(minutes=1), status=2)
    if list_lags:
        fake.page_hook = list_lags_its_detail
    with CaptureQueriesContext(connection) as first:
        sync_tasks(DAY, NEXT_DAY)
    before = snapshot()

    with CaptureQueriesContext(connection) as queries:
        again = sync_tasks(DAY, NEXT_DAY)

    assert len(mirror_writes(first)) >= 3  # tasks from the page, then their details, nodes

    assert again.ok and again.details_fetched == 5  # the live ones are read again
    assert mirror_writes(queries) == []
    assert not again.changed and snapshot() == before
    assert set(RecallTask.objects.values_list("status", flat=True)) == {1, 2}


def test_an_unchanged_refresh_writes_no_task_or_node(fake):
    fake.add_task(1, status=1)
    with CaptureQueriesContext(connection) as first:
        sync_task_details([1])

    with CaptureQueriesContext(connection) as queries:
        summary = sync_task_details([1])

    assert len(mirror_writes(first)) == 2  # the task, then its nodes
    assert summary.details_fetched == 1 and not summary.changed
    assert mirror_writes(queries) == []


def test_a_changed_list_record_is_stored_and_its_detail_keeps_the_last_word(fake):
    fake.add_task(1, status=1)
    fake.page_hook = list_lags_its_detail
    sync_tasks(DAY, NEXT_DAY)
    fake.tasks[1].finish_num = 1  # the list changes; it still lags on the status

    summary = sync_tasks(DAY, NEXT_DAY)

    task = RecallTask.objects.get(key_id=1)
    assert (task.finish_num, task.status) == (1, 1)
    assert task.raw["status"] == 0 and task.detail_raw["status"] == 1
    assert summary.tasks_updated == 1


def test_each_worker_thread_uses_its_own_client(fake):
    fake.add_tasks(40, start=MORNING, step=timedelta(seconds=30))
    made = []
    lock = threading.Lock()

    def factory():
        client = get_client()
        with lock:
            made.append((threading.get_ident(), client))
        return client

    summary = sync_tasks(DAY, NEXT_DAY, workers=4, client_factory=factory)

    assert summary.details_fetched == 40
    threads = [ident for ident, _ in made]
    assert len(threads) == len(set(threads))  # never two clients in one thread, nor shared
    assert 2 <= len(made) <= 5  # the pages' client plus at most one per worker


# --------------------------------------------------------------------------- races


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_syncs_racing_to_create_the_same_tasks_leave_one_row_each():
    records = [
        parse_task_record({"keyId": key, "taskName": f"T{key}", "status": 1}) for key in range(1, 6)
    ]
    first_inserted, first_may_commit = threading.Event(), threading.Event()
    results, errors = {}, []

    def first():
        try:
            with transaction.atomic():
                results["first"] = store_records(records, requested_at=timezone.now())
                first_inserted.set()
                first_may_commit.wait(10)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    def second():
        try:
            first_inserted.wait(10)
            results["second"] = store_records(records, requested_at=timezone.now())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    blocked = wait_for_a_lock()  # the second insert waits on the first's rows
    first_may_commit.set()
    for thread in threads:
        thread.join(20)

    assert blocked and errors == []
    assert results["first"].created == results["second"].created == {1, 2, 3, 4, 5}
    assert RecallTask.objects.count() == 5
