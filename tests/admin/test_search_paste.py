"""Search as agents paste: several ids from a ticket, parent ids as links, a recall key
typed where a parent id belongs."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
from django.test.utils import override_script_prefix
from django.urls import reverse

from laaffic_recall.admin.tasks import MAX_PASTED_IDS, pasted_ids
from laaffic_recall.models import RecallTask
from tests.support.admin import BY_PARENT, TASKS, task_url
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import api_url, signed

pytestmark = pytest.mark.django_db

NODES = reverse("admin:laaffic_recall_recallnode_changelist")


def found(client, url, q: str) -> set[int]:
    response = client.get(url, {"q": q})
    assert response.status_code == 200
    return {row.key_id for row in response.context["cl"].result_list}


@pytest.fixture
def tasks():
    return [make_task(key, parent_task_id=900 + key % 3) for key in range(11, 20)]


@pytest.mark.parametrize(
    "q",
    [
        "12 15",
        "12,15",
        "12, 15,",
        "12\n15",
        "12\r\n15\n",
        "#12 #15",
        "12；15",
        "12，15",
        "12、15",
        "12、 15、",
        "12;15 15",
    ],
)
def test_several_keys_pasted_together_find_each(agent_client, tasks, q):
    assert found(agent_client, TASKS, q) == {12, 15}


def test_keys_and_parent_ids_pasted_together_find_both(agent_client, tasks):
    # 900 is the parent of 12, 15 and 18; 11 is a key.
    assert found(agent_client, TASKS, "900 11") == {11, 12, 15, 18}


def test_a_word_among_the_numbers_is_an_ordinary_search(agent_client, tasks):
    make_task(99, task_name="Campaign 12 15")
    assert found(agent_client, TASKS, "Campaign 12 15") == {99}


def test_pasted_node_keys_and_task_keys_find_nodes(agent_client):
    first = make_task(31)
    second = make_task(32)
    make_nodes(first, 1, 1, first_key=501)
    make_nodes(second, 1, first_key=601)
    assert found(agent_client, NODES, "502, 601") == {502, 601}
    assert found(agent_client, NODES, "31 601") == {501, 502, 601}


def test_a_paste_past_the_bound_searches_the_first_ids_and_says_so(agent_client, tasks):
    q = " ".join(str(n) for n in [12, *range(1000, 1000 + MAX_PASTED_IDS), 15])
    response = agent_client.get(TASKS, {"q": q})
    assert {row.key_id for row in response.context["cl"].result_list} == {12}
    assert f"the first {MAX_PASTED_IDS} were searched" in response.content.decode()


def test_pasted_ids_parses_only_lists_of_numbers():
    assert pasted_ids("1 2 2 3") == [1, 2, 3]
    assert pasted_ids("1") is None
    assert pasted_ids("1 two") is None
    assert pasted_ids("١ ٢") is None  # digits of another script are a text search
    assert pasted_ids(f"1 {2**63}") == [1]  # past a database integer: matches nothing


def test_the_parent_id_links_to_its_siblings_on_the_list_and_the_page(agent_client, tasks):
    sibling_list = f"{TASKS}?parent_task_id=900"
    # On the list, the same path with the parent's query; on the task page, the list's path.
    list_page = agent_client.get(TASKS, {"status__exact": "0"}).content.decode()
    assert 'href="?parent_task_id=900"' in list_page
    task = RecallTask.objects.get(key_id=12)
    assert f'href="{sibling_list}"' in agent_client.get(task_url(task)).content.decode()
    assert {t.key_id for t in agent_client.get(sibling_list).context["cl"].result_list} == {
        12,
        15,
        18,
    }


def test_the_parent_links_lead_to_the_list_under_a_script_prefix(agent_client, tasks):
    """A site served under a path (SCRIPT_NAME): the list's relative link and the task
    page's link both open that site's list of the parent's tasks."""
    prefix = "/support"
    list_url = f"{prefix}{TASKS}?status__exact=0"
    task_path = task_url(RecallTask.objects.get(key_id=12))
    with override_script_prefix(f"{prefix}/"):
        page = agent_client.get(TASKS, {"status__exact": "0"}).content.decode()
        task_page = agent_client.get(task_path).content.decode()
    links = re.findall(r'href="([^"]*parent_task_id=900)"', page)
    page_links = re.findall(r'href="([^"]*parent_task_id=900)"', task_page)

    assert links and page_links
    opened = {urljoin(list_url, link) for link in links}
    opened |= {urljoin(f"{prefix}{task_path}", link) for link in page_links}
    assert opened == {f"{prefix}{TASKS}?parent_task_id=900"}


def test_a_recall_key_typed_as_a_parent_id_offers_that_task(mocked_api, agent_client):
    task = make_task(131142, task_name="Spring call", parent_task_id=2024051800007)
    empty = {"code": 0, "msg": "ok", "data": {"total": 0, "pages": 0, "records": []}}
    mocked_api.post(api_url("queryPage"), json=empty, match=[signed])

    html = agent_client.post(BY_PARENT, {"parent_task_id": "131142"}).content.decode()

    assert "no recall task with parent task id 131142" in html
    assert "did you mean" in html
    assert f'href="{task_url(task)}"' in html and "task #131142 (Spring call)" in html
    assert 'name="post"' not in html


def test_an_unknown_parent_id_offers_nothing_else(mocked_api, agent_client):
    make_task(5)
    empty = {"code": 0, "msg": "ok", "data": {"total": 0, "pages": 0, "records": []}}
    mocked_api.post(api_url("queryPage"), json=empty, match=[signed])
    html = agent_client.post(BY_PARENT, {"parent_task_id": "31337"}).content.decode()
    assert "no recall task with parent task id 31337" in html and "did you mean" not in html
