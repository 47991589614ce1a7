"""An open cancel whose audit row was changed outside the app, as an agent meets it: the
overview lists it under "Needs attention", and a refresh of its task says it cannot be
settled instead of settling it."""

from __future__ import annotations

import pytest

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.models import CancelAttempt, Outcome
from laaffic_recall.sandbox.models import SandboxFault
from laaffic_recall.sandbox.testing import inject_fault
from tests.support.audit import CHAIN_KEY, raw_sql
from tests.support.browser import OVERVIEW, expect, screenshot, task_page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_open_cancel_changed_outside_the_app_is_flagged_and_not_settled(
    page, width, login, e2e_data, e2e_users, settings
):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "AUDIT_CHAIN_KEY": CHAIN_KEY}
    task = e2e_data.mirrored(e2e_data.pending[0])
    inject_fault("html_502", calls=["cancel"], ids=[task.key_id], when="before")
    submission = Submission(user=e2e_users.agent, username="agent", reason="E2E seal")
    service.cancel([CancelTarget.for_task(task)], submission)
    SandboxFault.objects.all().delete()
    attempt = CancelAttempt.objects.get()
    assert attempt.outcome == Outcome.UNKNOWN
    table = CancelAttempt._meta.db_table
    raw_sql(f"UPDATE {table} SET username = 'director' WHERE id = %s", attempt.pk)

    login(page, "agent")
    page.goto(OVERVIEW)
    item = page.locator(".laaffic-attention-broken-seal")
    expect(item).to_contain_text("1 open cancel whose audit row does not match its seal")
    expect(item).to_contain_text("ask an administrator to check the audit log")
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    screenshot(page, f"audit-seal--overview-{width}")

    page.goto(task_page(task))
    page.get_by_role("button", name="Refresh from LAAFFIC").click()
    expect(page.locator(".messagelist")).to_contain_text(
        "this app will not settle it: its audit record was changed outside the app"
    )
    assert CancelAttempt.objects.get().outcome == Outcome.UNKNOWN
    screenshot(page, f"audit-seal--refresh-{width}")
