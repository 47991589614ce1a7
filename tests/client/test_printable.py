"""Control characters from LAAFFIC (ANSI/OSC escapes, other C0/C1 controls, bidi overrides)
never reach a terminal or a log line raw, are shown as visible escapes in the admin, and
are stored verbatim in the audit row."""

from __future__ import annotations

import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.template import Context, Template
from django.urls import reverse

from laaffic_recall.client.printable import printable
from laaffic_recall.models import CancelAttempt
from tests.support.admin import ATTEMPTS, TASKS, last_message
from tests.support.mirror import make_task
from tests.support.vendor import PENDING, add_cancel, add_detail, api_url, envelope

pytestmark = pytest.mark.django_db

HOSTILE = "\x1b]0;pwned\x07\x1b[31mFAKE\x9b2J \u202egnp.exe\u202c\r\x01end"
SHOWN = "\\x1b]0;pwned\\x07\\x1b[31mFAKE\\x9b2J \\u202egnp.exe\\u202c\\x0d\\x01end"
RAW = ["\x1b", "\x07", "\x9b", "\u202e", "\u202c", "\r", "\x01"]


def has_raw_controls(text: str) -> bool:
    return any(char in text for char in RAW)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (HOSTILE, SHOWN),
        ("tab\tand\nnewline stay", "tab\tand\nnewline stay"),
        ("\u2066isolate\u2069 \u200fmark", "\\u2066isolate\\u2069 \\u200fmark"),
        ("\x7fDEL \x85NEL \u2028LS", "\\x7fDEL \\x85NEL \\u2028LS"),
        ("Café 🎉 中文", "Café 🎉 中文"),
    ],
)
def test_printable_escapes_controls_and_bidi_only(text, shown):
    assert printable(text) == shown


def test_the_template_filter_escapes_and_keeps_html_escaping():
    html = Template("{% load laaffic_recall %}{{ text|printable }}").render(
        Context({"text": "<b>\x1b[31m</b>"})
    )
    assert html == "&lt;b&gt;\\x1b[31m&lt;/b&gt;"


def test_laaffic_sync_prints_a_vendor_refusal_with_visible_escapes(mocked_api, caplog):
    caplog.set_level(logging.DEBUG, logger="laaffic_recall")
    mocked_api.post(api_url("queryPage"), json=envelope(None, code=-18, msg=HOSTILE))
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError) as caught:
        call_command("laaffic_sync", "--days", "2", stdout=out, stderr=err)

    printed = [str(caught.value), out.getvalue(), err.getvalue()]
    printed += [logging.Formatter().format(r) for r in caplog.records]
    assert any(SHOWN in text for text in printed)
    assert not any(has_raw_controls(text) for text in printed)


def test_a_refused_cancel_is_stored_verbatim_and_shown_escaped(mocked_api, agent_client):
    task = make_task(12, task_name="Spring \u202eevil\u202c")
    add_detail(mocked_api, 12, PENDING)
    add_cancel(mocked_api, 1, 12, json=envelope(None, code=-22, msg=HOSTILE))
    add_detail(mocked_api, 12, PENDING)

    response = agent_client.post(
        TASKS, {"action": "cancel_tasks", "_selected_action": [task.pk], "post": "yes"}
    )

    _level, message = last_message(response)
    assert SHOWN in message and not has_raw_controls(message)
    attempt = CancelAttempt.objects.get()
    assert attempt.response_message == HOSTILE  # the audit row keeps LAAFFIC's text

    pages = [
        agent_client.get(ATTEMPTS).content.decode(),
        agent_client.get(
            reverse("admin:laaffic_recall_cancelattempt_change", args=[attempt.pk])
        ).content.decode(),
        agent_client.get(TASKS).content.decode(),
        agent_client.get(
            reverse("admin:laaffic_recall_recalltask_change", args=[task.pk])
        ).content.decode(),
        agent_client.post(
            TASKS, {"action": "cancel_tasks", "index": 0, "_selected_action": [task.pk]}
        ).content.decode(),
    ]
    for html in pages:
        assert not has_raw_controls(html)
    assert "\\x1b]0;pwned" in pages[0] and "\\x1b]0;pwned" in pages[1]
    assert "Spring \\u202eevil\\u202c" in pages[2] and "Spring \\u202eevil\\u202c" in pages[3]
    assert "Spring \\u202eevil\\u202c" in pages[4]  # the confirmation page
