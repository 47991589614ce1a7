"""The app's landing page in the admin, the sync runs' admin, and how fresh the task list
and the task page say the mirror is."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from laaffic_recall.admin.overview import sync_state
from laaffic_recall.models import CancelAttempt, CancelType, Outcome, RecallTask, Status, SyncRun
from laaffic_recall.sandbox.demo import start_following
from tests.support.admin import TASKS, logged_in
from tests.support.audit import attempt_on, raw_sql
from tests.support.clock import stop_clock
from tests.support.mirror import make_nodes, make_task

pytestmark = pytest.mark.django_db

# Session, user, its two kinds of permission, then the overview's own: statuses, rounds
# running, created today, last run, last success, in doubt, refused, unconfirmed, and the
# two charts.
QUERIES = 14
OVERVIEW = reverse("admin:app_list", kwargs={"app_label": "laaffic_recall"})


def html_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def attention_links(html: str) -> dict[str, str]:
    """Kind of trouble -> its link, from the "Needs attention" list."""
    return {
        kind: unescape(url)
        for kind, url in re.findall(
            r'laaffic-attention-([\w-]+)">\s*<a href="([^"]+)"', html, flags=re.S
        )
    }


def listed(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def listed_keys(response) -> set[int]:
    return {row.key_id for row in listed(response)}


def listed_rows(response) -> int:
    return len(listed(response))


def fresh_run(**fields) -> SyncRun:
    now = timezone.now()
    fields = {"trigger": "schedule", **fields}
    return SyncRun.objects.create(started_at=now - timedelta(seconds=5), finished_at=now, **fields)


def test_status_counts_link_to_the_filtered_task_list(viewer_client, monkeypatch):
    now = stop_clock(monkeypatch)  # "created today" for the test is the page's today
    fresh_run()
    for key, status in [(1, Status.PENDING), (2, Status.PENDING), (3, Status.COMPLETED)]:
        make_task(key, status=status, created_at_remote=now)
    make_task(4, status=Status.IN_PROGRESS, created_at_remote=now - timedelta(days=3))
    make_nodes(RecallTask.objects.get(key_id=4), Status.COMPLETED, Status.IN_PROGRESS)

    html = html_of(viewer_client.get(OVERVIEW))

    counts = dict(
        re.findall(r'laaffic-status-[\w-]+">([^<]+)</span></th><td><a href="[^"]+">(\d+)<', html)
    )
    assert counts == {
        "Pending": "2",
        "In progress": "1",
        "Completed": "1",
        "Cancelled": "0",
        "Execution exception": "0",
    }
    pending = unescape(re.search(r'href="([^"]+status__exact=0)"', html).group(1))
    assert listed_keys(viewer_client.get(pending)) == {1, 2}
    # Tasks that will still call, created today: 1 and 2 (4 is older, 3 is done).
    today = unescape(re.search(r'href="([^"]+status__in=[^"]+)"', html).group(1))
    assert listed_keys(viewer_client.get(today)) == {1, 2}
    rounds = unescape(re.search(r'href="(/admin/laaffic_recall/recallnode/[^"]+)"', html).group(1))
    assert listed_rows(viewer_client.get(rounds)) == 1
    assert "Nothing needs attention" in html


def test_each_kind_of_trouble_is_listed_with_its_link_and_next_step(agent_client):
    now = timezone.now()
    task = make_task(10, status=Status.IN_PROGRESS, unconfirmed=True)
    make_task(11, status=Status.COMPLETED)
    attempt_on(task, CancelType.TASK, 10, Outcome.UNKNOWN, username="agent")
    attempt_on(task, CancelType.TASK, 10, Outcome.REFUSED, username="agent", request_body={})
    attempt_on(task, CancelType.TASK, 10, Outcome.REFUSED, username="agent")
    attempt_on(
        task,
        CancelType.NODE,
        1001,
        Outcome.REFUSED,
        username="agent",
        started_at=now - timedelta(hours=30),
    )
    SyncRun.objects.create(
        trigger="schedule", started_at=now - timedelta(minutes=6), finished_at=now
    )
    run = fresh_run(failure_count=2, failures="detail 5: busy\ndetail 6: busy")

    html = html_of(agent_client.get(OVERVIEW))

    links = attention_links(html)
    assert set(links) == {"in-doubt", "refused", "unconfirmed", "sync-failed"}
    assert "1 cancel whose outcome is unknown" in html
    assert "2 cancels refused in the last 24 hours" in html
    assert "1 task marked unconfirmed" in html
    assert "The last sync had 2 failures" in html
    assert html.count('class="laaffic-next-step"') == 4

    doubt = listed(agent_client.get(links["in-doubt"]))
    assert [a.outcome for a in doubt] == [Outcome.UNKNOWN]
    refused = listed(agent_client.get(links["refused"]))
    # The refusal of 30 hours ago is not among them.
    assert [a.outcome for a in refused] == [Outcome.REFUSED] * 2
    assert listed_keys(agent_client.get(links["unconfirmed"])) == {10}
    assert links["sync-failed"] == reverse("admin:laaffic_recall_syncrun_change", args=[run.pk])
    assert "detail 6: busy" in html_of(agent_client.get(links["sync-failed"]))


def test_a_stale_mirror_is_a_trouble_too(viewer_client, settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "SYNC_STALE_MINUTES": 30}
    now = timezone.now()
    SyncRun.objects.create(
        trigger="schedule",
        started_at=now - timedelta(minutes=50),
        finished_at=now - timedelta(minutes=49),
    )
    html = html_of(viewer_client.get(OVERVIEW))
    assert "No successful sync in the last 30 minutes" in html
    assert attention_links(html) == {"stale": reverse("admin:laaffic_recall_syncrun_changelist")}


def test_the_last_sync_says_when_what_and_when_next(viewer_client):
    now = timezone.now()
    fresh_run(
        tasks_seen=120,
        tasks_created=3,
        details_fetched=40,
        pages_fetched=2,
        next_due_at=now + timedelta(minutes=5),
    )
    html = html_of(viewer_client.get(OVERVIEW))
    section = html[html.index('id="laaffic-sync-title"') :]
    assert "120 tasks (2 pages, 40 details)" in section
    assert "3 new, 0 changed tasks" in section
    assert "5.0 s" in section
    assert "not scheduled" not in section and "overdue" not in section


def test_the_charts_are_inline_svg_with_their_figures_as_a_table(
    agent_client, settings, monkeypatch
):
    # Half a minute into the 1st of March in Shanghai, still February 28th in UTC: each row
    # is counted on its day in the site's time zone, the 14 days reach back into February.
    settings.TIME_ZONE = "Asia/Shanghai"
    now = stop_clock(monkeypatch, datetime(2026, 2, 28, 16, 0, 30, tzinfo=UTC))
    task = make_task(1, created_at_remote=now)
    make_task(2, created_at_remote=now - timedelta(minutes=1))  # 23:59:30 the day before
    make_task(3, created_at_remote=now - timedelta(days=20))  # outside the 14 days
    attempt_on(task, CancelType.TASK, 1, Outcome.SUCCEEDED, started_at=now)
    attempt_on(task, CancelType.TASK, 1, Outcome.SKIPPED, started_at=now)
    attempt_on(task, CancelType.TASK, 1, Outcome.SUCCEEDED, started_at=now - timedelta(days=2))

    html = html_of(agent_client.get(OVERVIEW))

    assert html.count('<svg class="laaffic-chart"') == 2
    assert "<script" not in html.split('class="laaffic-overview"')[1].split("</div>\n\n")[0]
    assert "Cancels per day, last 14 days, by outcome. 3 in all; most on one day: 2." in html
    assert "Tasks created per day, last 14 days. 2 in all; most on one day: 1." in html
    assert html.count('<rect class="laaffic-chart-outcome-succeeded"') == 2
    assert html.count('<rect class="laaffic-chart-outcome-skipped"') == 1
    assert html.count('<rect class="laaffic-chart-tasks"') == 2
    assert html.count('<details class="laaffic-chart-data">') == 2
    # Today's row of the cancels table: succeeded 1, failed 0, refused 0, unknown 0,
    # skipped 1, total 2.
    assert (
        "<tr><th scope='row'>Mar 1</th><td>1</td><td>0</td><td>0</td><td>0</td><td>1</td>"
        "<td>2</td></tr>"
    ) in html
    assert "<tr><th scope='row'>Feb 27</th><td>1</td><td>0</td>" in html
    assert "<tr><th scope='row'>Mar 1</th><td>1</td></tr>" in html
    assert "<tr><th scope='row'>Feb 28</th><td>1</td></tr>" in html
    assert "<tr><th scope='row'>Feb 16</th>" in html and "Feb 15" not in html


def test_without_the_audit_log_no_cancel_figures_are_shown(mirror_viewer_client):
    task = make_task(1, unconfirmed=True)
    attempt_on(task, CancelType.TASK, 1, Outcome.UNKNOWN)
    html = html_of(mirror_viewer_client.get(OVERVIEW))
    assert set(attention_links(html)) == {"unconfirmed", "stale"}
    assert "Cancels per day" not in html and "Tasks created per day" in html


def test_no_overview_without_view_permission_on_tasks(auditor_client):
    html = html_of(auditor_client.get(OVERVIEW))
    assert "laaffic-overview" not in html
    assert "Cancel attempts" in html  # Django's own list of the app's models stays


@pytest.mark.parametrize("rows", [5, 60])
def test_the_overview_costs_the_same_queries_at_any_size(agent_client, rows):
    now = timezone.now()
    for key in range(1, rows + 1):
        task = make_task(key, status=key % 5, created_at_remote=now - timedelta(hours=key))
        attempt_on(task, CancelType.TASK, key, list(Outcome)[key % 6].value)
    fresh_run(failure_count=1)
    agent_client.get(OVERVIEW)  # the session and permissions cached alike
    with CaptureQueriesContext(connection) as queries:
        html_of(agent_client.get(OVERVIEW))
    assert len(queries) == QUERIES, [q["sql"] for q in queries]


# --------------------------------------------------------------------------- freshness


def test_the_task_list_says_when_the_last_sync_went_through(viewer_client):
    fresh_run()
    html = html_of(viewer_client.get(TASKS))
    assert "Last sync less than a minute ago (" in html
    assert "laaffic-stale" not in html


def test_the_task_list_warns_when_the_mirror_is_stale(viewer_client, settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "SYNC_STALE_MINUTES": 15}
    now = timezone.now()
    SyncRun.objects.create(
        trigger="command",
        started_at=now - timedelta(minutes=21),
        finished_at=now - timedelta(minutes=20),
    )
    SyncRun.objects.create(
        trigger="schedule", started_at=now - timedelta(minutes=2), finished_at=now, error="boom"
    )
    html = html_of(viewer_client.get(TASKS))
    assert "laaffic-freshness laaffic-stale" in html
    assert "no successful sync in the last 15 minutes" in html
    assert "had failures" in html


def test_the_task_list_without_any_sync(viewer_client):
    html = html_of(viewer_client.get(TASKS))
    assert "No sync has gone through yet." in html and "laaffic-stale" in html


def test_the_task_page_says_when_the_task_was_last_read(viewer_client):
    task = make_task(7, synced_at=timezone.now() - timedelta(minutes=3))
    html = html_of(
        viewer_client.get(reverse("admin:laaffic_recall_recalltask_change", args=[task.pk]))
    )
    assert re.search(r"Last read from LAAFFIC 3(\xa0|&nbsp;)minutes ago", html)


def test_the_task_page_and_the_list_tell_the_same_time_of_the_sync_that_read_the_task(
    viewer_client,
):
    now = timezone.now()
    task = make_task(
        8, created_at_remote=now - timedelta(days=1), synced_at=now - timedelta(minutes=13)
    )
    fresh_run(window_start=now - timedelta(days=7), window_end=now - timedelta(seconds=5))
    page = html_of(
        viewer_client.get(reverse("admin:laaffic_recall_recalltask_change", args=[task.pk]))
    )
    listing = html_of(viewer_client.get(TASKS))
    clock = r"Last read from LAAFFIC less than a minute ago \(.*\), by the last sync"
    assert re.search(clock, page)
    assert "Last sync less than a minute ago (" in listing


def test_a_task_older_than_the_sync_window_keeps_its_own_time(viewer_client):
    now = timezone.now()
    task = make_task(
        9, created_at_remote=now - timedelta(days=30), synced_at=now - timedelta(minutes=13)
    )
    fresh_run(window_start=now - timedelta(days=7), window_end=now - timedelta(seconds=5))
    page = html_of(
        viewer_client.get(reverse("admin:laaffic_recall_recalltask_change", args=[task.pk]))
    )
    assert re.search(r"Last read from LAAFFIC 13(\xa0|&nbsp;)minutes ago", page)
    assert "by the last sync" not in page


# --------------------------------------------------------------------------- sync runs


def test_sync_runs_are_read_only_and_seen_by_whoever_sees_the_mirror(client):
    run = fresh_run(failure_count=1, failures="page x: busy")
    logged_in(client, "viewer", "view_recalltask")
    changelist = reverse("admin:laaffic_recall_syncrun_changelist")
    assert "With failures" in html_of(client.get(changelist))
    page = reverse("admin:laaffic_recall_syncrun_change", args=[run.pk])
    html = html_of(client.get(page))
    assert "page x: busy" in html and 'name="_save"' not in html
    assert client.post(page, {"failure_count": 0}).status_code == 403
    assert (
        client.get(reverse("admin:laaffic_recall_syncrun_delete", args=[run.pk])).status_code == 403
    )
    assert client.get(reverse("admin:laaffic_recall_syncrun_add")).status_code == 403


def test_sync_runs_are_hidden_from_who_sees_neither(auditor_client):
    assert auditor_client.get(reverse("admin:laaffic_recall_syncrun_changelist")).status_code == 403


def test_a_scheduler_that_missed_its_next_run_is_said_to_be_overdue(viewer_client):
    now = timezone.now()
    fresh_run(next_due_at=now - timedelta(minutes=10))
    html = html_of(viewer_client.get(OVERVIEW))
    assert "overdue: the mirror may be out of date" in html


def test_without_a_scheduler_the_next_sync_is_not_scheduled(viewer_client):
    fresh_run()
    html = html_of(viewer_client.get(OVERVIEW))
    assert "not scheduled" in html
    assert "laaffic_sync" not in html


def test_the_demo_loop_is_scheduled_from_its_first_second(viewer_client):
    # The demo has just synced (a command run) and starts its loop, whose first run is one
    # period away: the overview says when, not "not scheduled".
    run = fresh_run(trigger="command")
    thread, stop = start_following(60, 2)
    stop.set()
    thread.join(5)
    run.refresh_from_db()
    assert timedelta(seconds=30) < run.next_due_at - timezone.now() <= timedelta(seconds=60)
    html = html_of(viewer_client.get(OVERVIEW))
    assert "not scheduled" not in html and "overdue" not in html


def test_a_refresh_after_the_last_scheduled_run_keeps_its_next_sync(viewer_client):
    now = timezone.now()
    fresh_run(next_due_at=now + timedelta(minutes=1))
    SyncRun.objects.create(trigger="refresh", started_at=now, finished_at=now)
    html = html_of(viewer_client.get(OVERVIEW))
    assert "not scheduled" not in html


def test_the_overview_and_the_freshness_work_without_time_zones(
    agent_client, settings, monkeypatch
):
    settings.USE_TZ = False
    now = stop_clock(monkeypatch)  # naive, as the site's clock is without time zones
    task = make_task(1, created_at_remote=now, status=Status.PENDING, synced_at=now)
    attempt_on(task, CancelType.TASK, 1, Outcome.REFUSED, started_at=now)
    SyncRun.objects.create(trigger="command", started_at=now, finished_at=now)
    html = html_of(agent_client.get(OVERVIEW))
    assert "1 cancel refused in the last 24 hours" in html
    refused = attention_links(html)["refused"]
    assert [a.outcome for a in listed(agent_client.get(refused))] == [Outcome.REFUSED]
    today = unescape(re.search(r'href="([^"]+status__in=[^"]+)"', html).group(1))
    assert listed_keys(agent_client.get(today)) == {1}
    assert "Last sync" in html_of(agent_client.get(TASKS))


def test_the_mirror_is_stale_without_a_recent_successful_sync(settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "SYNC_STALE_MINUTES": 30}
    now = timezone.now()
    assert sync_state("admin", now).stale
    SyncRun.objects.create(
        trigger="schedule",
        started_at=now - timedelta(minutes=41),
        finished_at=now - timedelta(minutes=40),
    )
    assert sync_state("admin", now).stale
    SyncRun.objects.create(
        trigger="schedule",
        started_at=now - timedelta(minutes=11),
        finished_at=now - timedelta(minutes=10),
        failure_count=1,
    )
    assert sync_state("admin", now).stale  # a failed run does not count
    SyncRun.objects.create(
        trigger="schedule", started_at=now - timedelta(minutes=6), finished_at=now
    )
    assert not sync_state("admin", now).stale


def test_open_cancels_changed_outside_the_app_need_attention(agent_client, audit_chain_key):
    task = make_task(10, status=Status.IN_PROGRESS)
    attempt_on(task, CancelType.TASK, 10, Outcome.UNKNOWN)
    changed = attempt_on(task, CancelType.TASK, 10, Outcome.PENDING)
    raw_sql(f"UPDATE {CancelAttempt._meta.db_table} SET reason = 'x' WHERE id = %s", changed.pk)

    html = html_of(agent_client.get(OVERVIEW))

    links = attention_links(html)
    assert "1 open cancel whose audit row does not match its seal" in html
    assert links["broken-seal"] == reverse(
        "admin:laaffic_recall_cancelattempt_change", args=[changed.pk]
    )
