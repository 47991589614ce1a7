"""The app's admin pages on a phone (390 x 844) and a laptop (1280 x 800): the key facts of
each row and every button are inside the viewport, with no sideways scrolling.

An element "inside" has its whole box between x = 0 and the viewport's width and within every
ancestor that clips or scrolls sideways, so a cell hidden in a table that scrolls inside its
own container fails as surely as one on a page that does.
"""

from __future__ import annotations

import re

import pytest

from laaffic_recall.models import CancelAttempt, CancelType, Outcome, RecallTask
from tests.support.audit import busy_day
from tests.support.browser import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


OUTSIDE = """(selector) => {
  // The visible span [left, right] of an element: the viewport's, narrowed by every
  // ancestor that clips or scrolls sideways (a table in Django's scrolling .results box).
  const visible = (el) => {
    let left = 0, right = document.documentElement.clientWidth;
    for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") {
        const box = a.getBoundingClientRect();
        left = Math.max(left, box.left + a.clientLeft);
        right = Math.min(right, box.left + a.clientLeft + a.clientWidth);
      }
    }
    return [left, right];
  };
  const found = [...document.querySelectorAll(selector)].filter((el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  });
  return {
    count: found.length,
    outside: found
      .map((el) => [el.textContent.trim().slice(0, 40), el.getBoundingClientRect(), visible(el)])
      .filter(([, box, [left, right]]) => box.left < left - 0.5 || box.right > right + 0.5)
      .map(([text, box, [left, right]]) =>
        `${text} at x=${Math.round(box.left)}..${Math.round(box.right)}, `
        + `visible ${Math.round(left)}..${Math.round(right)}`),
  };
}"""


def inside(page, selector: str) -> None:
    """Every visible element of ``selector`` (at least one) lies inside the viewport."""
    result = page.evaluate(OUTSIDE, selector)
    assert result["count"] > 0, f"nothing visible matches {selector}"
    assert result["outside"] == [], f"{selector} outside the viewport: {result['outside']}"


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def snap(page, name: str) -> None:
    screenshot(page, name, folder="responsive")


@pytest.fixture
def attempts(e2e_data):
    """Audit rows with long messages and reasons, as a busy day leaves them."""
    task = e2e_data.mirrored(e2e_data.completed)
    reasons = [
        f"Customer asked on ticket 47{n} to stop every call of this campaign today"
        for n in range(3)
    ]
    busy_day(task, "agent", reasons)
    # A cancel from a round on: the widest target ("node key (#task key)").
    CancelAttempt.objects.create(
        cancel_type=CancelType.NODE,
        target_id=2026113000279,
        task=task,
        task_key_id=task.key_id,
        outcome=Outcome.REFUSED,
        username="agent",
        response_code=-18,
        response_message="port program unusual, the round has already started " * 2,
        reason="Customer asked on ticket 480 to stop the later rounds of this campaign today",
    )


def test_the_task_list_shows_key_name_and_status(page, login, e2e_data, e2e_users, width):
    login(page, "agent")
    page.goto("/admin/laaffic_recall/recalltask/?status__exact=0")
    no_sideways_scroll(page)
    for cell in ["field-key_id", "field-task_name_shown", "field-status_display"]:
        inside(page, f"#result_list tbody .{cell}")
    inside(page, "#result_list tbody input[name=_selected_action]")
    inside(page, "#changelist-form button[name=index]")
    inside(page, ".object-tools a")
    if width == "desktop":
        inside(page, "#result_list tbody .field-parent_link")
        inside(page, "#result_list tbody .field-created")
    snap(page, f"task-list-{width}")


def test_the_task_page_reaches_every_cancel_from_here(page, login, e2e_data, e2e_users, width):
    task = e2e_data.mirrored(e2e_data.in_progress)
    login(page, "agent")
    page.goto(f"/admin/laaffic_recall/recalltask/{task.pk}/change/")
    no_sideways_scroll(page)
    buttons = page.locator(".laaffic-nodes a.laaffic-cancel-button")
    assert buttons.count() == 2  # the two Pending rounds
    inside(page, ".laaffic-nodes a.laaffic-cancel-button")
    inside(page, ".laaffic-nodes .field-node_status")
    inside(page, ".object-tools a, .object-tools button")
    snap(page, f"task-page-{width}")


