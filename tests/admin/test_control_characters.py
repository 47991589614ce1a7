"""Control and bidi characters typed by an agent (a reason, a username) or sent by LAAFFIC
(a task name, its raw JSON) are shown as visible escapes on every page that shows them:
the audit list, the attempt page, the task page with its raw JSON box and its attempts,
the node page, and the parent-id form's "did you mean task #…"."""

from __future__ import annotations

import pytest
from django.urls import reverse

from laaffic_recall.models import CancelType, Outcome
from tests.support.admin import ATTEMPTS, BY_PARENT, task_url
from tests.support.audit import attempt_on
from tests.support.mirror import make_nodes, make_task
from tests.support.vendor import PENDING, api_url, page_of, signed

pytestmark = pytest.mark.django_db

RAW = ["\u202e", "\x1b", "\x07", "\u2066", "\x9b", "\u200f"]
ODD = "A\u202eevil\x1b[31m\x07\u2066x\x9b\u200fz"
SHOWN = r"A\u202eevil\x1b[31m\x07\u2066x\x9b\u200fz"


@pytest.fixture
def odd_rows():
    record = {"taskName": ODD, "keyId": 12, "note": "\u202eabc\x1b"}
    task = make_task(12, task_name=ODD, raw=record, detail_raw=record)
    [node] = make_nodes(task, PENDING)
    node.raw = {"remark": ODD}
    node.save()
    attempt = attempt_on(
        task, CancelType.TASK, 12, Outcome.SKIPPED, reason=f"reason {ODD}", username=f"u{ODD}"
    )
    return task, node, attempt


def assert_escaped(html: str) -> None:
    for char in RAW:
        assert char not in html, repr(char)
    assert SHOWN in html or SHOWN.replace("[", "&#x5B;") in html


def test_the_audit_list_and_the_attempt_page_show_escapes(agent_client, odd_rows):
    _task, _node, attempt = odd_rows
    page = reverse("admin:laaffic_recall_cancelattempt_change", args=[attempt.pk])

    for url in (ATTEMPTS, page):
        html = agent_client.get(url).content.decode()
        assert_escaped(html)
        assert f"reason {SHOWN}" in html and f"u{SHOWN}" in html


def test_the_task_page_its_raw_json_and_its_attempts_show_escapes(agent_client, odd_rows):
    task, _node, _attempt = odd_rows

    html = agent_client.get(task_url(task)).content.decode()

    assert_escaped(html)
    assert r"\u202eabc\u001b" in html  # inside the raw JSON box
    assert f"reason {SHOWN}" in html and f"u{SHOWN}" in html  # the task's attempts


def test_the_node_page_and_list_show_escapes(agent_client, odd_rows):
    _task, node, _attempt = odd_rows

    for url in (
        reverse("admin:laaffic_recall_recallnode_change", args=[node.pk]),
        reverse("admin:laaffic_recall_recallnode_changelist"),
    ):
        assert_escaped(agent_client.get(url).content.decode())


def test_did_you_mean_shows_the_task_name_escaped(mocked_api, agent_client, odd_rows):
    mocked_api.post(api_url("queryPage"), json=page_of(), match=[signed])

    html = agent_client.post(BY_PARENT, {"parent_task_id": 12}).content.decode()

    assert "did you mean" in html
    assert_escaped(html)
