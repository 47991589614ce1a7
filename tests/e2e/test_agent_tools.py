"""What agents do with the admin besides cancelling, in a real browser at phone and laptop
width: download the audit log for a spreadsheet, and paste ids from a ticket into the search.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.contrib.auth import get_user_model

from laaffic_recall.cancel.audit import Submission
from laaffic_recall.cancel.results import CancelTarget
from laaffic_recall.cancel.service import cancel
from laaffic_recall.models import CancelAttempt, Outcome
from laaffic_recall.sandbox.demo import sync_mirror
from laaffic_recall.sandbox.demo_history import make_cancel_history
from laaffic_recall.sandbox.testing import seed
from tests.support.browser import AUDIT_LIST, TASK_LIST, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BOM = b"\xef\xbb\xbf"
# Every outcome a finished attempt can have (all but "in flight").
EVERY_OUTCOME = set(Outcome) - {Outcome.PENDING}


def shown_keys(page) -> set[int]:
    """The recall keys of the task list's rows (the first column after the checkbox)."""
    cells = page.locator("#result_list tbody tr th").all_inner_texts()
    return {int(re.sub(r"\D", "", cell)) for cell in cells}


def test_the_agent_downloads_the_audit_log_for_a_spreadsheet(
    page, login, e2e_data, e2e_users, width
):
    task = e2e_data.mirrored(e2e_data.pending[0])
    agent = get_user_model().objects.get(username="agent")
    reason = "=1+1 客户要求停止呼叫，工单 7"
    [result] = cancel(
        [CancelTarget.for_task(task)],
        Submission(user=agent, username="agent", reason=reason),
    ).results
    assert result.outcome == Outcome.SUCCEEDED
    attempt = CancelAttempt.objects.get()

    login(page, "agent")
    page.goto(AUDIT_LIST)
    page.locator("#action-toggle").check()
    page.locator("select[name=action]").select_option("download_csv")
    with page.expect_download() as info:
        page.locator("#changelist-form button[name=index]").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    data = download.path().read_bytes()

    assert data.startswith(BOM)
    rows = list(csv.reader(io.StringIO(data[len(BOM) :].decode("utf-8"))))
    header, row = rows[0], rows[1]
    assert len(rows) == 2 and len(row) == len(header)
    cell = dict(zip(header, row, strict=True))
    assert "Started (UTC)" in header
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", cell["Started (UTC)"])
    assert cell["User"] == "agent" and cell["Task name"] == "E2E pending A"
    # The formula is escaped; the Chinese text arrives whole.
    assert cell["Reason"] == "'" + reason
    assert cell["Id sent"] == str(attempt.target_id) == str(task.key_id)
    assert cell["Outcome"] == "Succeeded"


@pytest.mark.parametrize("separator", [", ", "\n"], ids=["comma", "newline"])
def test_two_keys_pasted_from_a_ticket_find_both_tasks(
    page, login, e2e_site, e2e_data, e2e_users, width, separator
):
    first, second = (e2e_data.mirrored(t) for t in (e2e_data.pending[0], e2e_data.completed))
    pasted = f"{first.key_id}{separator}{second.key_id}"
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=e2e_site.url)

    login(page, "agent")
    page.goto(TASK_LIST)
    page.evaluate("text => navigator.clipboard.writeText(text)", pasted)
    page.locator("#searchbar").click()
    page.keyboard.press("Control+V")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"[?&]q="))

    assert shown_keys(page) == {first.key_id, second.key_id}
    for task in (first, second):
        assert page.locator("#result_list").get_by_text(task.task_name).is_visible()


def test_the_demo_cancels_show_each_outcome_on_the_overview_and_in_the_audit_log(
    page, login, e2e_site, e2e_users, width
):
    """What ``laaffic_demo`` leaves on a fresh audit log, as the agent first sees it."""
    seed(100, seed=3)
    assert sync_mirror(days=8).ok
    made = make_cancel_history("agent")
    assert set(made.counts()) == EVERY_OUTCOME, made.attempts

    login(page, "agent")
    page.goto("/admin/laaffic_recall/")
    chart = page.locator("svg.laaffic-chart").first
    assert chart.is_visible()
    for outcome in EVERY_OUTCOME:
        assert page.locator(f"svg.laaffic-chart rect.laaffic-chart-outcome-{outcome}").count()
    attention = page.locator("#content").inner_text()
    assert "refused in the last 24 hours" in attention
    screenshot(page, f"demo-overview-{width}")

    page.goto(AUDIT_LIST)
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == CancelAttempt.objects.count() == len(made.attempts)
    outcomes = " ".join(rows.all_inner_texts())
    for outcome in EVERY_OUTCOME:
        assert str(Outcome(outcome).label).split(" (")[0] in outcomes
