"""Hostile and odd GET input on every admin page of the app: a page or a redirect with a
message, never a 500 and never a write or a call to LAAFFIC. The long sweeps run as the
cancel agent; the rest as the superuser, the cancel agent and the read-only viewer."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from laaffic_recall.models import CancelAttempt, CancelType, Outcome, RecallTask
from tests.support.admin import ATTEMPTS, BY_PARENT, NODES, TASKS
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import COMPLETED, PENDING

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

HUGE = str(2**70)
LONG = "x" * 10_000


@pytest.fixture(params=["superuser", "agent", "viewer"])
def any_client(request, client):
    """The superuser, the cancel agent and the read-only viewer, in turn.

    The long sweeps below run as the agent only (``agent_client``): parsing a query string
    does not depend on the role; the shorter tests run as all three."""
    if request.param == "superuser":
        client.force_login(
            get_user_model().objects.create_superuser("root", "root@example.com", "pw")
        )
        return client
    return request.getfixturevalue(f"{request.param}_client")


@pytest.fixture
def rows():
    task = make_task(12, task_name="Spring ‮evil‬ 🎉")
    make_nodes(task, PENDING, PENDING)
    make_task(13, status=COMPLETED, parent_task_id=None, task_name="")
    return task


ODD_VALUES = [
    "abc",
    "",
    "(",
    "[a-",
    "{",
    "-1",
    "0",
    HUGE,
    "-" + HUGE,
    "1e5",
    "0x10",
    "١٢٣",
    "#12",
    "%00",
    "\x00",
    "a\x00b",
    LONG,
    "'; DROP TABLE x; --",
    "<script>alert(1)</script>",
    "🎉",
    "\u200f12",
    "1.5",
    " 12 ",
]

LIST_PARAMS = [
    "status",
    "status__exact",
    "recall_type__exact",
    "unconfirmed__exact",
    "created_at_remote__gte",
    "created_at_remote__lt",
    "created_at_remote__year",
    "created_at_remote__month",
    "created_at_remote__day",
    "q",
    "o",
    "p",
    "e",
    "_to_field",
    "_popup",
    "all",
    "key_id",
    "key_id__in",
    "key_id__gt",
    "task_name__regex",
    "raw__has_key",
    "raw__contains",
    "raw__keyId",
    "created_at_remote__date",
    "nodes__key_id",
]


def server_errors(client, url: str, queries) -> list:
    """The queries whose GET of ``url`` raised or answered 5xx (the test client re-raises)."""
    failed = []
    for query in queries:
        try:
            status = client.get(url, query).status_code
        except Exception as exc:  # a 500 is what we are looking for
            failed.append((query, repr(exc)[:200]))
            continue
        if status >= 500:
            failed.append((query, status))
    return failed


NODE_PARAMS = ["status__exact", "unconfirmed__exact", "task__id__exact", "q", "o", "p", "task"]

ATTEMPT_PARAMS = [
    "outcome",
    "cancel_type__exact",
    "response_code",
    "username",
    "username__exact",
    "started_at__gte",
    "started_at__year",
    "started_at__month",
    "started_at__day",
    "correlation_id",
    "task_key_id",
    "q",
    "o",
    "p",
]


@pytest.mark.parametrize(
    ("url", "param"),
    [pytest.param(TASKS, param, id=f"tasks-{param}") for param in LIST_PARAMS]
    + [pytest.param(NODES, param, id=f"nodes-{param}") for param in NODE_PARAMS]
    + [pytest.param(ATTEMPTS, param, id=f"attempts-{param}") for param in ATTEMPT_PARAMS],
)
def test_a_list_with_odd_query_params_is_never_a_server_error(agent_client, rows, url, param):
    assert server_errors(agent_client, url, [{param: v} for v in ODD_VALUES]) == []


TASK_COMBINATIONS = [
    {"created_at_remote__year": "99999"},
    {"created_at_remote__year": "0"},
    {"created_at_remote__year": "2024", "created_at_remote__month": "13"},
    {
        "created_at_remote__year": "2024",
        "created_at_remote__month": "2",
        "created_at_remote__day": "30",
    },
    {
        "created_at_remote__year": "9999",
        "created_at_remote__month": "12",
        "created_at_remote__day": "31",
    },
    {"created_at_remote__year": "-5"},
    {"p": "999999"},
    {"p": "-1"},
    {"o": "99"},
    {"o": "-99.1.x"},
    {"o": "1.1.1.1.1"},
    {"q": "#" + HUGE},
    {"q": "#12 #13"},
    {"q": "#"},
]

ATTEMPT_COMBINATIONS = [
    {"started_at__year": "99999"},
    {"started_at__year": "2024", "started_at__month": "13"},
    {"started_at__year": "9999", "started_at__month": "12", "started_at__day": "31"},
    {"response_code": "-" + HUGE},
    {"response_code": "--1"},
    {"response_code": "-"},
]


@pytest.mark.parametrize(
    ("url", "query"),
    [pytest.param(TASKS, q, id=f"tasks-query{i}") for i, q in enumerate(TASK_COMBINATIONS)]
    + [
        pytest.param(ATTEMPTS, q, id=f"attempts-query{i}")
        for i, q in enumerate(ATTEMPT_COMBINATIONS)
    ],
)
def test_a_list_with_out_of_range_combinations_is_never_a_server_error(
    any_client, rows, url, query
):
    response = any_client.get(url, query)

    assert response.status_code in (200, 302)


OBJECT_IDS = ["abc", "-1", "0", "999999", HUGE, "1e5", "١٢٣", "%00", "12_", "1.0", LONG[:2000]]


@pytest.mark.parametrize("object_id", OBJECT_IDS)
@pytest.mark.parametrize(
    "name",
    [
        "admin:laaffic_recall_recalltask_change",
        "admin:laaffic_recall_recallnode_change",
        "admin:laaffic_recall_cancelattempt_change",
        "admin:laaffic_recall_recalltask_history",
        "admin:laaffic_recall_recalltask_cancel",
        "admin:laaffic_recall_recalltask_delete",
    ],
)
def test_pages_of_objects_that_do_not_exist_redirect_with_a_message(
    agent_client, rows, name, object_id
):
    response = agent_client.get(reverse(name, args=[object_id]))

    assert response.status_code in (302, 403, 404)


@pytest.mark.parametrize("object_id", OBJECT_IDS)
@pytest.mark.parametrize("node_id", ["0", "999999", HUGE])
def test_cancel_from_node_page_with_odd_ids_is_never_a_server_error(
    agent_client, rows, object_id, node_id
):
    url = reverse("admin:laaffic_recall_recalltask_cancel_from_node", args=["1", "1"])
    url = url.replace("/1/cancel-from-node/1/", f"/{object_id}/cancel-from-node/{node_id}/")

    response = agent_client.get(url)

    assert response.status_code in (200, 302, 404)


@pytest.mark.parametrize("node_id", ["0", "999999", HUGE])
def test_cancel_from_node_page_of_a_real_task_with_odd_node_ids_is_never_a_server_error(
    any_client, rows, node_id
):
    url = reverse("admin:laaffic_recall_recalltask_cancel_from_node", args=[rows.pk, 1])
    url = url.replace("/cancel-from-node/1/", f"/cancel-from-node/{node_id}/")

    response = any_client.get(url)

    assert response.status_code in (200, 302, 404)


def test_pages_of_real_rows_with_odd_text_render(any_client, rows, mocked_api):
    node = rows.nodes.first()
    for url in [
        reverse("admin:laaffic_recall_recalltask_change", args=[rows.pk]),
        reverse("admin:laaffic_recall_recallnode_change", args=[node.pk]),
        TASKS,
        NODES,
        ATTEMPTS,
        BY_PARENT,
    ]:
        assert any_client.get(url).status_code in (200, 302), url

    assert RecallTask.objects.count() == 2 and CancelAttempt.objects.count() == 0
    assert len(mocked_api.calls) == 0


@pytest.mark.parametrize(
    ("url", "query"),
    [
        (TASKS, {"created_at_remote__year": HUGE}),
        (TASKS, {"created_at_remote__year": "9999"}),
        (TASKS, {"created_at_remote__year": "9999", "created_at_remote__month": "12"}),
        (ATTEMPTS, {"started_at__year": HUGE}),
        (
            ATTEMPTS,
            {"started_at__year": "9999", "started_at__month": "12", "started_at__day": "31"},
        ),
        (TASKS, {"task_name__regex": "("}),
    ],
)
def test_a_query_string_the_date_hierarchy_or_database_cannot_take_reloads_the_list(
    any_client, rows, url, query
):
    response = any_client.get(url, query)

    assert response.status_code == 302
    assert response["Location"] == f"{url}?e=1"
    assert any_client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize(("url", "query"), [(TASKS, {"key_id__in": HUGE}), (NODES, {"task": HUGE})])
def test_an_id_beyond_64_bits_in_the_query_string_lists_nothing_or_reloads_the_list(
    any_client, rows, url, query
):
    response = any_client.get(url, query)

    # PostgreSQL compares it and finds nothing; SQLite refuses to bind it.
    if response.status_code == 302:
        assert response["Location"] == f"{url}?e=1"
    else:
        assert response.status_code == 200
        assert response.context["cl"].result_count == 0


# --------------------------------------------------------------------------- CSV export


def test_the_csv_export_of_odd_rows_reads_back_cell_for_cell(auditor_client, rows):
    odd = [
        'line one\nline two, "quoted"; semi',
        "emoji 🎉 and RTL \u202eevil\u202c \u200f",
        "=cmd|' /C calc'!A0",
        "x" * 2000,
        "",
    ]
    made = [
        CancelAttempt.objects.create(
            cancel_type=CancelType.NODE,
            target_id=2**63 - 1,
            task_key_id=None,
            outcome=Outcome.UNKNOWN,
            username=text[:150],
            reason=text,
            response_message=text,
            response_code=-(2**63),
            request_body={"type": 3, "id": 2**63 - 1, "note": text},
        )
        for text in odd
    ]

    response = auditor_client.post(
        ATTEMPTS,
        {"action": "download_csv", "index": 0, "_selected_action": [a.pk for a in made]},
    )

    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(body)))
    assert [row["Reason"] for row in table] == [
        odd[0],
        odd[1],
        "'" + odd[2],
        odd[3],
        "",
    ]
    assert {row["Id sent"] for row in table} == {str(2**63 - 1)}
    assert {row["Response code"] for row in table} == {str(-(2**63))}
