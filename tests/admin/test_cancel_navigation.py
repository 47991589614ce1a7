"""Getting to and from the cancel pages: the permission refusal as a message, the parent-id
form, the task page's button or note, and the change list's filters kept throughout."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import quote

import pytest
from django.contrib.messages import constants as levels
from django.urls import reverse

from laaffic_recall.models import CancelAttempt, RecallNode, RecallTask
from tests.support.admin import (
    BY_PARENT,
    NODES,
    TASKS,
    cancel_url,
    last_message,
    node_url,
    staff,
    task_url,
)
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    PENDING,
    add_cancel,
    add_detail,
    add_page,
    calls_to,
    sent_bodies,
    task_record,
)

pytestmark = pytest.mark.django_db

FILTER = "status__exact=0"
KEPT = "_changelist_filters=" + quote(FILTER, safe="")
PERMISSION = "You need the “Can cancel recall tasks” permission"


def hrefs(html: str, text: str) -> list[str]:
    """The targets of the links whose text is ``text``."""
    found = re.findall(r'<a href="([^"]+)"[^>]*>\s*' + re.escape(text) + r"\s*</a>", html)
    return [unescape(href) for href in found]


# --------------------------------------------------------------------------- U6: permission


def test_cancel_pages_send_a_user_without_the_permission_back_with_a_message(
    mocked_api, viewer_client
):
    task = make_task(12)
    [node] = make_nodes(task, PENDING)
    for url, back in (
        (cancel_url(task), task_url(task)),
        (node_url(node), task_url(task)),
        (BY_PARENT, TASKS),
    ):
        for response in (
            viewer_client.get(url),
            viewer_client.post(url, {"post": "yes", "parent_task_id": "5"}),
        ):
            assert response.status_code == 302 and response.url == back
            level, text = last_message(response)
            assert level == levels.ERROR and PERMISSION in text
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


def test_the_refusal_keeps_the_list_filters(viewer_client):
    task = make_task(12)
    response = viewer_client.get(f"{cancel_url(task)}?{KEPT}")
    assert response.url == f"{task_url(task)}?{KEPT}"
    response = viewer_client.get(f"{BY_PARENT}?{KEPT}")
    assert response.url == f"{TASKS}?{FILTER}"


def test_a_forged_cancel_action_from_a_viewer_names_the_permission(mocked_api, viewer_client):
    task = make_task(12)
    [node] = make_nodes(task, PENDING)
    forged = [
        (TASKS, {"action": "cancel_tasks", "index": 0, "_selected_action": [task.pk]}),
        (TASKS, {"action": "cancel_tasks_by_parent", "_selected_action": [task.pk], "post": "yes"}),
        (NODES, {"action": "cancel_from_node", "_selected_action": [node.pk], "post": "yes"}),
    ]
    for url, data in forged:
        response = viewer_client.post(url, data)
        assert response.status_code == 302
        level, text = last_message(response)
        assert level == levels.ERROR and PERMISSION in text
        assert "No action selected" not in text
    assert len(mocked_api.calls) == 0 and CancelAttempt.objects.count() == 0


def test_staff_without_any_permission_are_refused_without_learning_anything(mocked_api, client):
    client.force_login(staff("nobody"))
    task = make_task(12)
    for url in (cancel_url(task), BY_PARENT):
        response = client.get(url)
        assert response.status_code == 302 and response.url == reverse("admin:index")
        assert "Campaign 12" not in last_message(response)[1]
    assert len(mocked_api.calls) == 0


# --------------------------------------------------------------------------- U7: parent-id form


@pytest.mark.parametrize("typed", ["#2026112600400", "  2026112600400 ", " # 2026112600400"])
def test_the_parent_id_form_accepts_a_hash_and_spaces(mocked_api, agent_client, typed):
    parent = 2026112600400
    add_page(mocked_api, task_record(77, parent))

    page = agent_client.post(BY_PARENT, {"parent_task_id": typed})

    html = page.content.decode()
    assert page.status_code == 200 and "#77 Autumn" in html
    assert f'name="parent_task_id" value="{parent}"' in html
    assert len(calls_to(mocked_api, "cancel")) == 0


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("abc", "a positive whole number of at most 19 digits, e.g. 2026112600400"),
        ("-5", "a positive whole number of at most 19 digits, e.g. 2026112600400"),
        ("0", "a positive whole number of at most 19 digits, e.g. 2026112600400"),
        ("1.5", "a positive whole number of at most 19 digits, e.g. 2026112600400"),
        ("12345678901234567890", "a positive whole number of at most 19 digits"),
        ("9999999999999999999", "too large for a LAAFFIC id"),
        ("", "Enter the id: a positive whole number of at most 19 digits"),
        ("#", "Enter the id: a positive whole number of at most 19 digits"),
    ],
)
def test_the_parent_id_form_says_plainly_what_is_wrong(mocked_api, agent_client, typed, message):
    response = agent_client.post(BY_PARENT, {"parent_task_id": typed})
    assert response.status_code == 200
    assert message in unescape(response.content.decode())
    assert "Enter a whole number." not in response.content.decode()
    assert len(mocked_api.calls) == 0


def test_the_parent_id_form_looks_like_the_confirmation_pages(agent_client):
    html = agent_client.get(BY_PARENT).content.decode()
    assert "admin/css/forms.css" in html  # aligned label and help text
    assert "laaffic_recall/admin.css" in html
    assert hrefs(html, "Back to recall tasks") == [TASKS]
    assert re.search(r'<a href="[^"]+" class="button cancel-link">Back to recall tasks</a>', html)
    assert "No, take me back" not in html
    assert 'id="id_parent_task_id_helptext"' in html
    assert 'aria-describedby="id_parent_task_id_helptext"' in html


# --------------------------------------------------------------------------- U9: task page


def test_cancel_this_task_is_a_red_button_on_a_pending_task(agent_client):
    task = make_task(12)
    html = agent_client.get(task_url(task)).content.decode()
    assert re.search(
        rf'<a href="{re.escape(cancel_url(task))}" class="laaffic-cancel-task-link">', html
    )
    assert "laaffic_recall/admin.css" in html


def test_a_task_not_pending_shows_why_it_has_no_cancel_button(agent_client):
    running = make_task(12, status=IN_PROGRESS)
    make_nodes(running, IN_PROGRESS, PENDING)
    done = make_task(13, status=COMPLETED)
    make_nodes(done, COMPLETED, first_key=201)

    html = agent_client.get(task_url(running)).content.decode()
    assert cancel_url(running) not in html
    assert "In progress: the whole task can no longer be cancelled, but its later rounds" in html
    stop = node_url(RecallNode.objects.get(task=running, position=1))
    assert re.search(rf'<a href="{re.escape(stop)}"[^>]*>Stop round 2</a>', html)

    html = agent_client.get(task_url(done)).content.decode()
    assert "Whole-task cancel only while Pending." in html and "Cancel from here" not in html


def test_a_viewer_sees_neither_button_nor_note(viewer_client):
    task = make_task(12, status=IN_PROGRESS)
    html = viewer_client.get(task_url(task)).content.decode()
    assert "Whole-task cancel" not in html and "Cancel this task" not in html


# --------------------------------------------------------------------------- U15: filters kept


def test_a_row_of_a_filtered_list_links_to_its_page_with_the_filters(agent_client):
    task = make_task(31)
    [node] = make_nodes(task, PENDING)
    node_page = reverse("admin:laaffic_recall_recallnode_change", args=[node.pk])
    for url, page in ((TASKS, task_url(task)), (NODES, node_page)):
        html = unescape(agent_client.get(f"{url}?{FILTER}").content.decode())
        assert f'href="{page}?{KEPT}"' in html
        html = unescape(agent_client.get(url).content.decode())
        assert f'href="{page}"' in html and "_changelist_filters" not in html


def test_the_task_page_buttons_keep_the_list_filters_to_the_end(mocked_api, agent_client):
    task = make_task(12)
    nodes = make_nodes(task, PENDING)

    html = agent_client.get(f"{task_url(task)}?{KEPT}").content.decode()
    assert hrefs(html, "Cancel this task") == [f"{cancel_url(task)}?{KEPT}"]
    assert f'href="{node_url(nodes[0])}?{KEPT}"' in html.replace("&amp;", "&")

    page = agent_client.get(f"{cancel_url(task)}?{KEPT}").content.decode()
    assert hrefs(page, "No, take me back") == [f"{task_url(task)}?{KEPT}"]
    assert f"{TASKS}?{FILTER}" in hrefs(page, "Recall tasks")  # breadcrumbs

    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)
    response = agent_client.post(f"{cancel_url(task)}?{KEPT}", {"post": "yes"})
    assert response.status_code == 302 and response.url == f"{task_url(task)}?{KEPT}"
    assert sent_bodies(mocked_api) == [{"type": 1, "id": 12}]
    assert RecallTask.objects.get(pk=task.pk).status == CANCELLED


def test_the_node_button_keeps_the_list_filters(mocked_api, agent_client):
    task = make_task(12)
    [node] = make_nodes(task, PENDING)

    page = agent_client.get(f"{node_url(node)}?{KEPT}").content.decode()
    assert hrefs(page, "No, take me back") == [f"{task_url(task)}?{KEPT}"]

    add_detail(mocked_api, 12, PENDING, nodes=((101, PENDING),))
    add_cancel(mocked_api, 3, 101)
    add_detail(mocked_api, 12, PENDING, nodes=((101, CANCELLED),))
    response = agent_client.post(f"{node_url(node)}?{KEPT}", {"post": "yes"})
    assert response.status_code == 302 and response.url == f"{task_url(task)}?{KEPT}"
    assert RecallNode.objects.get(pk=node.pk).status == CANCELLED


def test_the_parent_id_form_keeps_the_list_filters(mocked_api, agent_client):
    html = agent_client.get(f"{TASKS}?{FILTER}").content.decode()
    assert hrefs(html, "Cancel by parent task id") == [f"{BY_PARENT}?{KEPT}"]

    form = agent_client.get(f"{BY_PARENT}?{KEPT}").content.decode()
    assert hrefs(form, "Back to recall tasks") == [f"{TASKS}?{FILTER}"]

    parent = 2026112600400
    add_page(mocked_api, task_record(77, parent))
    page = agent_client.post(
        f"{BY_PARENT}?{KEPT}", {"parent_task_id": str(parent)}
    ).content.decode()
    assert hrefs(page, "No, take me back") == [f"{BY_PARENT}?{KEPT}"]

    add_detail(mocked_api, 77, PENDING)
    add_cancel(mocked_api, 2, parent)
    add_detail(mocked_api, 77, CANCELLED)
    response = agent_client.post(
        f"{BY_PARENT}?{KEPT}", {"parent_task_id": str(parent), "post": "yes"}
    )
    assert response.status_code == 302 and response.url == f"{TASKS}?{FILTER}"
    assert sent_bodies(mocked_api) == [{"type": 2, "id": parent}]


def test_an_action_on_a_filtered_list_comes_back_to_it(mocked_api, agent_client):
    task = make_task(12)
    url = f"{TASKS}?{FILTER}"

    page = agent_client.post(
        url, {"action": "cancel_tasks", "index": 0, "_selected_action": [task.pk]}
    )
    assert hrefs(page.content.decode(), "No, take me back") == [url]

    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)
    response = agent_client.post(
        url, {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"}
    )
    assert response.status_code == 302 and response.url == url
