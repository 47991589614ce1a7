"""The header's "faults on" tag links to a page every staff user may open, listing the
sandbox faults switched on."""

from __future__ import annotations

import pytest
from django.urls import reverse

from laaffic_recall.sandbox.testing import inject_fault, recall_settings

pytestmark = pytest.mark.django_db

FAULTS = reverse("laaffic_sandbox_faults")


@pytest.fixture
def on_sandbox(settings):
    settings.LAAFFIC_RECALL = recall_settings("http://127.0.0.1:8000/sandbox")


def test_an_agent_opens_the_faults_page_from_the_tag(agent_client, on_sandbox):
    inject_fault("html_502", calls=["cancel"], when="before")
    index = agent_client.get(reverse("admin:index")).content.decode()
    assert f'id="laaffic-sandbox-faults" href="{FAULTS}"' in index

    page = agent_client.get(FAULTS)
    html = page.content.decode()
    assert page.status_code == 200
    assert "HTTP 502 with an HTML page" in html and "calls cancel" in html
    assert "Switch faults on or off" not in html  # an agent may not change them


def test_the_faults_page_is_for_staff_only(client):
    response = client.get(FAULTS)
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_without_a_fault_the_page_says_so_and_the_tag_is_gone(agent_client, on_sandbox):
    assert "No fault is switched on now." in agent_client.get(FAULTS).content.decode()
    index = agent_client.get(reverse("admin:index")).content.decode()
    assert 'id="laaffic-sandbox-faults"' not in index
