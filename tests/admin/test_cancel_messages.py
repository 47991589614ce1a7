"""What an agent reads after a cancel: one plain first sentence they can act on, a line per
target, and the technical detail only behind a "details" disclosure, as plain text."""

from __future__ import annotations

import html

import pytest
from django.contrib.messages import constants as levels

from tests.support.admin import cancel_url, last_message
from tests.support.mirror import make_task
from tests.support.vendor import CANCELLED, PENDING, add_cancel, add_detail

pytestmark = pytest.mark.django_db

NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
    "</html>\r\n"
)


def cancel(client, task):
    return client.post(cancel_url(task), {"post": "yes"})


def test_calls_stopped(mocked_api, agent_client):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12)
    add_detail(mocked_api, 12, CANCELLED)

    level, text = last_message(cancel(agent_client, task))

    assert level == levels.SUCCESS and text.startswith("Calls stopped. 1 of 1 cancelled")


def test_nothing_stopped_says_why_and_what_to_do(mocked_api, agent_client):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, json={"code": -16, "msg": "timestamp expired"})
    add_detail(mocked_api, 12, PENDING)

    level, text = last_message(cancel(agent_client, task))

    assert level == levels.ERROR
    assert html.unescape(text).startswith(
        "Nothing was stopped: this site's clock is off; tell your administrator. 0 of 1"
    )
    assert "NTP" in text.split("<details", 1)[1]  # the developer's hint, behind details


def test_an_html_502_is_not_sure_yet_with_a_plain_text_excerpt_behind_details(
    mocked_api, agent_client
):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body=NGINX_502, status=502)
    add_detail(mocked_api, 12, PENDING)

    level, text = last_message(cancel(agent_client, task))

    assert level == levels.ERROR
    assert text.startswith("Not sure yet whether calls stopped: press “Refresh from LAAFFIC”")
    before, details = text.split('<details class="laaffic-details"><summary>details</summary>')
    assert "502" not in before.split("</a>", 1)[-1]  # the agent's line has no HTTP talk
    assert "HTTP 502." in details and "502 Bad Gateway 502 Bad Gateway nginx" in details
    assert "&lt;" not in text and "<html>" not in text and "\\r\\n" not in text
