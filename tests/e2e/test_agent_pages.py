"""The pages an agent reads around a cancel, in a real browser, at 1280 and 390 px, in
English and in Simplified Chinese: one clock for a task, a legible "faults on" tag that
opens, a short "not known yet" that updates itself, a timeline that reflows on a phone,
Chinese without leftovers, and a search that finds nothing offering to ask LAAFFIC.

Each test saves screenshots to ``test-artifacts/pages/``.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from laaffic_recall.models import (
    CancelAttempt,
    CancelType,
    Outcome,
    RecallTask,
    Status,
    SyncRun,
)
from laaffic_recall.sandbox.demo import follow_sandbox, sync_mirror
from laaffic_recall.sandbox.models import SandboxTask
from laaffic_recall.sandbox.testing import create_task, inject_fault
from tests.support.audit import busy_day
from tests.support.browser import (
    AUDIT_LIST,
    OVERVIEW,
    TASK_LIST,
    expect,
    screenshot,
    task_page,
)
from tests.support.sandbox import P

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LANGUAGES = ["en", "zh-hans"]
# Words an operator needs and an agent cannot act on.
OPERATOR_WORDS = ["laaffic_sync", "manage.py", "ORM", "laaffic_audit_verify", "cron"]
URL_REASON = (
    "Customer asked to stop, see https://support.example.com/tickets/4711/conversation/"
    "messages/0123456789abcdef0123456789abcdef?highlight=stop-every-call-of-this-campaign"
)


def snap(page, name: str) -> None:
    screenshot(page, name, folder="pages")


@pytest.fixture(params=LANGUAGES)
def language(request) -> str:
    return request.param


def use(page, login, language: str, username: str = "agent") -> None:
    """Log in and pick the language from the header, as an agent does."""
    login(page, username)
    if language != "en":
        page.select_option("#laaffic-language-select", language)
        page.locator("#laaffic-language button[type=submit]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)


def say(language: str, english: str, chinese: str) -> str:
    return chinese if language == "zh-hans" else english


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.clientWidth")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide in a {width} px viewport"


def text_of(page) -> str:
    return page.locator("body").inner_text()


def chinese_is_clean(page) -> None:
    """No space after a Chinese full stop or comma, no ASCII punctuation beside Chinese, in
    the page's content and messages (the header's "欢迎，" is Django's own)."""
    text = page.locator("#main").inner_text()
    full_width = "\u3002\uff0c\uff1b\uff1a"  # the full stop, comma, semicolon, colon
    found = re.findall(rf".{{0,8}}[{full_width}]\x20.{{0,8}}", text)
    assert found == [], found
    cjk = r"[\u4e00-\u9fff]"
    found = re.findall(rf".{{0,6}}(?:{cjk}[,;:(]|[,;)]\x20?{cjk}).{{0,6}}", text)
    assert found == [], found


def no_operator_words(page) -> None:
    text = text_of(page)
    assert [w for w in OPERATOR_WORDS if w in text] == []


def unknown_cancel(task: RecallTask, **fields) -> CancelAttempt:
    """An attempt whose answer was lost (an HTML 502 from a proxy), as the cancel leaves it."""
    RecallTask.objects.filter(pk=task.pk).update(cancel_in_doubt=True)
    return CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=task.key_id,
        task=task,
        task_key_id=task.key_id,
        outcome=Outcome.UNKNOWN,
        username="agent",
        http_status=502,
        reason=fields.pop("reason", "Customer asked to stop"),
        **fields,
    )


# --------------------------------------------------------------------------- one clock


def last_read_minutes_ago(minutes: int) -> None:
    """The last sync, and every task's last reading, ``minutes`` ago from now."""
    long_ago = timezone.now() - timedelta(minutes=minutes)
    SyncRun.objects.update(started_at=long_ago - timedelta(seconds=5), finished_at=long_ago)
    RecallTask.objects.update(synced_at=long_ago, detail_synced_at=long_ago)


