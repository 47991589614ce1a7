"""Harness of the browser tests: the bundled site on a loopback port, its sandbox, Playwright.

- ``e2e_site``: pytest-django's ``live_server`` (the whole site, sandbox included) with
  ``LAAFFIC_RECALL`` pointed at ``<live server>/sandbox`` and the sandbox's credentials.
- ``e2e_data``: a known set of sandbox tasks (see ``E2EData``), mirrored into the app by
  its own sync over HTTP, as the demo does.
- ``e2e_users``: ``admin`` (superuser), ``agent`` (view + cancel), ``viewer`` (view only);
  passwords equal the usernames.
- ``page``: a fresh browser context per test, logged in by ``login(page, username)``; its
  full-page screenshot is saved to ``test-artifacts/e2e/<test>.png`` after each test,
  pass or fail.
- ``width``: the page at a phone's and at a laptop's size in turn (``WIDTHS``).
- ``sandbox_calls(call)``: what the sandbox received, to assert that nothing was sent.

Chromium is Debian's (``/usr/bin/chromium``, or ``LAAFFIC_E2E_CHROMIUM``); nothing is
downloaded. Without it the tests skip, unless ``LAAFFIC_E2E_REQUIRED=1`` (CI): then fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from laaffic_recall.models import RecallTask
from laaffic_recall.sandbox.demo import AGENT_PERMISSIONS, permissions, sync_mirror
from laaffic_recall.sandbox.models import SandboxTask
from laaffic_recall.sandbox.testing import calls_received, create_task, recall_settings
from tests.support.browser import WIDTHS, artifact_name, screenshot
from tests.support.sandbox import C, E, P, R, X

# Playwright's sync API keeps an event loop in this thread; the test code's ORM calls are
# still plain synchronous ones, run between browser steps.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("LAAFFIC_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SANDBOX_KEY, SANDBOX_SECRET = "e2e-sandbox-key", "e2e-sandbox-secret"


def _unavailable(reason: str) -> None:
    if os.environ.get("LAAFFIC_E2E_REQUIRED") == "1":
        pytest.fail(f"{reason} (LAAFFIC_E2E_REQUIRED=1, so the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@dataclass(frozen=True)
class E2ESite:
    url: str
    sandbox_url: str


@pytest.fixture
def e2e_site(live_server, settings) -> E2ESite:
    settings.LAAFFIC_SANDBOX = {"API_KEY": SANDBOX_KEY, "API_SECRET": SANDBOX_SECRET}
    sandbox_url = live_server.url + "/sandbox"
    settings.LAAFFIC_RECALL = recall_settings(sandbox_url, READ_TIMEOUT=10, RETRY_BACKOFF=0)
    return E2ESite(url=live_server.url, sandbox_url=sandbox_url)


@dataclass(frozen=True)
class E2EData:
    """The sandbox tasks every browser test starts from (mirrored into the app)."""

    pending: tuple[SandboxTask, ...]  # three Pending tasks, two nodes each
    in_progress: SandboxTask  # nodes Completed, In progress, Pending, Pending
    completed: SandboxTask
    cancelled: SandboxTask
    exception: SandboxTask

    def mirrored(self, task: SandboxTask) -> RecallTask:
        return RecallTask.objects.get(key_id=task.key_id)


@pytest.fixture
def e2e_data(e2e_site) -> E2EData:
    created = timezone.now() - timedelta(minutes=30)

    def task(nodes, name, minutes):
        return create_task(nodes, task_name=name, create_time=created + timedelta(minutes=minutes))

    data = E2EData(
        pending=tuple(task([P, P], f"E2E pending {c}", i) for i, c in enumerate("ABC")),
        in_progress=task([C, R, P, P], "E2E in progress", 3),
        completed=task([C, C], "E2E completed", 4),
        cancelled=task([C, X], "E2E cancelled", 5),
        exception=task([C, E], "E2E exception", 6),
    )
    report = sync_mirror(days=2)
    assert report.ok, report.output
    assert RecallTask.objects.count() == SandboxTask.objects.count(), report.output
    return data


@dataclass(frozen=True)
class E2EUsers:
    admin: object
    agent: object
    viewer: object


@pytest.fixture
def e2e_users(e2e_site, django_user_model) -> E2EUsers:
    def make(username: str, **flags):
        user = django_user_model.objects.create_user(
            username=username, password=username, is_staff=True, **flags
        )
        return user

    admin = make("admin", is_superuser=True)
    agent = make("agent")
    agent.user_permissions.set(permissions(*AGENT_PERMISSIONS))
    viewer = make("viewer")
    viewer.user_permissions.set(
        permissions(*(p for p in AGENT_PERMISSIONS if p != "laaffic_recall.cancel_recalltask"))
    )
    return E2EUsers(admin=admin, agent=agent, viewer=viewer)


@pytest.fixture
def page(browser, e2e_site, request) -> Iterator:
    context = browser.new_context(base_url=e2e_site.url, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        try:
            screenshot(page, artifact_name(request))
        finally:
            context.close()


@pytest.fixture(params=list(WIDTHS))
def width(request, page) -> str:
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[request.param], strict=True)))
    return request.param


@pytest.fixture
def login() -> Callable:
    def login(page, username: str, password: str | None = None) -> None:
        page.goto("/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password or username)
        page.click("input[type=submit]")
        page.wait_for_selector("#user-tools")

    return login


@pytest.fixture
def sandbox_calls() -> Callable:
    return calls_received
