"""The read side of the admin: task and node lists, the read-only task page, refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from laaffic_recall.models import RecallNode, RecallTask
from laaffic_recall.sync import sync_tasks
from tests.support.admin import staff
from tests.support.vendor import TEST_SETTINGS

pytestmark = pytest.mark.django_db

TASKS_URL = reverse("admin:laaffic_recall_recalltask_changelist")
NODES_URL = reverse("admin:laaffic_recall_recallnode_changelist")
BANNER = "Mirrored from LAAFFIC; local edits are not sent."
DAY = datetime(2024, 5, 18, tzinfo=UTC)


def make_task(key: int, *, status: int = 1, nodes: int = 2, **fields) -> RecallTask:
    values = {
        "parent_task_id": 2024051800000 + key,
        "task_name": f"Campaign {key}",
        "created_at_remote": DAY + timedelta(minutes=key),
        "recall_type": 0,
        "recall_interval": 30,
        "recall_num": nodes,
        "finish_num": 1,
        "status": status,
        "raw": {"keyId": key},
        "detail_raw": {"keyId": key, "nodeList": []},
        **fields,
    }
    task = RecallTask.objects.create(key_id=key, **values)
    for position in range(nodes):
        RecallNode.objects.create(
            key_id=key * 100 + position,
            task=task,
            position=position,
            group_task_id=3024051800000 + key * 100 + position,
            status=2 if position == 0 else 0,
            raw={"keyId": key * 100 + position},
        )
    return task


def change_url(task: RecallTask) -> str:
    return reverse("admin:laaffic_recall_recalltask_change", args=[task.pk])


def post_action(client, action: str, tasks: list[RecallTask]):
    """The change list form as a browser posts it."""
    return client.post(
        TASKS_URL,
        {
            "action": action,
            "index": "0",
            "select_across": "0",
            "_selected_action": [str(t.pk) for t in tasks],
        },
    )


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def count_page_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


# --------------------------------------------------------------------------- change list


def test_the_task_list_shows_the_mirror_with_coloured_status(admin_client):
    make_task(1, status=0, task_name="Spring <renewals>", recall_num=3, finish_num=1)
    make_task(2, status=4)

    response = admin_client.get(TASKS_URL)

    html = response.content.decode()
    assert BANNER in html
    assert '<span class="laaffic-status laaffic-status-pending">Pending</span>' in html
    assert "laaffic-status-exception" in html and "Execution exception" in html
    assert "1/3" in html
    assert "Spring &lt;renewals&gt;" in html and "2024051800001" in html
    assert "laaffic_recall/admin.css" in html


def test_the_task_list_is_newest_first(admin_client):
    make_task(5, created_at_remote=DAY - timedelta(days=2))
    make_task(6, created_at_remote=DAY)
    make_task(7, created_at_remote=DAY - timedelta(days=1))

    response = admin_client.get(TASKS_URL)

    assert [t.key_id for t in response.context["cl"].result_list] == [6, 7, 5]


def test_the_task_list_costs_the_same_queries_for_many_rows(admin_client):
    for key in range(1, 4):
        make_task(key)
    few = count_page_queries(admin_client, TASKS_URL)
    for key in range(4, 61):
        make_task(key)

    assert count_page_queries(admin_client, TASKS_URL) == few


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("12", [12]),  # recall key
        ("2024051800034", [34]),  # parent task id
        ("renewals", [12, 34]),  # part of the name
        ("no such thing", []),
        ("1", []),  # numbers match whole ids only
        ("#12", [12]),  # as the site writes keys
        (" #2024051800034 ", [34]),
        ("#", []),
    ],
)
def test_search_by_key_parent_id_and_name(admin_client, term, expected):
    make_task(12, task_name="Spring renewals")
    make_task(34, task_name="Summer renewals")
    make_task(56, task_name="Autumn survey")

    response = admin_client.get(TASKS_URL, {"q": term})

    assert response.status_code == 200
    assert sorted(t.key_id for t in response.context["cl"].result_list) == expected


@pytest.mark.parametrize(
    ("term", "found"),
    [
        (str(2**63 - 1), [2**63 - 1]),
        (f"12 {2**63 - 1}", [12, 2**63 - 1]),  # pasted from a ticket
        (str(2**63), []),  # past every id
        (f"12 {2**63}", [12]),
        ("0", []),  # ids are positive: these are searched as text, and no name has them
        (str(-(2**63)), []),
    ],
)
def test_a_search_reaches_the_largest_id_and_no_further(admin_client, term, found):
    make_task(12)
    RecallTask.objects.create(key_id=2**63 - 1, task_name="Edge", status=1)

    response = admin_client.get(TASKS_URL, {"q": term})

    assert response.status_code == 200
    assert sorted(t.key_id for t in response.context["cl"].result_list) == found


def test_filters_by_status_recall_type_and_creation_date(admin_client):
    make_task(1, status=0, recall_type=1, created_at_remote=DAY)
    make_task(2, status=0, recall_type=0, created_at_remote=DAY - timedelta(days=40))
    make_task(3, status=2, recall_type=1, created_at_remote=DAY)

    def keys(**params):
        response = admin_client.get(TASKS_URL, params)
        assert response.status_code == 200
        return sorted(t.key_id for t in response.context["cl"].result_list)

    assert keys(status__exact=0) == [1, 2]
    assert keys(recall_type__exact=1) == [1, 3]
    assert keys(status__exact=0, recall_type__exact=1) == [1]
    # As the "Past 7 days" link of the date filter writes it: an aware time.
    assert keys(created_at_remote__gte=str(DAY - timedelta(days=7))) == [1, 3]


def test_the_banner_comes_after_the_object_tools_so_they_never_cover_it(admin_client):
    make_task(1)

    for url in (TASKS_URL, NODES_URL):
        html = admin_client.get(url).content.decode()
        assert (
            html.index('class="object-tools"') < html.index(BANNER) < html.index('id="changelist"')
        )
    html = admin_client.get(TASKS_URL).content.decode()
    assert html.index("Cancel by parent task id") < html.index(BANNER)


def column_headers(response) -> list[str]:
    return [str(header["text"]) for header in response.context["result_headers"]][1:]


def test_the_lists_keep_to_short_columns_that_fit_beside_the_filters(admin_client):
    make_task(1, recall_num=3, finish_num=1)

    tasks = admin_client.get(TASKS_URL)
    nodes = admin_client.get(NODES_URL)

    assert column_headers(tasks) == [
        "recall key",
        "parent task id",
        "task name",
        "status",
        "rounds",
        "created",
    ]
    assert column_headers(nodes) == [
        "node key",
        "task",
        "round",
        "status",
        "group-call task id",
        "script id",
    ]
    html = tasks.content.decode()
    assert '<span title="rounds done/required">1/3</span>' in html
    assert '<time datetime="2024-05-18T00:01:00+00:00">' in html  # created, date and time


# --------------------------------------------------------------------------- change page


def test_the_task_page_is_read_only_with_nodes_in_order_and_readable_json(admin_client):
    task = make_task(1, nodes=3, raw={"keyId": 1, "taskName": "<script>alert(1)</script>"})
    RecallNode.objects.filter(key_id=100).update(position=2)
    RecallNode.objects.filter(key_id=102).update(position=0)

    response = admin_client.get(change_url(task))

    html = response.content.decode()
    assert response.status_code == 200
    assert BANNER in html
    assert 'name="task_name"' not in html and 'name="_save"' not in html
    rows = html.split('class="laaffic-node"')[1:]
    order = [html.index(f'id="laaffic-node-{key}"') for key in (102, 101, 100)]
    assert order == sorted(order) and len(rows) == 3
    assert "Node list (3 rounds)" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "{\n  &quot;keyId&quot;: 1,\n  &quot;taskName&quot;" in html


def test_unconfirmed_is_said_in_words_not_a_red_cross(admin_client):
    confirmed = make_task(1)
    assumed = make_task(2)
    RecallTask.objects.filter(pk=assumed.pk).update(unconfirmed=True)

    normal = admin_client.get(change_url(confirmed)).content.decode()
    marked = admin_client.get(change_url(assumed)).content.decode()

    assert "icon-no.svg" not in normal and "icon-yes.svg" not in normal
    assert '<div class="readonly">No</div>' in normal
    assert "Yes: marked by assumption after a cancel" in marked


def test_the_task_page_refuses_changes(admin_client):
    task = make_task(1)

    response = admin_client.post(change_url(task), {"task_name": "edited", "status": 3})

    assert response.status_code == 403
    task.refresh_from_db()
    assert (task.task_name, task.status) == ("Campaign 1", 1)


def test_no_add_and_no_delete(admin_client):
    task = make_task(1)
    node = task.nodes.first()

    assert admin_client.get(reverse("admin:laaffic_recall_recalltask_add")).status_code == 403
    assert admin_client.get(reverse("admin:laaffic_recall_recallnode_add")).status_code == 403
    delete = reverse("admin:laaffic_recall_recalltask_delete", args=[task.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    delete = reverse("admin:laaffic_recall_recallnode_delete", args=[node.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert "delete_selected" not in admin_client.get(TASKS_URL).content.decode()
    assert RecallTask.objects.count() == 1 and RecallNode.objects.count() == 2


def test_view_permission_is_enough_to_see_tasks_and_their_nodes(client):
    task = make_task(1)
    client.force_login(staff("task-viewer", "view_recalltask"))

    assert client.get(TASKS_URL).status_code == 200
    html = client.get(change_url(task)).content.decode()
    assert 'id="laaffic-node-100"' in html and 'id="laaffic-node-101"' in html


def test_only_users_who_may_cancel_see_the_node_actions_column(client):
    task = make_task(1)

    client.force_login(staff("task-viewer", "view_recalltask"))
    html = client.get(change_url(task)).content.decode()
    assert 'id="laaffic-node-101"' in html
    assert "column-node_actions" not in html and "field-node_actions" not in html

    client.force_login(staff("agent", "view_recalltask", "cancel_recalltask"))
    html = client.get(change_url(task)).content.decode()
    assert "column-node_actions" in html and html.count('class="field-node_actions"') == 2


def test_staff_without_view_permission_see_nothing(client):
    task = make_task(1)
    client.force_login(staff("nobody"))

    assert client.get(TASKS_URL).status_code == 403
    assert client.get(change_url(task)).status_code == 403
    assert client.get(NODES_URL).status_code == 403


# --------------------------------------------------------------------------- nodes


def test_the_node_list_shows_task_position_and_status_without_n_plus_1(admin_client):
    make_task(1, nodes=2)
    few = count_page_queries(admin_client, NODES_URL)
    for key in range(2, 30):
        make_task(key, nodes=3)

    assert count_page_queries(admin_client, NODES_URL) == few
    html = admin_client.get(NODES_URL).content.decode()
    assert BANNER in html and "laaffic-status-completed" in html
    assert 'title="Campaign 1">#1</a>' in html


def test_the_node_list_shows_the_latest_tasks_first_with_rounds_in_order(admin_client):
    make_task(1, nodes=2)
    make_task(2, nodes=3)

    response = admin_client.get(NODES_URL)

    assert [n.key_id for n in response.context["cl"].result_list] == [200, 201, 202, 100, 101]


@pytest.mark.parametrize(
    ("term", "expected"),
    [("101", [101]), ("2", [200, 201]), ("x", []), ("#101", [101]), ("#2", [200, 201])],
)
def test_nodes_are_searched_by_node_key_and_task_key(admin_client, term, expected):
    make_task(1)
    make_task(2)

    response = admin_client.get(NODES_URL, {"q": term})

    assert sorted(n.key_id for n in response.context["cl"].result_list) == expected


def test_the_node_page_is_read_only(admin_client):
    node = make_task(1).nodes.get(position=1)
    url = reverse("admin:laaffic_recall_recallnode_change", args=[node.pk])

    html = admin_client.get(url).content.decode()

    assert BANNER in html and 'name="status"' not in html and 'name="_save"' not in html
    assert admin_client.post(url, {"status": 3}).status_code == 403


# --------------------------------------------------------------------------- refresh


def synced(fake, *keys: int) -> list[RecallTask]:
    for key in keys:
        fake.add_task(key, status=1, created=datetime(2024, 5, 18, 8, key))
    sync_tasks(DAY, DAY + timedelta(days=1))
    fake.calls.clear()
    return list(RecallTask.objects.filter(key_id__in=keys).order_by("key_id"))


def test_refresh_rereads_the_selected_tasks_and_says_what_changed(admin_client, fake):
    one, two, _three = synced(fake, 1, 2, 3)
    fake.tasks[1].status = 2
    fake.tasks[1].nodes[1]["nodeStatus"] = 2
    fake.tasks[2].nodes.pop()

    response = post_action(admin_client, "refresh_tasks", [one, two])

    assert response.status_code == 302
    assert fake.detail_keys() == [1, 2]
    assert messages_of(response) == [
        (
            "success",
            "Refreshed 2 tasks from LAAFFIC. 2 tasks changed; nodes: 0 new, 1 changed, 1 removed.",
        )
    ]
    assert RecallTask.objects.get(key_id=1).status == 2
    assert RecallNode.objects.filter(task=two).count() == 2


def test_refresh_without_changes_says_so(admin_client, fake):
    tasks = synced(fake, 1)

    response = post_action(admin_client, "refresh_tasks", tasks)

    assert messages_of(response) == [
        ("success", "Refreshed 1 task from LAAFFIC. Nothing had changed.")
    ]


def test_refresh_reports_a_failing_task_as_an_error_beside_the_others(admin_client, fake):
    tasks = synced(fake, 1, 2)
    fake.fail_detail(2, code=-22, msg="no such task")

    response = post_action(admin_client, "refresh_tasks", tasks)

    assert response.status_code == 302
    (ok, failed) = messages_of(response)
    assert ok[0] == "success" and ok[1].startswith("Refreshed 1 task from LAAFFIC.")
    assert failed[0] == "error"
    assert "1 task could not be refreshed:" in failed[1]
    assert "<li>#2: LAAFFIC refused the request: code -22" in failed[1]


def test_refresh_with_refused_credentials_is_an_error_message_not_a_500(
    admin_client, fake, laaffic_settings
):
    tasks = synced(fake, 1)
    laaffic_settings["API_SECRET"] = "wrong-secret"

    response = post_action(admin_client, "refresh_tasks", tasks)

    assert response.status_code == 302
    ((level, text),) = messages_of(response)
    assert level == "error" and text.startswith("Nothing was refreshed: LAAFFIC refused")
    assert "check the API key and secret" in text and "wrong-secret" not in text


def test_refresh_with_missing_credentials_is_an_error_message(admin_client, laaffic_settings):
    task = make_task(1)
    laaffic_settings["API_KEY"] = ""

    response = post_action(admin_client, "refresh_tasks", [task])

    ((level, text),) = messages_of(response)
    assert level == "error" and "LAAFFIC_RECALL['API_KEY']" in text
    assert TEST_SETTINGS["API_SECRET"] not in text


def test_refresh_refuses_more_than_the_batch_limit(admin_client, fake, laaffic_settings):
    laaffic_settings["MAX_REFRESH_BATCH"] = 2
    tasks = [make_task(key) for key in (1, 2, 3)]

    response = post_action(admin_client, "refresh_tasks", tasks)

    ((level, text),) = messages_of(response)
    assert level == "error" and "at most 2 tasks" in text
    assert fake.calls == []


def test_refresh_skips_tasks_whose_key_laaffic_cannot_know_with_a_message(admin_client, fake):
    (good,) = synced(fake, 1)
    bad = make_task(-5)
    zero = make_task(0, nodes=0)

    response = post_action(admin_client, "refresh_tasks", [good, bad, zero])

    assert response.status_code == 302
    (skipped, refreshed) = messages_of(response)
    assert skipped == (
        "warning",
        "Skipped 2 tasks whose recall keys are not positive numbers, so LAAFFIC cannot be "
        "asked about them: #-5, #0.",
    )
    assert refreshed[0] == "success" and refreshed[1].startswith("Refreshed 1 task")
    assert fake.detail_keys() == [1]


def test_refresh_of_only_invalid_keys_calls_nobody(admin_client, fake):
    bad = make_task(-5)

    response = post_action(admin_client, "refresh_tasks", [bad])

    assert response.status_code == 302
    ((level, text),) = messages_of(response)
    assert level == "warning" and "#-5" in text
    assert fake.calls == []


def test_an_unknown_remote_time_zone_is_an_error_message_not_a_500(
    admin_client, mocked_api, laaffic_settings
):
    laaffic_settings["REMOTE_TIMEZONE"] = "Asia/Shangai"
    url = reverse("admin:laaffic_recall_recalltask_cancel_by_parent")

    response = admin_client.post(url, {"parent_task_id": "5"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Unknown LAAFFIC remote time zone" in html and "REMOTE_TIMEZONE" in html
    assert len(mocked_api.calls) == 0


def test_a_viewer_may_refresh(mirror_viewer_client, fake):
    tasks = synced(fake, 1)

    choices = dict(
        mirror_viewer_client.get(TASKS_URL).context["action_form"].fields["action"].choices
    )
    assert choices["refresh_tasks"] == "Refresh from LAAFFIC"
    response = post_action(mirror_viewer_client, "refresh_tasks", tasks)

    assert messages_of(response)[0][0] == "success"
    assert fake.detail_keys() == [1]
