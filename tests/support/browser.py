"""What the browser tests share: the admin pages they open, the two widths they check, where
their screenshots go, and Playwright's assertions."""

from __future__ import annotations

import re
from pathlib import Path

# Screenshots, git-ignored: ``test-artifacts/e2e/`` unless a test names another folder.
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# A phone and a laptop: (width, height) of the viewport.
WIDTHS = {"phone": (390, 844), "desktop": (1280, 800)}

OVERVIEW = "/admin/laaffic_recall/"
TASK_LIST = "/admin/laaffic_recall/recalltask/"
AUDIT_LIST = "/admin/laaffic_recall/cancelattempt/"


def task_page(task) -> str:
    """The change page of a mirrored ``RecallTask``."""
    return f"{TASK_LIST}{task.pk}/change/"


def open_task_list(page) -> None:
    """From the admin's index, the app's task list, as an agent reaches it."""
    page.goto("/admin/")
    page.locator("#content-main").get_by_role("link", name="Recall tasks", exact=True).click()
    page.wait_for_url(re.compile(re.escape(TASK_LIST)))
    expect(page.locator("#result_list")).to_be_visible()


def expect(target):
    """Playwright's auto-waiting assertions (imported late: the harness skips without it)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def artifact_name(request, step: str = "") -> str:
    """The running test's name as a file name, with ``--<step>`` for a step within it."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    return f"{name}--{step}" if step else name


def screenshot(page, name: str, folder: str = "e2e") -> None:
    """A full-page screenshot saved as ``test-artifacts/<folder>/<name>.png``."""
    directory = ARTIFACTS / folder
    directory.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)
