"""What an agent reads after a cancel: a headline counting the recall tasks that stopped, a
line per task saying what LAAFFIC shows now, and the technical detail only behind a
"details" disclosure, as plain text."""

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

    assert level == levels.SUCCESS
    assert text.startswith('<span class="laaffic-cancel-headline">Stopped 1 recall task. (ref ')
    assert "#12 Campaign 12</a></span> Stopped: LAAFFIC now shows it Cancelled, read at " in text


def test_nothing_stopped_says_why_and_what_to_do(mocked_api, agent_client):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, json={"code": -16, "msg": "timestamp expired"})
    add_detail(mocked_api, 12, PENDING)

    level, text = last_message(cancel(agent_client, task))

    assert level == levels.ERROR
    text = html.unescape(text)
    assert text.startswith('<span class="laaffic-cancel-headline">Nothing was stopped. (ref ')
    assert "Not stopped: LAAFFIC refused the cancel (code -16, " in text
    assert "clock" in text.split("<details", 1)[0]  # what to do, in the agent's words
    assert "NTP" in text.split("<details", 1)[1]  # the developer's hint, behind details


def test_an_html_502_is_not_sure_yet_with_a_plain_text_excerpt_behind_details(
    mocked_api, agent_client
):
    task = make_task(12)
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, body=NGINX_502, status=502)
    add_detail(mocked_api, 12, PENDING)

    level, text = last_message(cancel(agent_client, task))

    assert level == levels.WARNING
    assert "1 recall task not known yet." in text
    assert "Not known yet whether the calls stopped: see below." in text  # the task page
    before, details = text.split('<details class="laaffic-details"><summary>details</summary>')
    assert "502" not in before.split("</a>", 1)[-1]  # the agent's line has no HTTP talk
    assert "HTTP 502." in details and "502 Bad Gateway 502 Bad Gateway nginx" in details
    assert "&lt;" not in text and "<html>" not in text and "\\r\\n" not in text