def test_the_confirmation_shows_what_happens_to_each_target(
    page, login, e2e_data, e2e_users, width
):
    task = e2e_data.mirrored(e2e_data.pending[0])
    login(page, "agent")
    page.goto(f"/admin/laaffic_recall/recalltask/{task.pk}/cancel/")
    no_sideways_scroll(page)
    inside(page, ".laaffic-cancel-preview td.laaffic-on-confirm")
    inside(page, ".laaffic-cancel-preview tbody td:first-child")
    inside(page, ".laaffic-confirm-form input[type=submit], .laaffic-confirm-form a.button")
    assert "Will be stopped" in page.locator(".laaffic-on-confirm").inner_text()
    snap(page, f"confirmation-{width}")

    progress = e2e_data.mirrored(e2e_data.in_progress)
    node = progress.nodes.order_by("position").last()
    page.goto(f"/admin/laaffic_recall/recalltask/{progress.pk}/cancel-from-node/{node.pk}/")
    no_sideways_scroll(page)
    inside(page, ".laaffic-cancel-nodes td.laaffic-on-confirm")
    inside(page, ".laaffic-confirm-form input[type=submit], .laaffic-confirm-form a.button")
    snap(page, f"node-confirmation-{width}")


def test_the_overview_fits(page, login, e2e_data, e2e_users, attempts, width):
    login(page, "agent")
    page.goto("/admin/laaffic_recall/")
    no_sideways_scroll(page)
    inside(page, ".laaffic-overview section")
    inside(page, ".laaffic-chart")
    snap(page, f"overview-{width}")


def test_the_audit_list_shows_who_what_why_code_and_outcome_at_both_widths(
    page, login, e2e_data, e2e_users, attempts, width
):
    login(page, "admin")
    page.goto("/admin/laaffic_recall/cancelattempt/")
    no_sideways_scroll(page)
    # Who, when, what (the id sent and its type), the outcome and LAAFFIC's code, the
    # message and the agent's reason: on a phone too, each row says all of it.
    for part in [
        ".field-started_at a",
        ".field-username_shown",
        ".field-target .laaffic-target-id",
        ".field-target .laaffic-type",
        ".field-outcome_and_code .laaffic-outcome",
        ".field-outcome_and_code .laaffic-response-code",
        ".field-message_and_reason .laaffic-message",
        ".field-message_and_reason .laaffic-reason",
    ]:
        inside(page, f"#result_list tbody {part}")
    # The message and the reason read as sentences, not a word per line: beside Django's
    # navigation sidebar and the filters on a laptop, and across the row on a phone.
    if width == "desktop":
        assert page.locator("#nav-sidebar").is_visible()
    cells = page.locator("#result_list tbody td.field-message_and_reason")
    narrowest = min(box["width"] for box in (c.bounding_box() for c in cells.all()))
    assert narrowest >= 180, f"the message column is {narrowest:.0f} px wide"
    snap(page, f"audit-list-{width}")
    assert re.search(r"cancelattempt", page.url)
    assert RecallTask.objects.exists()


def test_escaped_control_characters_fit_the_attempt_page_and_the_task_page(
    page, login, e2e_data, e2e_users, width
):
    """An agent's reason and LAAFFIC's raw JSON full of bidi and control characters are
    shown as escapes (long unbroken runs of ``\\u202e``) and still fit."""
    odd = "\u202e\x1b[31m\x07" * 12
    task = e2e_data.mirrored(e2e_data.completed)
    task.raw = {**(task.raw or {}), "taskName": odd}
    task.save(update_fields=["raw"])
    attempt = CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=task.key_id,
        task=task,
        task_key_id=task.key_id,
        outcome=Outcome.SKIPPED,
        username="agent",
        reason=f"ticket 481 {odd}",
    )
    login(page, "admin")
    for url, name in [
        (f"/admin/laaffic_recall/cancelattempt/{attempt.pk}/change/", "attempt-escaped"),
        (f"/admin/laaffic_recall/recalltask/{task.pk}/change/", "task-page-escaped"),
    ]:
        page.goto(url)
        if name == "task-page-escaped":
            page.locator("fieldset.collapse summary, fieldset.collapse h2").first.click()
        no_sideways_scroll(page)
        assert "\\u202e" in page.content() and "\u202e" not in page.content()
        snap(page, f"{name}-{width}")