def test_the_task_page_and_the_list_tell_one_clock_and_refresh_moves_it(
    page, login, e2e_data, e2e_users, width, language
):
    task = e2e_data.mirrored(e2e_data.pending[0])
    use(page, login, language)

    # Read 13 minutes before each page is asked for: each says "13 minutes ago" as long as
    # it loads within the minute, however long the pages before it took.
    last_read_minutes_ago(13)
    page.goto(TASK_LIST)
    listed = page.locator(".laaffic-freshness").inner_text()
    assert say(language, "Last sync 13\xa0minutes ago", "上次同步于13\xa0分钟前") in listed
    last_read_minutes_ago(13)
    page.goto(task_page(task))
    clock = page.locator(".laaffic-task-clock").inner_text()
    assert say(language, "Last read from LAAFFIC 13\xa0minutes ago", "13\xa0分钟前") in clock
    snap(page, f"clock-before-refresh-{language}-{width}")

    page.locator("button.laaffic-refresh-button").first.click()
    expect(page.locator("ul.messagelist")).to_be_visible()
    clock = page.locator(".laaffic-task-clock").inner_text()
    assert say(language, "Last read from LAAFFIC less than a minute ago", "不到一分钟前") in clock
    no_sideways_scroll(page)
    if language == "zh-hans":
        chinese_is_clean(page)
    snap(page, f"clock-after-refresh-{language}-{width}")


def test_the_overview_knows_a_running_loop_from_its_first_run(
    page, login, e2e_data, e2e_users, width
):
    SyncRun.objects.all().delete()
    # The loop's first run waits on LAAFFIC: the overview is read meanwhile.
    inject_fault("latency", calls=["queryPage"], seconds=4)
    stop = threading.Event()

    def follow():
        try:
            follow_sandbox(60, 2, stop)
        finally:
            close_old_connections()

    loop = threading.Thread(target=follow)
    loop.start()
    try:
        login(page, "agent")
        for _ in range(40):
            if SyncRun.objects.exists():
                break
            page.wait_for_timeout(100)
        page.goto(OVERVIEW)
        running = page.locator(".laaffic-last-sync").inner_text()
        assert SyncRun.objects.get().finished_at is None
        snap(page, f"overview-first-run-{width}")
    finally:
        stop.set()
        loop.join(30)
    assert "still running" in running
    assert "not scheduled" not in running
    no_sideways_scroll(page)


# --------------------------------------------------------------------------- faults on


def contrast(page, selector: str) -> float:
    """WCAG contrast of an element's text colour on its background (both computed)."""
    return page.evaluate(
        """(selector) => {
          const el = document.querySelector(selector);
          const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
          const lum = ([r, g, b]) => {
            const f = (v) => {
              v /= 255;
              return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
            };
            return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
          };
          const style = getComputedStyle(el);
          const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))];
          return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        }""",
        selector,
    )


def test_the_faults_on_tag_is_legible_and_opens_for_an_agent(
    page, login, e2e_data, e2e_users, width, language
):
    inject_fault("html_502", calls=["cancel"], when="before")
    use(page, login, language)
    page.goto(OVERVIEW)
    tag = page.locator("#laaffic-sandbox-faults")
    expect(tag).to_be_visible()
    expect(tag).to_have_text(say(language, "faults on", "故障已开启"))
    ratio = contrast(page, "#laaffic-sandbox-faults")
    assert ratio >= 4.5, f"contrast {ratio:.2f}:1"
    no_sideways_scroll(page)
    snap(page, f"faults-tag-{language}-{width}")

    tag.click()
    expect(page.locator("#content h1")).to_have_text(
        say(language, "Sandbox faults switched on", "已开启的沙箱故障")
    )
    expect(page.locator(".laaffic-faults li")).to_have_count(1)
    assert "403" not in text_of(page)
    no_sideways_scroll(page)
    snap(page, f"faults-page-{language}-{width}")


# --------------------------------------------------------------------------- not known yet


