"""A search for one recall key that finds nothing: why it may be missing, and "Look it up
at LAAFFIC", which reads the task, mirrors it and opens it if the user may see it."""

from __future__ import annotations

import pytest
from django.contrib.admin import site
from django.contrib.messages import get_messages
from django.urls import reverse

from laaffic_recall.models import RecallTask
from tests.support.admin import TASKS, task_url
from tests.support.mirror import make_task
from tests.support.vendor import PENDING, add_detail, add_detail_failure

pytestmark = pytest.mark.django_db

LOOK_UP = reverse("admin:laaffic_recall_recalltask_look_up")


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_an_empty_search_for_a_key_says_so_and_offers_the_look_up(viewer_client):
    html = viewer_client.get(TASKS, {"q": "999999"}).content.decode()
    assert "No recall task 999999 here." in html
    assert "older than the days the sync reads" in html
    assert f'<form method="post" action="{LOOK_UP}">' in html
    assert '<input type="hidden" name="key_id" value="999999">' in html
    assert "csrfmiddlewaretoken" in html


def test_a_search_that_finds_the_task_or_is_a_word_offers_nothing(viewer_client):
    make_task(12)
    assert "Look it up at LAAFFIC" not in viewer_client.get(TASKS, {"q": "12"}).content.decode()
    html = viewer_client.get(TASKS, {"q": "autumn"}).content.decode()
    assert "Look it up at LAAFFIC" not in html


def test_the_look_up_reads_mirrors_and_opens_the_task(mocked_api, viewer_client):
    add_detail(mocked_api, 12, PENDING)
    response = viewer_client.post(LOOK_UP, {"key_id": "12"})
    task = RecallTask.objects.get(key_id=12)
    assert response.status_code == 302 and response.url == task_url(task)
    assert texts(response) == ["Read recall task #12 from LAAFFIC."]


def test_a_task_laaffic_does_not_give_stays_unopened_with_the_reason(mocked_api, viewer_client):
    add_detail_failure(mocked_api, 12)
    response = viewer_client.post(LOOK_UP, {"key_id": "12"})
    assert response.status_code == 302 and response.url == f"{TASKS}?q=12"
    [message] = texts(response)
    assert message.startswith("LAAFFIC did not give recall task #12:")


def test_a_task_the_user_may_not_see_is_mirrored_but_not_opened(
    mocked_api, viewer_client, monkeypatch
):
    admin = site.get_model_admin(RecallTask)
    original = type(admin).get_queryset
    monkeypatch.setattr(
        type(admin), "get_queryset", lambda self, r: original(self, r).exclude(key_id=12)
    )
    add_detail(mocked_api, 12, PENDING)
    response = viewer_client.post(LOOK_UP, {"key_id": "12"})
    assert response.url == f"{TASKS}?q=12"
    assert texts(response) == ["LAAFFIC has recall task #12, but it cannot be shown to you here."]


def test_a_get_or_anything_but_an_id_asks_laaffic_nothing(mocked_api, viewer_client):
    assert viewer_client.get(LOOK_UP).status_code == 302
    viewer_client.post(LOOK_UP, {"key_id": "12 OR 1=1"})
    viewer_client.post(LOOK_UP, {"key_id": "-4"})
    assert len(mocked_api.calls) == 0
