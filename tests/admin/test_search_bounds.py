"""A search is bounded: every word goes into one filter, as in Django's own search, and a
search past MAX_SEARCH_WORDS words or MAX_SEARCH_CHARS characters is cut, with a message,
so that no query grows with what was typed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from laaffic_recall.admin.search import MAX_SEARCH_CHARS, MAX_SEARCH_WORDS
from laaffic_recall.models import CancelType, Outcome
from tests.support.admin import ATTEMPTS, TASKS
from tests.support.audit import attempt_on
from tests.support.mirror import make_task

pytestmark = pytest.mark.django_db

LONG_SEARCH = " ".join(["word1", "word2"] * 1300)  # 2,600 words, 15,600 characters


@pytest.fixture
def rows():
    for key in range(11, 41):
        task = make_task(key, task_name=f"word1 word2 campaign {key}")
        attempt_on(task, CancelType.TASK, key, Outcome.SUCCEEDED, reason=f"word1 word2 {key}")


def searched(client, url: str, q: str):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"q": q})
    assert response.status_code == 200
    return response, [query["sql"] for query in queries]


@pytest.mark.parametrize("url", [ATTEMPTS, TASKS])
def test_a_search_of_2600_words_runs_the_queries_of_a_short_one_and_says_it_was_cut(
    agent_client, rows, url
):
    short, short_sql = searched(agent_client, url, "word1 word2")
    long, long_sql = searched(agent_client, url, LONG_SEARCH)

    assert len(long_sql) <= len(short_sql) + 1  # + the message's session write, at most
    longest = max(len(sql) for sql in long_sql)
    assert longest < 20 * max(len(sql) for sql in short_sql)
    assert max(sql.upper().count(" LIKE ") for sql in long_sql) <= MAX_SEARCH_WORDS * 4
    messages = [str(m) for m in long.context["messages"]]
    assert any("only its first 20 words" in m for m in messages)
    assert not list(short.context["messages"])
    # The first words still find what they find alone.
    assert long.context["cl"].result_count == short.context["cl"].result_count > 0


def test_a_search_within_the_bounds_is_searched_whole(agent_client, rows):
    words = " ".join(["word1"] * MAX_SEARCH_WORDS)
    assert len(words) <= MAX_SEARCH_CHARS

    response, _sql = searched(agent_client, ATTEMPTS, words)

    assert not list(response.context["messages"])
    assert response.context["cl"].result_count == 30


def test_one_long_word_is_cut_to_the_character_bound(agent_client, rows):
    response, sql = searched(agent_client, ATTEMPTS, "x" * 8000)

    assert all("x" * (MAX_SEARCH_CHARS + 1) not in query for query in sql)
    assert any("only its first" in str(m) for m in response.context["messages"])