def test_not_known_yet_is_short_and_updates_itself_when_the_sync_settles_it(
    page, login, e2e_data, e2e_users, width, language
):
    sandbox = e2e_data.pending[1]
    task = e2e_data.mirrored(sandbox)
    unknown_cancel(task)
    use(page, login, language)
    page.goto(task_page(task))

    note = page.locator(".laaffic-not-known-yet")
    expect(note).to_be_visible()
    words = note.inner_text().split()
    if language == "en":
        assert len(words) <= 30, words
        assert note.inner_text().count("Refresh from LAAFFIC") == 2  # one instruction, its button
        assert "in a minute" not in note.inner_text()
    else:
        assert len(note.inner_text()) <= 60
        assert "尚不知道" in note.inner_text()
    # The time in the sentence is written as the timeline writes it (English writes
    # "10:57 p.m.", "5 a.m.", "noon" or "midnight"; Chinese "22:57").
    when = re.search(
        r"\d{1,2}(:\d{2})?\s?[ap]\.m\.|\d{1,2}:\d{2}|midnight|noon", note.inner_text()
    ).group(0)
    assert when in page.locator(".laaffic-event-cancel time").inner_text()
    expect(page.locator("a.laaffic-cancel-task-link")).to_have_count(0)
    no_sideways_scroll(page)
    snap(page, f"not-known-yet-{language}-{width}")

    # The sync (here run by the test) finds the task Cancelled at LAAFFIC and settles the
    # attempt; the open page notices by itself.
    SandboxTask.objects.filter(pk=sandbox.pk).update(status=Status.CANCELLED)
    assert sync_mirror(days=2).ok
    expect(note).to_have_count(0, timeout=20_000)
    outcome = page.locator(".laaffic-event-cancel .laaffic-outcome")
    expect(outcome).to_have_text(say(language, "Succeeded", "成功"))
    snap(page, f"not-known-yet-settled-{language}-{width}")


