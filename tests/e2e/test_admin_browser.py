"""The admin in a real browser, on the bundled site served with its sandbox."""

from __future__ import annotations

import re

import pytest

from laaffic_recall.models import RecallTask, Status
from laaffic_recall.sandbox import state
from tests.support.browser import open_task_list, task_page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CANCEL_TASKS = "Cancel selected recall tasks"
REFRESH = "Refresh from LAAFFIC"


def action_choices(page) -> list[str]:
    """The labels of the changelist's action dropdown (empty when there is none)."""
    return [t.strip() for t in page.locator("select[name=action] option").all_inner_texts()]


def selected_pks(page) -> set[int]:
    values = page.locator("input[name=_selected_action]").evaluate_all(
        "boxes => boxes.map(b => b.value)"
    )
    return {int(v) for v in values}


def cancel_controls(page) -> list[str]:
    """Labels of the links, buttons and submits in the page body that say "cancel"."""
    controls = page.locator("#content-main :is(a, button, input[type=submit])")
    labels = controls.evaluate_all("els => els.map(e => e.innerText || e.value || '')")
    return [label for label in labels if re.search(r"\bcancel\b", label, re.I)]


def test_agent_logs_in_opens_the_task_list_and_filters_to_pending(page, login, e2e_data, e2e_users):
    login(page, "agent")
    badge = page.locator("#laaffic-sandbox-badge")
    assert badge.is_visible() and badge.inner_text().strip() == "SANDBOX"

    open_task_list(page)
    assert selected_pks(page) == set(RecallTask.objects.values_list("pk", flat=True))

    status_filter = page.locator('#changelist-filter details[data-filter-title="status"]')
    status_filter.get_by_role("link", name="Pending", exact=True).click()
    page.wait_for_url(re.compile(r"status__exact=0"))

    pending = RecallTask.objects.filter(status=Status.PENDING)
    assert {t.key_id for t in pending} == {t.key_id for t in e2e_data.pending}
    assert selected_pks(page) == set(pending.values_list("pk", flat=True))
    rows = page.locator("#result_list tbody tr").all_inner_texts()
    assert len(rows) == 3 and all("Pending" in row for row in rows)
    assert "E2E in progress" not in page.content()


def test_staff_without_cancel_permission_sees_no_cancel_action(page, login, e2e_data, e2e_users):
    login(page, "viewer")
    open_task_list(page)
    assert CANCEL_TASKS not in action_choices(page)

    page.goto("/admin/laaffic_recall/recallnode/")
    assert not any("cancel" in label.lower() for label in action_choices(page))

    page.goto(task_page(e2e_data.mirrored(e2e_data.in_progress)))
    assert page.locator("#content-main").get_by_text("E2E in progress").count() >= 1
    assert cancel_controls(page) == []


def test_superuser_sees_the_task_actions(page, login, e2e_data, e2e_users):
    # Proves the page shape the test above relies on: the dropdown exists and is read.
    login(page, "admin")
    open_task_list(page)
    assert {REFRESH, CANCEL_TASKS} <= set(action_choices(page))


def test_agent_with_cancel_permission_sees_the_cancel_action(page, login, e2e_data, e2e_users):
    # The control for the test without the permission: same pages, the controls are there.
    login(page, "agent")
    open_task_list(page)
    assert CANCEL_TASKS in action_choices(page)
    page.goto(task_page(e2e_data.mirrored(e2e_data.in_progress)))
    assert cancel_controls(page)


def test_refresh_shows_what_the_sandbox_says_now(page, login, e2e_data, e2e_users, sandbox_calls):
    task = e2e_data.pending[0]
    state.advance(task)  # time passes at LAAFFIC: the first round starts
    login(page, "admin")
    open_task_list(page)
    row = page.locator("#result_list tbody tr", has_text=task.task_name)
    row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", label=REFRESH)
    page.locator("button[name=index]").first.click()

    message = page.locator("ul.messagelist li.success")
    assert "Refreshed 1 task from LAAFFIC" in message.inner_text()
    assert "In progress" in row.inner_text()
    assert RecallTask.objects.get(key_id=task.key_id).status == Status.IN_PROGRESS
    assert {"keyId": task.key_id} in [c.body for c in sandbox_calls("queryDetail")]
    assert sandbox_calls("cancel") == []
