"""The agent is told exactly what LAAFFIC did, and what to do next, in six cases, in a real
browser against the bundled site's sandbox.

1. one sibling selected, cancel by parent id: the page lists both, both end Cancelled;
2. a real double click on the confirm button: one cancel sent, no error shown;
3. a -18 answer after the cancel took effect: outcome succeeded, settled by the re-read,
   code -18 kept;
4. an In-progress task: "Stop rounds N-M" stops its Pending rounds;
5. an unknown outcome: "Refresh from LAAFFIC" on the task page settles it and says so;
6. an action past its time budget: the targets not started are named, nothing sent for them.

Each test saves a screenshot of its result page (``test-artifacts/e2e/``).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from laaffic_recall.models import CancelAttempt, Outcome, RecallTask, Status
from laaffic_recall.sandbox.demo import sync_mirror
from laaffic_recall.sandbox.models import SandboxTask
from laaffic_recall.sandbox.testing import create_task, inject_fault
from tests.support.browser import TASK_LIST, artifact_name, expect, screenshot, task_page
from tests.support.sandbox import C, P, R

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BY_PARENT = "Cancel selected recall tasks by parent task id"
CANCEL_TASKS = "Cancel selected recall tasks"
PARENT = 7700123


def make(nodes, name: str, minutes: int = 0, **fields) -> SandboxTask:
    created = timezone.now() - timedelta(minutes=30 - minutes)
    return create_task(nodes, task_name=name, create_time=created, **fields)


def mirror() -> None:
    report = sync_mirror(days=2)
    assert report.ok, report.output


def mirrored(task: SandboxTask) -> RecallTask:
    return RecallTask.objects.get(key_id=task.key_id)


def sandbox_status(task: SandboxTask) -> int:
    return SandboxTask.objects.get(key_id=task.key_id).status


def run_action(page, names: list[str], action: str) -> None:
    page.goto(TASK_LIST)
    for name in names:
        row = page.locator("#result_list tbody tr", has_text=name)
        row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", label=action)
    page.locator("button[name=index]").first.click()
    expect(page.locator("body.laaffic-cancel-confirmation")).to_be_visible()


def press_yes(page) -> None:
    page.locator("input.laaffic-confirm-button").click()
    expect(page.locator("ul.messagelist")).to_be_visible()


def attempt_settled_by_reread() -> bool:
    attempt = CancelAttempt.objects.get()
    return (attempt.first_outcome, attempt.settled_by) == (Outcome.REFUSED, "reread")


def message(page) -> str:
    return page.locator("ul.messagelist").inner_text()


# --------------------------------------------------------------------------- 1


def test_one_sibling_selected_lists_both_and_both_end_cancelled(
    page, login, e2e_site, e2e_users, sandbox_calls, request
):
    first = make([P, P], "Sibling one", 1, task_id=PARENT)
    mirror()
    second = make([P, P], "Sibling two", 2, task_id=PARENT)  # not mirrored yet
    login(page, "agent")

    run_action(page, ["Sibling one"], BY_PARENT)
    preview = page.locator("table.laaffic-cancel-preview").inner_text()
    assert "Sibling one" in preview and "Sibling two" in preview
    expect(page.locator(".laaffic-new")).to_have_count(1)
    screenshot(page, artifact_name(request, "confirmation"))
    assert sandbox_calls("cancel") == []

    press_yes(page)
    screenshot(page, artifact_name(request, "result"))

    text = message(page)
    assert text.startswith("Stopped 2 recall tasks (4 remaining rounds).")
    for task in (first, second):
        line = page.locator(".laaffic-cancel-result", has_text=f"#{task.key_id}")
        expect(line).to_contain_text("Stopped: LAAFFIC now shows it Cancelled, read at")
    assert [c.body for c in sandbox_calls("cancel")] == [{"type": 2, "id": PARENT}]
    for task in (first, second):
        assert sandbox_status(task) == Status.CANCELLED
        assert mirrored(task).status == Status.CANCELLED


# --------------------------------------------------------------------------- 2


def test_a_double_click_sends_one_cancel_and_shows_no_error(
    page, login, e2e_site, e2e_users, sandbox_calls, request
):
    task = make([P, P], "Double click")
    mirror()
    inject_fault("latency", calls=["cancel"], seconds=1.0)
    login(page, "agent")
    page.goto(task_page(mirrored(task)) + "../cancel/")
    expect(page.locator("body.laaffic-cancel-confirmation")).to_be_visible()

    page.locator("input.laaffic-confirm-button").dblclick()
    expect(page.locator("ul.messagelist")).to_be_visible(timeout=20_000)
    screenshot(page, artifact_name(request, "result"))

    assert len(sandbox_calls("cancel")) == 1
    expect(page.locator("ul.messagelist li.error")).to_have_count(0)
    assert message(page).startswith("Stopped 1 recall task (2 remaining rounds).")
    assert CancelAttempt.objects.count() == 1
    assert sandbox_status(task) == Status.CANCELLED


def test_the_confirm_button_is_disabled_on_submit_and_says_what_is_happening(
    page, login, e2e_site, e2e_users, sandbox_calls, request
):
    task = make([P, P], "Button state")
    mirror()
    login(page, "agent")
    page.goto(task_page(mirrored(task)) + "../cancel/")
    # Hold the form here (a listener on the form runs before the page's own, on the
    # document), to look at the button as the agent sees it while the cancel runs.
    page.evaluate(
        "document.querySelector('form.laaffic-confirm-form')"
        ".addEventListener('submit', (event) => event.preventDefault())"
    )

    page.locator("input.laaffic-confirm-button").click()

    sending = page.locator("input[type=submit][value='Sending to LAAFFIC…']")
    expect(sending).to_be_disabled()
    screenshot(page, artifact_name(request, "sending"))
    assert sandbox_calls("cancel") == []


# --------------------------------------------------------------------------- 3


def test_a_minus_18_after_the_cancel_took_effect_is_succeeded_with_the_code_kept(
    page, login, e2e_site, e2e_users, sandbox_calls, request
):
    task = make([P, P], "Port program unusual")
    mirror()
    inject_fault("code", calls=["cancel"], code=-18, message="port program unusual", when="after")
    login(page, "agent")
    page.goto(task_page(mirrored(task)) + "../cancel/")

    press_yes(page)
    screenshot(page, artifact_name(request, "result"))

    text = message(page)
    assert text.startswith("Stopped 1 recall task (2 remaining rounds).")
    assert "Stopped: LAAFFIC now shows it Cancelled, read at" in text
    assert attempt_settled_by_reread()
    attempt = CancelAttempt.objects.get()
    assert (attempt.outcome, attempt.response_code) == (Outcome.SUCCEEDED, -18)
    assert attempt.response_message == "port program unusual"
    assert sandbox_status(task) == Status.CANCELLED


# --------------------------------------------------------------------------- 4


def test_an_in_progress_task_offers_stop_rounds_and_it_works(
    page, login, e2e_site, e2e_users, sandbox_calls, request
):
    task = make([C, R, P, P], "Running campaign")
    mirror()
    login(page, "agent")

    run_action(page, ["Running campaign"], CANCEL_TASKS)
    offer = page.get_by_role("link", name="Stop rounds 3-4").first  # above the table too
    expect(offer).to_be_visible()
    screenshot(page, artifact_name(request, "confirmation"))
    offer.click()
    expect(page.locator("table.laaffic-cancel-nodes")).to_be_visible()
    screenshot(page, artifact_name(request, "stop-rounds-preview"))

    press_yes(page)
    screenshot(page, artifact_name(request, "result"))

    assert message(page).startswith("Stopped 2 rounds of recall task")
    assert "Stopped rounds 3-4: LAAFFIC now shows it Cancelled, read at" in message(page)
    [call] = sandbox_calls("cancel")
    assert call.body["type"] == 3
    statuses = list(
        SandboxTask.objects.get(key_id=task.key_id)
        .nodes.order_by("position")
        .values_list("status", flat=True)
    )
    assert statuses == [Status.COMPLETED, Status.IN_PROGRESS, Status.CANCELLED, Status.CANCELLED]


# --------------------------------------------------------------------------- 5


def test_an_unknown_outcome_is_settled_by_refresh_on_the_task_page(
    page, login, e2e_site, e2e_users, sandbox_calls, request
):
    task = make([P, P], "Proxy trouble")
    mirror()
    # The proxy fails before LAAFFIC: nothing changes there, the answer is an HTML 502.
    inject_fault("html_502", calls=["cancel"], when="before", times=1)
    login(page, "agent")
    page.goto(task_page(mirrored(task)) + "../cancel/")

    press_yes(page)
    screenshot(page, artifact_name(request, "unknown"))
    text = message(page)
    assert text.startswith("1 recall task not known yet.")
    assert "Not known yet whether the calls stopped: see below." in text
    assert "<html" not in text and "\\r\\n" not in text
    expect(page.locator(".laaffic-not-known-yet")).to_be_visible()
    expect(page.locator("a.laaffic-cancel-task-link")).to_have_count(0)

    page.get_by_role("button", name="Refresh from LAAFFIC").click()
    expect(page.locator("ul.messagelist")).to_be_visible()
    screenshot(page, artifact_name(request, "refreshed"))

    text = message(page)
    assert "had no effect: the task is still Pending; you can cancel it again." in text
    assert "Nothing had changed" not in text
    assert CancelAttempt.objects.get().outcome == Outcome.FAILED
    expect(page.locator("a.laaffic-cancel-task-link")).to_have_count(1)


# --------------------------------------------------------------------------- 6


def test_an_action_past_its_time_budget_names_what_was_not_sent(
    page, login, e2e_site, e2e_users, sandbox_calls, settings, request
):
    make([P, P], "Budget one", 1)
    make([P, P], "Budget two", 2)
    mirror()
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "ACTION_TIME_BUDGET": 0}
    login(page, "agent")

    run_action(page, ["Budget one", "Budget two"], CANCEL_TASKS)
    press_yes(page)
    screenshot(page, artifact_name(request, "result"))

    text = message(page)
    assert text.startswith("Stopped 1 recall task (2 remaining rounds). 1 not stopped.")
    assert (
        "Not stopped: the action ran out of time before this one; select it and try again" in text
    )
    assert len(sandbox_calls("cancel")) == 1
