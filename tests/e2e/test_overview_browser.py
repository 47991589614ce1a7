"""The overview in a real browser, with every kind of trouble made by the sandbox's faults:
each "needs attention" link followed, the charts drawn, light and dark theme."""

from __future__ import annotations

import re

import pytest
from django.db.models.signals import post_save

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.models import CancelAttempt, Outcome, RecallTask, SyncRun
from laaffic_recall.sandbox.demo import sync_mirror
from laaffic_recall.sandbox.models import SandboxFault, SandboxTask
from laaffic_recall.sandbox.testing import inject_fault
from tests.support.browser import OVERVIEW, expect, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def luminance(css: str) -> float:
    """Relative luminance of an ``rgb(r, g, b)`` colour (WCAG 2)."""
    channels = [int(c) / 255 for c in re.findall(r"\d+", css)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, two: str) -> float:
    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def make_every_trouble(data, users) -> dict[str, RecallTask]:
    """A sync with a failed detail, then three cancels: one whose answer is lost (502)
    before it took effect, one refused (-18), and one that took effect but whose re-read
    failed (the mirror marked unconfirmed)."""
    unknown, refused, unconfirmed = data.pending
    fault = inject_fault("html_502", calls=["queryDetail"], ids=[data.in_progress.key_id])
    report = sync_mirror(days=2)
    assert not report.ok
    fault.delete()

    inject_fault("html_502", calls=["cancel"], ids=[unknown.key_id], when="before")
    inject_fault("code", calls=["cancel"], ids=[refused.key_id], when="before")

    def reread_fails(sender, instance, **kwargs):
        # The sandbox has just cancelled the task: its re-read now meets a 502.
        if instance.key_id == unconfirmed.key_id and instance.status == 3:
            inject_fault("html_502", calls=["queryDetail"], ids=[unconfirmed.key_id])

    post_save.connect(reread_fails, sender=SandboxTask)
    try:
        submission = Submission(user=users.agent, username="agent", reason="E2E overview")
        tasks = [data.mirrored(t) for t in (unknown, refused, unconfirmed)]
        service.cancel([CancelTarget.for_task(t) for t in tasks], submission)
    finally:
        post_save.disconnect(reread_fails, sender=SandboxTask)
    SandboxFault.objects.all().delete()

    outcomes = dict(CancelAttempt.objects.values_list("task_key_id", "outcome"))
    assert outcomes == {
        unknown.key_id: Outcome.UNKNOWN,
        refused.key_id: Outcome.REFUSED,
        unconfirmed.key_id: Outcome.SUCCEEDED,
    }
    assert RecallTask.objects.get(key_id=unconfirmed.key_id).unconfirmed
    assert SyncRun.objects.order_by("-started_at").first().failure_count == 1
    return {
        "unknown": data.mirrored(unknown),
        "refused": data.mirrored(refused),
        "unconfirmed": data.mirrored(unconfirmed),
    }


def test_the_agent_opens_the_overview_and_follows_each_trouble(page, login, e2e_data, e2e_users):
    made = make_every_trouble(e2e_data, e2e_users)
    login(page, "agent")
    page.goto("/admin/")
    # The app's name above its models on the admin's home page leads to the overview.
    page.locator("#content-main .app-laaffic_recall caption a").click()
    page.wait_for_url(re.compile(r"/admin/laaffic_recall/$"))

    attention = page.locator(".laaffic-attention")
    expect(attention).to_have_count(4)
    expect(page.locator(".laaffic-attention-in-doubt")).to_contain_text(
        "1 cancel whose outcome is unknown"
    )
    expect(page.locator(".laaffic-attention-refused")).to_contain_text(
        "1 cancel refused in the last 24 hours"
    )
    expect(page.locator(".laaffic-attention-unconfirmed")).to_contain_text(
        "1 task marked unconfirmed"
    )
    expect(page.locator(".laaffic-attention-sync-failed")).to_contain_text(
        "The last sync had 1 failure"
    )
    expect(page.locator("svg.laaffic-chart")).to_have_count(2)
    screenshot(page, "overview--agent-light")

    # Each link opens the rows it speaks of.
    for kind, where, text in [
        ("in-doubt", "#result_list tbody tr", str(made["unknown"].key_id)),
        ("refused", "#result_list tbody tr", str(made["refused"].key_id)),
        ("unconfirmed", "#result_list tbody tr", made["unconfirmed"].task_name),
        ("sync-failed", ".field-failures", f"detail {e2e_data.in_progress.key_id}"),
    ]:
        page.goto(OVERVIEW)
        page.locator(f".laaffic-attention-{kind} a").click()
        page.wait_for_load_state()
        rows = page.locator(where)
        expect(rows).to_have_count(1)
        expect(rows).to_contain_text(text)

    # A status count opens the task list filtered to that status.
    page.goto(OVERVIEW)
    page.locator(".laaffic-figures tr", has_text="Execution exception").get_by_role("link").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text(e2e_data.exception.task_name)

    # The task list says when the mirror was last synced.
    expect(page.locator(".laaffic-freshness")).to_contain_text("had failures")


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_the_overview_reads_in_both_themes_and_sizes(
    browser, e2e_site, login, e2e_data, e2e_users, theme, width, height
):
    make_every_trouble(e2e_data, e2e_users)
    context = browser.new_context(
        base_url=e2e_site.url, viewport={"width": width, "height": height}, color_scheme=theme
    )
    try:
        page = context.new_page()
        login(page, "agent")
        page.evaluate(f"localStorage.setItem('theme', '{theme}')")
        page.goto(OVERVIEW)
        expect(page.locator(".laaffic-attention")).to_have_count(4)
        # Nothing wider than the window: the page never scrolls sideways.
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        # The axis text takes the theme's own colour.
        fill = page.locator(".laaffic-chart-axis").first.evaluate("e => getComputedStyle(e).fill")
        body = page.evaluate("getComputedStyle(document.body).color")
        assert fill != body or theme == "light"
        screenshot(page, f"overview--{theme}-{width}")
    finally:
        context.close()