def test_not_known_yet_works_without_javascript(browser, e2e_site, e2e_data, e2e_users, width):
    task = e2e_data.mirrored(e2e_data.pending[2])
    unknown_cancel(task)
    context = browser.new_context(base_url=e2e_site.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/admin/login/")
        page.fill("#id_username", "agent")
        page.fill("#id_password", "agent")
        page.click("input[type=submit]")
        page.wait_for_selector("#user-tools")
        page.goto(task_page(task))
        page.locator(".laaffic-not-known-yet button").click()
        page.wait_for_load_state()
        screenshot(page, f"not-known-yet-no-js-pressed-{width}", folder="pages")
        messages = page.locator("ul.messagelist").inner_text()
        assert "had no effect: the task is still Pending; you can cancel it again." in messages
        expect(page.locator(".laaffic-not-known-yet")).to_have_count(0)
        screenshot(page, f"not-known-yet-no-js-{width}", folder="pages")
    finally:
        context.close()
    assert CancelAttempt.objects.get().outcome == Outcome.FAILED


# --------------------------------------------------------------------------- the timeline


@pytest.fixture
def busy_task(e2e_data) -> RecallTask:
    """A task with the attempts a busy day leaves: long messages, a reason holding a URL."""
    task = e2e_data.mirrored(e2e_data.completed)
    busy_day(task, "agent.with.a.long.name@example.com", [URL_REASON] * 3)
    return task


def test_the_task_pages_timeline_reflows_on_a_phone(
    page, login, e2e_data, e2e_users, busy_task, width, language
):
    use(page, login, language)
    page.goto(task_page(busy_task))
    events = page.locator(".laaffic-timeline li.laaffic-event-cancel")
    expect(events).to_have_count(3)
    no_sideways_scroll(page)
    for box in page.locator(".laaffic-timeline .laaffic-event-reason").all():
        assert page.evaluate("(el) => el.scrollWidth <= el.clientWidth", box.element_handle())
    assert "support.example.com" in events.first.inner_text()
    snap(page, f"timeline-{language}-{width}")


def test_the_audit_list_and_its_rows_fit_and_a_reason_with_a_url_wraps(
    page, login, e2e_data, e2e_users, busy_task, width, language
):
    use(page, login, language)
    page.goto(AUDIT_LIST)
    no_sideways_scroll(page)
    if width == "desktop":
        reason = page.locator("#result_list tbody td.field-message_and_reason").first
        box = reason.bounding_box()
        filters = page.locator("#changelist-filter").bounding_box()
        assert box["x"] + box["width"] <= filters["x"], (box, filters)
        assert page.evaluate("(el) => el.scrollWidth <= el.clientWidth", reason.element_handle())
        # (On a phone each row is a block; the header keeps "select all" and the time.)
        header = page.locator("#result_list thead th.column-started_at")
        line = page.evaluate(
            "(el) => parseFloat(getComputedStyle(el).fontSize) * 2", header.element_handle()
        )
        height = header.bounding_box()["height"]
        assert height < line * 1.6, "the header wraps character by character"
    no_operator_words(page)
    if language == "zh-hans":
        chinese_is_clean(page)
    snap(page, f"audit-list-{language}-{width}")

    page.locator("#result_list tbody tr a").first.click()
    expect(page.locator("#content h1")).to_be_visible()
    no_sideways_scroll(page)
    snap(page, f"audit-row-{language}-{width}")


# --------------------------------------------------------------------------- Chinese


def test_agent_pages_carry_no_operator_instructions_and_chinese_reads_cleanly(
    page, login, e2e_data, e2e_users, busy_task, width, language
):
    use(page, login, language)
    SyncRun.objects.all().delete()  # the overview and the list as before any sync
    for url in [OVERVIEW, TASK_LIST, task_page(busy_task)]:
        page.goto(url)
        no_operator_words(page)
        no_sideways_scroll(page)
        if language == "zh-hans":
            chinese_is_clean(page)
    assert sync_mirror(days=2).ok
    page.goto(OVERVIEW)
    axis = " ".join(
        page.locator(".laaffic-chart text.laaffic-chart-axis").evaluate_all(
            "(texts) => texts.map((t) => t.textContent)"
        )
    )
    if language == "zh-hans":
        assert "月" in axis and not re.search(r"[A-Z][a-z]{2}", axis), axis
        chinese_is_clean(page)
    else:
        assert re.search(r"[A-Z][a-z]{2} \d{1,2}", axis), axis
    snap(page, f"overview-{language}-{width}")


# --------------------------------------------------------------------------- confirmation


def test_the_confirmation_and_its_cell_labels_read_cleanly_in_each_language(
    page, login, e2e_data, e2e_users, width, language
):
    """On a phone the confirmation's cells carry their column's name; in Chinese with a
    full-width colon, as the form's label and the chosen round's note."""
    use(page, login, language)
    task = e2e_data.mirrored(e2e_data.in_progress)  # rounds Completed, In progress, Pending x2
    chosen = task.nodes.get(position=2)
    page.goto(f"{TASK_LIST}{task.pk}/cancel-from-node/{chosen.pk}/")
    expect(page.locator("input.laaffic-confirm-button")).to_be_visible()
    no_sideways_scroll(page)
    no_operator_words(page)
    if language == "zh-hans":
        chinese_is_clean(page)
    label = say(language, "Reason:", "原因：")  # noqa: RUF001
    expect(page.locator("label[for=id_reason]")).to_have_text(label)
    key = chosen.key_id
    note = say(language, f"(node #{key}) (chosen)", f"（节点 #{key}）（所选）")
    expect(page.locator("tr.laaffic-chosen td").first).to_contain_text(note)
    if width == "phone":
        labels = page.locator("table.laaffic-cancel-preview td[data-label]").evaluate_all(
            "(cells) => cells.map((td) => getComputedStyle(td, '::before').content)"
        )
        suffix = say(language, ': "', '："')  # noqa: RUF001
        assert labels and [c for c in labels if not c.endswith(suffix)] == []
    snap(page, f"confirmation-from-node-{language}-{width}")


# --------------------------------------------------------------------------- empty search


def test_a_search_that_finds_nothing_offers_to_look_the_task_up_at_laaffic(
    page, login, e2e_data, e2e_users, width, language
):
    use(page, login, language)
    page.goto(f"{TASK_LIST}?q=999999")
    empty = page.locator(".laaffic-search-empty")
    expect(empty).to_contain_text(
        say(language, "No recall task 999999 here.", "此处没有重呼任务 999999。")
    )
    no_sideways_scroll(page)
    snap(page, f"search-empty-{language}-{width}")
    empty.locator("button").click()
    expect(page.locator("ul.messagelist")).to_contain_text(
        say(language, "LAAFFIC did not give recall task #999999", "LAAFFIC 未返回重呼任务 #999999")
    )

    # A task LAAFFIC has and the mirror does not yet.
    fresh = create_task([P, P], task_name="Not mirrored yet", create_time=timezone.now())
    page.goto(f"{TASK_LIST}?q={fresh.key_id}")
    page.locator(".laaffic-search-empty button").click()
    expect(page.locator("ul.messagelist")).to_contain_text(
        say(language, f"Read recall task #{fresh.key_id} from LAAFFIC.", f"#{fresh.key_id}")
    )
    assert re.search(r"/recalltask/\d+/change/", page.url)
    expect(page.locator(".laaffic-task-clock")).to_be_visible()
    no_sideways_scroll(page)
    snap(page, f"search-looked-up-{language}-{width}")
