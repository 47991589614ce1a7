"""The admin in Simplified Chinese: the agent switches language from the header and
cancels a Pending task with every step of the flow in Chinese."""

from __future__ import annotations

import re

import pytest

from laaffic_recall.models import CancelAttempt, Outcome, Status
from laaffic_recall.sandbox.models import SandboxTask
from tests.support.browser import TASK_LIST, expect, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_agent_switches_to_chinese_and_cancels_a_task(
    page, login, e2e_data, e2e_users, sandbox_calls, width
):
    target = e2e_data.pending[0]
    login(page, "agent")

    page.select_option("#laaffic-language-select", "zh-hans")
    page.locator("#laaffic-language button[type=submit]").click()
    expect(page.locator("#laaffic-language-select")).to_have_value("zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    page.goto(TASK_LIST + "?status__exact=0")
    expect(page.locator("#content h1")).to_contain_text("重呼任务")
    expect(page.locator("#result_list thead")).to_contain_text("父任务 ID")
    screenshot(page, f"zh-hans--task-list-{width}")

    row = page.locator("#result_list tbody tr", has_text=target.task_name)
    row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", label="取消所选重呼任务")
    page.locator("button[name=index]").first.click()
    confirmation = page.locator("body.laaffic-cancel-confirmation")
    expect(confirmation).to_be_visible()
    expect(page.locator("#content")).to_contain_text("LAAFFIC 将不再为这些重呼任务进行后续重呼。")
    expect(page.locator("table.laaffic-cancel-preview")).to_contain_text("将被停止")
    screenshot(page, f"zh-hans--confirmation-{width}")

    page.fill("textarea[name=reason]", "客户来电要求停止")
    page.locator("input.laaffic-confirm-button").click()
    messages = page.locator("ul.messagelist")
    expect(messages).to_contain_text("已停止 1 个重呼任务（剩余 2 轮）。")
    screenshot(page, f"zh-hans--after-cancel-{width}")

    assert [c.body for c in sandbox_calls("cancel")] == [{"type": 1, "id": target.key_id}]
    assert SandboxTask.objects.get(key_id=target.key_id).status == Status.CANCELLED
    attempt = CancelAttempt.objects.get()
    assert (attempt.outcome, attempt.reason) == (Outcome.SUCCEEDED, "客户来电要求停止")
    assert re.search(r"/admin/laaffic_recall/recalltask/", page.url)
