"""What the agent reads about a cancel is what LAAFFIC did, in English and in Chinese, at a
phone's and a laptop's width:

- a cancel by parent task id names, under "Stopped", only the task that stopped, and says
  why the others did not (Completed; In progress, with "Stop rounds 3-4");
- the button names the action and how many tasks and rounds; the headline counts tasks
  and rounds; going Back after the cancel shows that result, nothing red;
- an audit row whose first answer was an HTTP 502 says it was settled by a re-read, with
  that first answer, in the reader's language;
- a cancel that changed nothing is not listed as a change in the admin's "Recent actions".
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from laaffic_recall.models import CancelAttempt, Outcome, RecallTask, Status
from laaffic_recall.sandbox.demo import sync_mirror
from laaffic_recall.sandbox.models import SandboxTask
from laaffic_recall.sandbox.state import settle
from laaffic_recall.sandbox.testing import create_task, inject_fault
from tests.support.browser import (
    AUDIT_LIST,
    TASK_LIST,
    artifact_name,
    expect,
    screenshot,
    task_page,
)
from tests.support.sandbox import C, P, R

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PARENT = 2026120600275
WORDS = {
    "en": {
        "action": "Cancel selected recall tasks by parent task id",
        "button": "Stop 1 recall task (2 rounds)",
        "undone": "This cannot be undone.",
        "headline": "Stopped 1 recall task (2 remaining rounds).",
        "stopped": "Stopped: LAAFFIC now shows it Cancelled, read at",
        "completed": "Not stopped: LAAFFIC shows it Completed",
        "offer": "Stop rounds 3-4",
        "already": "This cancel was already sent",
        "settled": "Settled by a re-read at",
        "first": "first answer: HTTP 502",
        "not_stopped": "Not stopped: LAAFFIC shows it Completed",
    },
    "zh-hans": {
        "action": "按父任务 ID 取消所选重呼任务",
        "button": "停止 1 个重呼任务（2 轮）",
        "undone": "此操作无法撤销。",
        "headline": "已停止 1 个重呼任务（剩余 2 轮）。",
        "stopped": "已停止：LAAFFIC 现显示其已取消，读取于",  # noqa: RUF001
        "completed": "未停止：LAAFFIC 显示其为已完成",  # noqa: RUF001
        "offer": "停止第 3-4 轮",
        "already": "此取消已于",
        "settled": "由重新读取确定于",
        "first": "首次答复：HTTP 502",  # noqa: RUF001
        "not_stopped": "未停止：LAAFFIC 显示其为已完成",  # noqa: RUF001
    },
}


@pytest.fixture(params=list(WORDS))
def language(request, page, e2e_site) -> str:
    page.context.add_cookies(
        [{"name": "django_language", "value": request.param, "url": e2e_site.url}]
    )
    return request.param


def make(nodes, name: str, minutes: int, **fields) -> SandboxTask:
    created = timezone.now() - timedelta(minutes=30 - minutes)
    return create_task(nodes, task_name=name, create_time=created, **fields)


def mirror() -> None:
    report = sync_mirror(days=2)
    assert report.ok, report.output


def no_sideways_scroll(page, width: str) -> None:
    if width == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_parent_cancel_lists_under_stopped_only_the_task_that_stopped(
    page, login, e2e_site, e2e_users, sandbox_calls, width, language, request
):
    words = WORDS[language]
    completed = make([C, C], "Parent completed", 1, task_id=PARENT)
    pending = make([P, P], "Parent pending", 2, task_id=PARENT)
    running = make([C, R, P, P], "Parent running", 3, task_id=PARENT)
    mirror()
    login(page, "agent")

    page.goto(TASK_LIST)
    row = page.locator("#result_list tbody tr", has_text="Parent pending")
    row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", label=words["action"])
    page.locator("button[name=index]").first.click()
    expect(page.locator("body.laaffic-cancel-confirmation")).to_be_visible()
    button = page.locator("input.laaffic-confirm-button")
    expect(button).to_have_value(words["button"])
    expect(page.locator(".laaffic-cancel-intro")).to_contain_text(words["undone"])
    no_sideways_scroll(page, width)
    screenshot(page, artifact_name(request, "confirmation"))

    button.click()
    message = page.locator("ul.messagelist li")
    expect(message).to_contain_text(words["headline"])
    no_sideways_scroll(page, width)
    screenshot(page, artifact_name(request, "result"))

    assert [c.body for c in sandbox_calls("cancel")] == [{"type": 2, "id": PARENT}]
    lines = {
        task.key_id: message.locator(".laaffic-cancel-result", has_text=f"#{task.key_id}")
        for task in (completed, pending, running)
    }
    expect(lines[pending.key_id]).to_contain_text(words["stopped"])
    expect(lines[completed.key_id]).to_contain_text(words["completed"])
    expect(lines[running.key_id].locator("a.laaffic-stop-rounds")).to_have_text(words["offer"])
    for task in (completed, running):
        assert words["stopped"] not in lines[task.key_id].inner_text()
        assert SandboxTask.objects.get(key_id=task.key_id).status != Status.CANCELLED
    assert RecallTask.objects.get(key_id=pending.key_id).status == Status.CANCELLED


def test_back_after_a_cancel_shows_its_result_and_nothing_red(
    page, login, e2e_site, e2e_users, width, language, request
):
    words = WORDS[language]
    task = make([P, P], "Back after", 1)
    mirror()
    login(page, "agent")
    page.goto(task_page(RecallTask.objects.get(key_id=task.key_id)))
    page.goto(task_page(RecallTask.objects.get(key_id=task.key_id)) + "../cancel/")
    page.locator("input.laaffic-confirm-button").click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text(words["headline"])

    page.go_back()
    expect(page.locator("body.laaffic-cancel-confirmation")).to_be_visible()
    expect(page.locator(".laaffic-already")).to_contain_text(words["already"])
    expect(page.locator(".laaffic-already")).to_contain_text(words["stopped"])
    expect(page.locator(".errornote")).to_have_count(0)
    expect(page.locator("input.laaffic-confirm-button")).to_have_count(0)
    no_sideways_scroll(page, width)
    screenshot(page, artifact_name(request, "back"))


def test_an_audit_row_says_how_it_was_settled_and_keeps_the_first_answer(
    page, login, e2e_site, e2e_users, width, language, request
):
    words = WORDS[language]
    task = make([P, P], "Answer lost", 1)
    mirror()
    inject_fault("html_502", calls=["cancel"], when="after", times=1)
    login(page, "admin")
    page.goto(task_page(RecallTask.objects.get(key_id=task.key_id)) + "../cancel/")
    page.locator("input.laaffic-confirm-button").click()
    expect(page.locator("ul.messagelist li")).to_contain_text(words["headline"])
    attempt = CancelAttempt.objects.get()
    assert (attempt.first_outcome, attempt.outcome) == (Outcome.UNKNOWN, Outcome.SUCCEEDED)

    page.goto(AUDIT_LIST)
    row = page.locator("#result_list tbody tr").first
    expect(row).to_contain_text(words["settled"])
    expect(row).to_contain_text(words["first"])
    screenshot(page, artifact_name(request, "audit"))


def test_a_cancel_that_changed_nothing_is_not_a_change_in_recent_actions(
    page, login, e2e_site, e2e_users, width, language, request
):
    words = WORDS[language]
    finished = make([P, P], "Finished meanwhile", 1)
    stopped = make([P, P], "Stopped for real", 2)
    mirror()
    finished.nodes.update(status=Status.COMPLETED)  # LAAFFIC finished it since the sync
    settle(finished)
    login(page, "agent")
    for task, said in ((finished, words["not_stopped"]), (stopped, words["headline"])):
        page.goto(task_page(RecallTask.objects.get(key_id=task.key_id)) + "../cancel/")
        page.locator("input.laaffic-confirm-button").click()
        expect(page.locator("ul.messagelist li")).to_contain_text(said)

    page.goto("/admin/")
    recent = page.locator("#recent-actions-module")
    expect(recent).to_contain_text("Stopped for real")
    expect(recent).not_to_contain_text("Finished meanwhile")
    expect(recent.locator("li.changelink")).to_have_count(1)
    no_sideways_scroll(page, width)
    screenshot(page, artifact_name(request, "recent-actions"))
    attempts = dict(CancelAttempt.objects.values_list("target_id", "outcome"))
    assert attempts == {finished.key_id: Outcome.SKIPPED, stopped.key_id: Outcome.SUCCEEDED}
