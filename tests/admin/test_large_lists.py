"""The task list and the audit log as they grow: counts capped, filter choices and the date
drill-down read without a pass over every row, queries per page constant in the rows."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from laaffic_recall.admin.date_hierarchy import spanned_periods
from laaffic_recall.admin.distinct import distinct_values
from laaffic_recall.admin.paginator import CappedCountPaginator
from laaffic_recall.models import CancelAttempt, CancelType, Outcome, RecallTask, Status
from tests.support.mirror import make_task

pytestmark = pytest.mark.django_db

AUDIT = reverse("admin:laaffic_recall_cancelattempt_changelist")
TASKS = reverse("admin:laaffic_recall_recalltask_changelist")
AUDIT_PAGES = [
    "",
    "?q=agent7",
    "?q=4711",
    "?outcome=refused",
    "?response_code=-16",
    "?username=agent7",
    "?started_at__year=2025",
    "?started_at__year=2025&started_at__month=3",
]
TASK_PAGES = ["", "?q=4711", "?q=paign", "?status__exact=0", "?created_at_remote__year=2025"]


def attempts(count: int, first: int = 0) -> None:
    """``count`` finished attempts over three years, 40 users and 12 response codes."""
    began = datetime(2024, 1, 1, tzinfo=UTC)
    CancelAttempt.objects.bulk_create(
        CancelAttempt(
            cancel_type=CancelType.TASK,
            target_id=1000 + i,
            task_key_id=1000 + i,
            username=f"agent{i % 40}",
            started_at=began + timedelta(days=i % 1000, minutes=i),
            outcome=Outcome.REFUSED if i % 3 else Outcome.SUCCEEDED,
            response_code=-(i % 12),
            reason=f"ticket {i}",
        )
        for i in range(first, first + count)
    )


def tasks(count: int, first: int = 0) -> None:
    for i in range(first, first + count):
        make_task(
            key_id=10_000 + i,
            status=i % 4,
            created_at_remote=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i % 900),
        )


def queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return [query["sql"] for query in captured]


@pytest.mark.parametrize("page", AUDIT_PAGES)
def test_audit_list_queries_do_not_grow_with_rows(
    admin_client, page, django_assert_max_num_queries
):
    attempts(6)
    few = len(queries(admin_client, AUDIT + page))
    attempts(400, first=6)
    with django_assert_max_num_queries(few):
        assert admin_client.get(AUDIT + page).status_code == 200


@pytest.mark.parametrize("page", TASK_PAGES)
def test_task_list_queries_do_not_grow_with_rows(admin_client, page, django_assert_max_num_queries):
    tasks(3)
    few = len(queries(admin_client, TASKS + page))
    tasks(150, first=3)
    with django_assert_max_num_queries(few):
        assert admin_client.get(TASKS + page).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        AUDIT,
        AUDIT + "?started_at__year=2025",
        TASKS,
        AUDIT + "?_facets=True",
        TASKS + "?_facets=True&status__exact=1",
    ],
)
def test_no_page_reads_distinct_values_or_counts_past_the_cap(admin_client, url):
    """The filter choices and the date drill-down are read from indexes, and the count
    stops at the cap: no ``SELECT DISTINCT`` over the table, no unbounded ``COUNT``."""
    attempts(30)
    tasks(5)
    for sql in queries(admin_client, url):
        assert "DISTINCT" not in sql.upper(), sql
        if "COUNT(" in sql.upper() and "laaffic_recall_" in sql:
            assert "LIMIT" in sql.upper(), sql


def test_a_count_past_the_cap_is_shown_as_such_and_the_rows_still_page(admin_client, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 150)
    attempts(260)
    page = admin_client.get(AUDIT)
    html = page.content.decode()
    if connection.vendor == "postgresql":
        shown = re.search(r"about ([\d,]+) cancel attempts", html)
        assert shown and int(shown.group(1).replace(",", "")) > 150
    else:
        assert re.search(r"more than\s+150 cancel attempts", html)
    searched = admin_client.get(AUDIT + "?q=agent").content.decode()
    assert re.search(r"(about [\d,]+|more than 150) results", searched)
    assert len(page.context["cl"].result_list) == 100
    second = admin_client.get(AUDIT + "?p=2")
    assert len(second.context["cl"].result_list) == 100
    newest_first = list(CancelAttempt.objects.order_by("-started_at", "-id")[100:200])
    assert list(second.context["cl"].result_list) == newest_first


def test_a_count_within_the_cap_is_exact(admin_client, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 150)
    attempts(150)
    html = admin_client.get(AUDIT + "?outcome=refused").content.decode()
    assert re.search(r"(?<!about )(?<!than )\b100 cancel attempts", html)
    assert "more than" not in html and "about" not in html.split('class="paginator"')[1]


def test_distinct_values_are_every_non_null_value_in_order():
    attempts(24)
    CancelAttempt.objects.create(
        cancel_type=CancelType.TASK, target_id=5, task_key_id=5, outcome=Outcome.SKIPPED
    )
    assert distinct_values(CancelAttempt, "response_code") == list(range(-11, 1))
    assert distinct_values(CancelAttempt, "username")[:3] == ["", "agent0", "agent1"]
    assert distinct_values(CancelAttempt, "username") == sorted(
        set(CancelAttempt.objects.values_list("username", flat=True))
    )


def test_filter_choices_list_every_code_and_user(admin_client):
    attempts(40)
    html = admin_client.get(AUDIT).content.decode()
    for code in range(-11, 1):
        assert f'href="?response_code={code}"' in html
    for user in range(40):
        assert f'href="?username=agent{user}"' in html
    refused = admin_client.get(AUDIT + "?username=agent7&response_code=-7").context["cl"]
    assert {(a.username, a.response_code) for a in refused.result_list} == {("agent7", -7)}


def test_date_drill_down_spans_first_to_last_row(admin_client):
    attempts(3)  # 2024-01-01, 01-02, 01-03
    CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=5,
        task_key_id=5,
        outcome=Outcome.SUCCEEDED,
        started_at=datetime(2026, 2, 1, 12, tzinfo=UTC),
    )
    years = admin_client.get(AUDIT).content.decode()
    for year in (2024, 2025, 2026):
        assert f'href="?started_at__year={year}"' in years
    months = admin_client.get(AUDIT + "?started_at__year=2024").content.decode()
    assert re.search(r"started_at__month=1\b", months) and "started_at__month=2" not in months
    days = admin_client.get(AUDIT + "?started_at__year=2024&started_at__month=1").content
    for day in (1, 2, 3):
        assert re.search(rf"started_at__day={day}\b".encode(), days)
    assert b"started_at__day=4" not in days


def test_spanned_periods():
    assert spanned_periods(date(2024, 11, 30), date(2025, 2, 1), "month") == [
        date(2024, 11, 1),
        date(2024, 12, 1),
        date(2025, 1, 1),
        date(2025, 2, 1),
    ]
    assert spanned_periods(date(2024, 2, 28), date(2024, 3, 1), "day") == [
        date(2024, 2, 28),
        date(2024, 2, 29),
        date(2024, 3, 1),
    ]
    assert spanned_periods(date(2023, 5, 5), date(2025, 1, 1), "year") == [
        date(2023, 1, 1),
        date(2024, 1, 1),
        date(2025, 1, 1),
    ]


def test_task_status_filter_counts_within_the_cap(admin_client):
    tasks(8)
    cl = admin_client.get(TASKS + f"?status__exact={Status.PENDING}").context["cl"]
    assert cl.result_count == 2 and cl.paginator.count_kind == "exact"


@pytest.mark.parametrize(
    ("url", "term"),
    [(TASKS, "10004"), (TASKS, "#10004"), (AUDIT, "1004"), (TASKS, "2024051810004")],
)
def test_a_search_for_an_id_compares_numbers_so_an_index_serves_it(admin_client, url, term):
    """Django would compare ``CAST(key_id AS text)`` with the term, which no index serves."""
    tasks(8)
    attempts(8)
    with CaptureQueriesContext(connection) as captured:
        cl = admin_client.get(url, {"q": term}).context["cl"]
    assert len(cl.result_list) == 1
    found = cl.result_list[0]
    number = int(term.lstrip("#"))
    assert number in {
        getattr(found, name, None) for name in ("key_id", "parent_task_id", "target_id")
    }
    sql = " ".join(query["sql"] for query in captured).upper()
    assert "CAST(" not in sql and "::VARCHAR" not in sql and "::TEXT) =" not in sql


@pytest.mark.parametrize("term", ["99999999999999999999999", "-0", "12abc", "ticket 4"])
def test_a_search_term_that_is_no_id_matches_text_only(admin_client, term):
    attempts(8)
    cl = admin_client.get(AUDIT, {"q": term}).context["cl"]
    expected = {
        a
        for a in CancelAttempt.objects.all()
        if all(word.lower() in (a.reason + " " + a.username).lower() for word in term.split())
    }
    assert set(cl.result_list) == expected
    nodes = admin_client.get(reverse("admin:laaffic_recall_recallnode_changelist"), {"q": term})
    assert nodes.status_code == 200 and list(nodes.context["cl"].result_list) == []


@pytest.mark.parametrize(
    ("model", "lookup", "index"),
    [
        (CancelAttempt, "username__icontains", "laaffic_attempt_username_trgm"),
        (CancelAttempt, "reason__icontains", "laaffic_attempt_reason_trgm"),
        (RecallTask, "task_name__icontains", "laaffic_task_name_trgm"),
    ],
)
def test_text_search_can_use_a_trigram_index_on_postgresql(model, lookup, index):
    """The index's expression is the very one the admin's search compares, so that the
    planner can use it (told here to avoid a table scan, which it prefers on few rows, and
    a B-tree read in date order, which it may prefer for the list's ordering)."""
    if connection.vendor != "postgresql":
        pytest.skip("trigram indexes are PostgreSQL's")
    attempts(20)
    tasks(5)
    sql, params = model.objects.filter(**{lookup: "gent7"}).order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # not the B-trees, read in order
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan


def searched(client, url: str, term: str) -> tuple[set, str]:
    """The rows a search finds, and the SQL it ran."""
    with CaptureQueriesContext(connection) as captured:
        cl = client.get(url, {"q": term}).context["cl"]
    return set(cl.result_list), " ".join(query["sql"] for query in captured).upper()


def test_a_search_of_numbers_only_looks_in_the_id_fields_only(admin_client):
    """``LIKE '%1004%'`` over the usernames and reasons is a read of every row on SQLite;
    a number alone is an id. In quotes, or beside a word, it is looked for in text too."""
    attempts(8)
    in_reason = CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=5555,
        task_key_id=5555,
        username="agent5",
        outcome=Outcome.REFUSED,
        reason="ticket 1004 again",
    )
    by_id = CancelAttempt.objects.get(target_id=1004)

    found, sql = searched(admin_client, AUDIT, "1004")
    assert found == {by_id}
    assert "LIKE" not in sql
    assert searched(admin_client, AUDIT, '"1004"')[0] == {by_id, in_reason}
    assert searched(admin_client, AUDIT, "'1004'")[0] == {by_id, in_reason}
    assert searched(admin_client, AUDIT, "again 1004")[0] == {in_reason}
    assert searched(admin_client, AUDIT, "1004 5555")[0] == set()  # every term, as Django


