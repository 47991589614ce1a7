"""The cancel flows in a real browser, as a support agent, against the bundled site's sandbox.

Cancel two Pending tasks with the action; cancel from a pending node of an In-progress
task; a Completed task reported as skipped, nothing sent; the audit log with every
attempt, its response code and the reason typed; and "No, take me back" sending nothing.
What LAAFFIC received is read from the sandbox's call log, and its state from the
sandbox's own tables, not from the app's mirror.
"""

from __future__ import annotations

import re

import pytest

from laaffic_recall.models import CancelAttempt, Outcome, Status
from laaffic_recall.sandbox.models import SandboxTask
from laaffic_recall.sandbox.state import settle
from laaffic_recall.sandbox.testing import inject_fault
from tests.support.browser import (
    AUDIT_LIST,
    TASK_LIST,
    artifact_name,
    expect,
    open_task_list,
    screenshot,
    task_page,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CANCEL_TASKS = "Cancel selected recall tasks"


# --------------------------------------------------------------------------- helpers


def filter_status(page, label: str) -> None:
    status_filter = page.locator('#changelist-filter details[data-filter-title="status"]')
    status_filter.get_by_role("link", name=label, exact=True).click()
    page.wait_for_url(re.compile(r"status__exact=\d"))


def open_pending_tasks_as_the_agent(page, login) -> str:
    """Log in as the agent, open the task list and filter it to Pending; its URL."""
    login(page, "agent")
    open_task_list(page)
    filter_status(page, "Pending")
    return page.url


def task_row(page, name: str):
    """The change list row of the task with this (unique) name."""
    return page.locator("#result_list tbody tr", has_text=name)


def list_names(page) -> list[str]:
    return page.locator("#result_list tbody td.field-task_name_shown").all_inner_texts()


def start_cancel_action(page, names: list[str]) -> None:
    """Tick these tasks on the change list, choose the cancel action, press Go."""
    for name in names:
        task_row(page, name).locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", label=CANCEL_TASKS)
    page.locator("button[name=index]").first.click()
    expect(page.locator("body.laaffic-cancel-confirmation")).to_be_visible()


def confirm(page, reason: str) -> None:
    page.fill("textarea[name=reason]", reason)
    page.locator("input.laaffic-confirm-button").click()
    expect(page.locator("ul.messagelist")).to_be_visible()


def readonly(page, field: str):
    """The read-only value of a field on an admin change page (alone or in a row of fields)."""
    return page.locator(
        f".fieldBox.field-{field} .readonly, .form-row.field-{field}:not(:has(.fieldBox)) .readonly"
    )


def attempt_row(page, target_id: int):
    """The audit log row of the attempt that sent this id."""
    target = page.locator(
        "td.field-target .laaffic-target-id", has_text=re.compile(rf"^\s*{target_id}\s*$")
    )
    return page.locator("#result_list tbody tr", has=target)


def preview_rows(page, table: str = "table.laaffic-cancel-preview") -> list[str]:
    return [" ".join(t.split()) for t in page.locator(f"{table} tbody tr").all_inner_texts()]


def cancel_bodies(sandbox_calls) -> list[dict]:
    """The cancel requests the sandbox received, in a stable order (workers may interleave)."""
    return sorted((c.body for c in sandbox_calls("cancel")), key=lambda b: (b["type"], b["id"]))


def label(task) -> str:
    """How the admin names a task: ``#<keyId> <name>``."""
    return f"#{task.key_id} {task.task_name}"


def sandbox_status(task) -> int:
    return SandboxTask.objects.get(key_id=task.key_id).status


def sandbox_node_statuses(task) -> list[int]:
    sandbox_task = SandboxTask.objects.get(key_id=task.key_id)
    return list(sandbox_task.nodes.order_by("position").values_list("status", flat=True))


# --------------------------------------------------------------------------- item 2


def test_agent_cancels_two_pending_tasks_with_the_action(
    page, login, e2e_data, e2e_users, sandbox_calls, request
):
    first, second, untouched = e2e_data.pending
    open_pending_tasks_as_the_agent(page, login)
    assert sorted(list_names(page)) == sorted(t.task_name for t in e2e_data.pending)

    start_cancel_action(page, [first.task_name, second.task_name])
    rows = preview_rows(page)
    assert len(rows) == 2, rows
    for task in (first, second):
        [row] = [r for r in rows if label(task) in r]
        assert "Pending" in row and "Will be stopped" in row
    assert untouched.task_name not in page.locator("#content").inner_text()
    assert sandbox_calls("cancel") == []  # a confirmation page sends nothing
    screenshot(page, artifact_name(request, "confirmation"))

    confirm(page, "Ticket E2E-101: the customer asked to stop calling")
    message = page.locator("ul.messagelist li.success")
    expect(message).to_be_visible()
    text = message.inner_text()
    assert text.startswith("Stopped 2 recall tasks (4 remaining rounds).")
    for task in (first, second):
        assert f"{label(task)} Stopped: LAAFFIC now shows it Cancelled, read at" in text
    screenshot(page, artifact_name(request, "result"))

    # Back on the Pending-filtered list: only the third task is left there.
    assert list_names(page) == [untouched.task_name]
    filter_status(page, "Cancelled")
    for task in (first, second):
        expect(task_row(page, task.task_name).locator("td.field-status_display")).to_have_text(
            "Cancelled"
        )
    page.goto(TASK_LIST)
    for task in (first, second):
        status = task_row(page, task.task_name).locator("td.field-status_display")
        expect(status).to_have_text("Cancelled")
    expect(task_row(page, untouched.task_name).locator("td.field-status_display")).to_have_text(
        "Pending"
    )

    assert cancel_bodies(sandbox_calls) == sorted(
        ({"type": 1, "id": t.key_id} for t in (first, second)), key=lambda b: b["id"]
    )
    assert all(c.code == 0 for c in sandbox_calls("cancel"))
    for task in (first, second):
        assert sandbox_status(task) == Status.CANCELLED
        assert sandbox_node_statuses(task) == [Status.CANCELLED, Status.CANCELLED]
    assert sandbox_status(untouched) == Status.PENDING
    assert sandbox_node_statuses(untouched) == [Status.PENDING, Status.PENDING]


# --------------------------------------------------------------------------- item 3


def test_agent_cancels_from_a_pending_node_of_an_in_progress_task(
    page, login, e2e_data, e2e_users, sandbox_calls, request
):
    task = e2e_data.mirrored(e2e_data.in_progress)
    done, running, chosen, later = task.nodes.order_by("position")
    assert [n.status for n in (done, running, chosen, later)] == [
        Status.COMPLETED,
        Status.IN_PROGRESS,
        Status.PENDING,
        Status.PENDING,
    ]
    login(page, "agent")
    open_task_list(page)
    task_row(page, task.task_name).get_by_role("link", name=str(task.key_id)).click()
    page.wait_for_url(re.compile(re.escape(task_page(task)) + "$"))

    def node_row(node):
        return page.locator(f"tr#laaffic-node-{node.key_id}")

    # A button beside each pending node only.
    for node, buttons in ((done, 0), (running, 0), (chosen, 1), (later, 1)):
        expect(node_row(node).locator("a.laaffic-cancel-button")).to_have_count(buttons)
    screenshot(page, artifact_name(request, "task-before"))

    node_row(chosen).locator("a.laaffic-cancel-button").click()
    nodes_table = page.locator("table.laaffic-cancel-nodes")
    expect(nodes_table).to_be_visible()
    rows = preview_rows(page, "table.laaffic-cancel-nodes")
    assert len(rows) == 2, rows
    assert f"Round 3 (node #{chosen.key_id}) (chosen)" in rows[0]
    assert "Pending" in rows[0] and "Will be stopped" in rows[0]
    assert f"Round 4 (node #{later.key_id})" in rows[1] and "(chosen)" not in rows[1]
    assert "Pending" in rows[1] and "Will be stopped" in rows[1]
    content = page.locator("#content").inner_text()
    for earlier in (done, running):
        assert str(earlier.key_id) not in content
    assert sandbox_calls("cancel") == []
    screenshot(page, artifact_name(request, "confirmation"))

    confirm(page, "Ticket E2E-202: no more rounds for this person")
    page.wait_for_url(re.compile(re.escape(task_page(task)) + "$"))
    message = page.locator("ul.messagelist li.success")
    expect(message).to_be_visible()
    assert message.inner_text().startswith(f"Stopped 2 rounds of recall task {label(task)}.")
    assert "Stopped rounds 3-4: LAAFFIC now shows it Cancelled, read at" in message.inner_text()

    expected = {
        done: "Completed",
        running: "In progress",
        chosen: "Cancelled",
        later: "Cancelled",
    }
    for node, status in expected.items():
        expect(node_row(node).locator("td.field-node_status")).to_have_text(status)
    expect(page.locator("a.laaffic-cancel-button")).to_have_count(0)
    # A round is still running: the task itself stays In progress.
    expect(page.locator(".fieldBox.field-status_display .readonly")).to_have_text("In progress")

    assert [c.body for c in sandbox_calls("cancel")] == [{"type": 3, "id": chosen.key_id}]
    assert sandbox_node_statuses(task) == [
        Status.COMPLETED,
        Status.IN_PROGRESS,
        Status.CANCELLED,
        Status.CANCELLED,
    ]
    assert sandbox_status(task) == Status.IN_PROGRESS


# --------------------------------------------------------------------------- item 4


def test_cancelling_a_completed_task_is_reported_as_skipped_and_sends_nothing(
    page, login, e2e_data, e2e_users, sandbox_calls, request
):
    completed = e2e_data.completed
    login(page, "agent")
    open_task_list(page)
    start_cancel_action(page, [completed.task_name])

    [row] = preview_rows(page)
    assert label(completed) in row
    assert "Completed" in row and "Not sent: LAAFFIC shows it Completed" in row
    assert "Will be stopped" not in row
    expect(page.locator("table.laaffic-cancel-preview tbody tr.laaffic-skipped")).to_have_count(1)
    # Nothing can be sent, so the page offers no way to send it: only the way back.
    expect(page.locator("p.laaffic-cancel-nothing")).to_contain_text("Nothing here can be")
    expect(page.locator("input.laaffic-confirm-button")).to_have_count(0)
    screenshot(page, artifact_name(request, "confirmation"))

    page.get_by_role("link", name="Take me back", exact=True).click()
    expect(page.locator("#result_list")).to_be_visible()
    expect(task_row(page, completed.task_name).locator("td.field-status_display")).to_have_text(
        "Completed"
    )
    assert sandbox_calls("cancel") == []
    assert CancelAttempt.objects.count() == 0
    assert sandbox_status(completed) == Status.COMPLETED


def finish_in_sandbox(task: SandboxTask) -> None:
    """LAAFFIC finishes the task behind the mirror's back (the mirror still says Pending)."""
    task.nodes.update(status=Status.COMPLETED)
    settle(task)
    assert sandbox_status(task) == Status.COMPLETED


def test_a_task_finished_at_laaffic_since_the_last_sync_is_skipped_on_confirm(
    page, login, e2e_data, e2e_users, sandbox_calls, request
):
    stale = e2e_data.pending[2]
    finish_in_sandbox(stale)
    login(page, "agent")
    open_task_list(page)
    start_cancel_action(page, [stale.task_name])
    [row] = preview_rows(page)
    assert "Will be stopped" in row  # the mirror still says Pending

    confirm(page, "Ticket E2E-303: stop the reminder")
    messages = page.locator("ul.messagelist li")
    expect(messages).to_have_count(1)
    text = messages.inner_text()
    assert text.startswith("Nothing was stopped.") and "Stopped:" not in text
    assert f"{label(stale)} Not stopped: LAAFFIC shows it Completed" in text
    expect(page.locator("ul.messagelist li.success")).to_have_count(0)
    screenshot(page, artifact_name(request, "result"))

    assert sandbox_calls("cancel") == []
    # It was re-read from LAAFFIC before deciding (the mirror is not trusted alone).
    assert {"keyId": stale.key_id} in [c.body for c in sandbox_calls("queryDetail")]
    assert e2e_data.mirrored(stale).status == Status.COMPLETED
    [attempt] = CancelAttempt.objects.all()
    assert attempt.outcome == Outcome.SKIPPED and attempt.response_code is None
    assert attempt.reason == "Ticket E2E-303: stop the reminder"


# --------------------------------------------------------------------------- item 5


def test_audit_log_lists_every_attempt_with_its_code_and_reason(
    page, login, e2e_data, e2e_users, sandbox_calls, request
):
    cancelled, refused, completed = e2e_data.pending
    finish_in_sandbox(completed)  # the mirror says Pending; LAAFFIC has finished it
    # LAAFFIC refuses the cancel of the second task (code -18, before it takes effect).
    inject_fault("code", calls=["cancel"], ids=[refused.key_id], when="before")
    reasons = {
        cancelled.key_id: "Ticket E2E-401: customer opted out",
        refused.key_id: "Ticket E2E-402: wrong number",
        completed.key_id: "Ticket E2E-403: check the finished one",
    }
    login(page, "agent")
    open_task_list(page)
    said = {}
    for task, level in ((cancelled, "success"), (refused, "error"), (completed, "warning")):
        start_cancel_action(page, [task.task_name])
        confirm(page, reasons[task.key_id])
        message = page.locator(f"ul.messagelist li.{level}")
        expect(message).to_have_count(1)
        said[task.key_id] = message.inner_text()
    assert f"{label(cancelled)} Stopped: LAAFFIC now shows it Cancelled" in said[cancelled.key_id]
    assert (
        f"{label(refused)} Not stopped: LAAFFIC refused the cancel (code -18"
        in said[refused.key_id]
    )
    assert f"{label(completed)} Not stopped: LAAFFIC shows it Completed" in said[completed.key_id]

    # What reached LAAFFIC: the success and the refusal; the skip sent nothing.
    assert cancel_bodies(sandbox_calls) == sorted(
        ({"type": 1, "id": t.key_id} for t in (cancelled, refused)), key=lambda b: b["id"]
    )
    assert sandbox_status(cancelled) == Status.CANCELLED
    assert sandbox_status(refused) == Status.PENDING

    page.goto("/admin/")
    page.locator("#content-main").get_by_role("link", name="Cancel attempts", exact=True).click()
    page.wait_for_url(re.compile(re.escape(AUDIT_LIST)))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    screenshot(page, artifact_name(request, "audit-log"))

    expected = {
        cancelled.key_id: ("Succeeded", "0", "success"),
        refused.key_id: ("Refused", "-18", "port program unusual"),
        completed.key_id: ("Skipped", "-", "Nothing sent: LAAFFIC showed it Completed."),
    }
    ids = rows.locator("td.field-target .laaffic-target-id").all_inner_texts()
    targets = [int(t.strip()) for t in ids]
    assert sorted(targets) == sorted(expected)
    for key_id, (outcome, code, message) in expected.items():
        row = attempt_row(page, key_id)
        assert row.locator("td.field-username_shown").inner_text().strip() == "agent"
        assert row.locator("td.field-target .laaffic-type").inner_text().strip() == "task"
        outcome_cell = row.locator("td.field-outcome_and_code")
        assert outcome_cell.locator(".laaffic-outcome").inner_text().strip() == outcome
        shown_code = outcome_cell.locator(".laaffic-response-code")
        if code == "-":
            expect(shown_code).to_have_count(0)
        else:
            expect(shown_code).to_have_text(f"code {code}")
        cell = row.locator("td.field-message_and_reason")
        assert message in cell.locator(".laaffic-message").inner_text()
        expect(cell.locator(".laaffic-reason")).to_have_text(f"Reason: {reasons[key_id]}")

    # The reason typed is on each attempt's own page, which is read-only.
    for key_id, (outcome, code, _message) in expected.items():
        attempt_row(page, key_id).locator(".field-started_at a").click()
        page.wait_for_url(re.compile(re.escape(AUDIT_LIST) + r"\d+/change/"))
        expect(readonly(page, "reason_shown")).to_have_text(reasons[key_id])
        expect(readonly(page, "target_id")).to_have_text(str(key_id))
        expect(readonly(page, "outcome_badge")).to_have_text(outcome)
        expect(readonly(page, "response_code")).to_have_text(code)
        expect(page.locator("input[name=_save]")).to_have_count(0)
        expect(page.locator("#content-main input[type=submit]")).to_have_count(0)
        expect(
            page.locator("#content-main :is(input:not([type=hidden]), textarea, select)")
        ).to_have_count(0)
        expect(page.locator("a.deletelink")).to_have_count(0)
        if key_id == refused.key_id:
            screenshot(page, artifact_name(request, "attempt-refused"))
        page.go_back()
        page.wait_for_url(re.compile(re.escape(AUDIT_LIST) + r"(\?.*)?$"))

    # The page could not be used to change an attempt either.
    assert CancelAttempt.objects.count() == 3
    assert {a.target_id: a.reason for a in CancelAttempt.objects.all()} == reasons


# --------------------------------------------------------------------------- "No, take me back"


def test_take_me_back_from_the_action_returns_to_the_list_and_sends_nothing(
    page, login, e2e_data, e2e_users, sandbox_calls, request
):
    first, second, _third = e2e_data.pending
    list_url = open_pending_tasks_as_the_agent(page, login)
    start_cancel_action(page, [first.task_name, second.task_name])
    page.fill("textarea[name=reason]", "typed, then thought better of it")
    screenshot(page, artifact_name(request, "confirmation"))

    page.get_by_role("link", name="No, take me back").click()
    page.wait_for_url(list_url)
    expect(page.locator("#result_list")).to_be_visible()
    expect(page.locator("ul.messagelist")).to_have_count(0)
    assert sorted(list_names(page)) == sorted(t.task_name for t in e2e_data.pending)

    assert sandbox_calls("cancel") == []
    assert CancelAttempt.objects.count() == 0
    for task in e2e_data.pending:
        assert sandbox_status(task) == Status.PENDING
        assert e2e_data.mirrored(task).status == Status.PENDING


def test_take_me_back_from_a_node_returns_to_the_task_and_sends_nothing(
    page, login, e2e_data, e2e_users, sandbox_calls, request
):
    task = e2e_data.mirrored(e2e_data.in_progress)
    chosen = task.nodes.get(position=2)
    login(page, "agent")
    page.goto(task_page(task))
    page.locator(f"tr#laaffic-node-{chosen.key_id} a.laaffic-cancel-button").click()
    expect(page.locator("table.laaffic-cancel-nodes")).to_be_visible()

    page.get_by_role("link", name="No, take me back").click()
    page.wait_for_url(re.compile(re.escape(task_page(task)) + "$"))
    expect(page.locator("ul.messagelist")).to_have_count(0)
    expect(page.locator("a.laaffic-cancel-button")).to_have_count(2)

    assert sandbox_calls("cancel") == []
    assert CancelAttempt.objects.count() == 0
    assert sandbox_node_statuses(task) == [
        Status.COMPLETED,
        Status.IN_PROGRESS,
        Status.PENDING,
        Status.PENDING,
    ]