def test_a_task_search_of_numbers_only_looks_in_the_keys_and_parent_ids_only(admin_client):
    tasks(8)
    named = make_task(7, task_name="Budget 10003")
    by_key = RecallTask.objects.get(key_id=10003)

    found, sql = searched(admin_client, TASKS, "10003")
    assert found == {by_key}
    assert "LIKE" not in sql
    assert searched(admin_client, TASKS, '"10003"')[0] == {by_key, named}
    assert searched(admin_client, TASKS, "budget 10003")[0] == {named}
    assert searched(admin_client, TASKS, str(named.parent_task_id))[0] == {named}


@pytest.mark.parametrize("url", [AUDIT, TASKS])
def test_the_search_help_says_how_a_number_is_searched(admin_client, url):
    html = admin_client.get(url).content.decode()
    assert "a whole number" in html and "in quotes" in html


def test_select_all_past_the_cap_says_the_count_as_the_pagination_does(admin_client, monkeypatch):
    """Not "Select all 151": the paginator stopped counting at the cap."""
    monkeypatch.setattr(CappedCountPaginator, "cap", 150)
    attempts(260)
    html = admin_client.get(AUDIT).content.decode()
    if connection.vendor == "postgresql":
        estimate = re.search(r"about ([\d,]+) cancel attempts", html).group(1)
        assert f"Select all cancel attempts (about {estimate})" in html
        assert f"All selected (about {estimate})" in html
    else:
        assert "Select all cancel attempts (more than 150)" in html
        assert "All selected (more than 150)" in html
        # (On PostgreSQL the planner's estimate is shown, and may be any number, 151 too.)
        assert "151" not in html
    assert not re.search(r"Select all \d", html)


def test_select_all_within_the_cap_gives_the_exact_count(admin_client, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 150)
    attempts(140)
    html = admin_client.get(AUDIT).content.decode()
    assert "Select all 140 cancel attempts" in html and "All 140 selected" in html
    assert "more than" not in html


@pytest.mark.parametrize(
    "url", [AUDIT, TASKS, reverse("admin:laaffic_recall_recallnode_changelist")]
)
def test_the_large_lists_offer_no_show_counts(admin_client, url):
    """Django's "Show counts" counts every filter choice over the table, uncapped."""
    attempts(3)
    tasks(3)
    assert "Show counts" not in admin_client.get(url).content.decode()
    page = admin_client.get(url + "?_facets=True")
    assert page.status_code == 200 and not page.context["cl"].add_facets
