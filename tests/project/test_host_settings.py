"""The app inside host projects whose settings differ from the bundled site's.

Each test writes a small host project (settings, URLconf, and sometimes an app of its own)
into a temporary directory and runs one scenario in a fresh interpreter, on the database
engine of this test run: a file in the temporary directory for SQLite, a throwaway
database for PostgreSQL. The scenarios below are plain functions that this module's
subprocess imports after ``django.setup()``; LAAFFIC is faked with ``responses``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "host-secret-do-not-leak"

BASE_SETTINGS = """
SECRET_KEY = "host-project-test-key-{key}"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "laaffic_recall",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "host_urls"
TEMPLATES = [
    {{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {{
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        }},
    }},
]
DATABASES = {{"default": {database}}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = {static_root!r}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LAAFFIC_RECALL = {{
    "API_KEY": "test-key",
    "API_SECRET": "test-secret-do-not-leak",
    "BASE_URL": "https://laaffic.test",
    "READ_RETRIES": 0,
    "RETRY_BACKOFF": 0,
    "AUDIT_CHAIN_KEY": "host-audit-chain-key",
}}
ADMIN_PREFIX = "admin/"
"""

URLS = """
from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [path(settings.ADMIN_PREFIX, admin.site.urls)]
if "laaffic_recall.sandbox" in settings.INSTALLED_APPS:
    urlpatterns.append(path(settings.SANDBOX_PREFIX, include("laaffic_recall.sandbox.urls")))
"""


def database_settings(tmp_path: Path) -> dict:
    """The engine of this test run: a new SQLite file, or a new PostgreSQL database that
    the subprocess creates and drops (Django's test database machinery, unique name)."""
    from django.conf import settings

    outer = settings.DATABASES["default"]
    if outer["ENGINE"] == "django.db.backends.sqlite3":
        return {"ENGINE": outer["ENGINE"], "NAME": str(tmp_path / "host.sqlite3")}
    keep = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    database = {key: outer[key] for key in keep if key in outer}
    database["TEST"] = {"NAME": f"laaffic_host_{uuid.uuid4().hex[:12]}"}
    return database


def write_host(tmp_path: Path, extra_settings: str = "", files: dict[str, str] | None = None):
    settings_text = BASE_SETTINGS.format(
        key=uuid.uuid4().hex,
        database=repr(database_settings(tmp_path)),
        static_root=str(tmp_path / "static"),
    )
    (tmp_path / "host_settings.py").write_text(settings_text + textwrap.dedent(extra_settings))
    (tmp_path / "host_urls.py").write_text(URLS)
    for name, text in (files or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


RUNNER = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.db import connection
from django.test.utils import setup_test_environment
setup_test_environment()
for app in getattr(settings, "HOST_OWN_APPS", []):
    from django.core.management import call_command
    call_command("makemigrations", app, verbosity=0)
# PostgreSQL: a throwaway database of a unique name; SQLite: the file, migrated.
test_db = bool(settings.DATABASES["default"]["TEST"].get("NAME"))
if test_db:
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
else:
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
try:
    from tests.project.test_host_settings import {scenario}
    result = {scenario}()
finally:
    if test_db:
        connection.creation.destroy_test_db(settings.DATABASES["default"]["NAME"], verbosity=0)
print("RESULT " + json.dumps(result, default=str))
"""


def run_host(tmp_path: Path, scenario: str) -> dict:
    """Run ``scenario`` (a function of this module) in the host project; its result."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "host_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", RUNNER.format(scenario=scenario)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(lines[-1].removeprefix("RESULT "))


# --------------------------------------------------------------------------- scenarios
# Run in the subprocess, after django.setup() and migrate.


def fake_laaffic(rsps) -> dict:
    """queryPage/queryDetail from the shared fake, plus a cancel that obeys the rules."""
    from tests.support.fake_laaffic import FakeLaaffic
    from tests.support.vendor import api_url

    fake = FakeLaaffic(rsps)
    fake.add_task(501, nodes=3, created="2024-05-18 10:00:00", status=0)
    fake.tasks[501].nodes = [dict(n, nodeStatus=0) for n in fake.tasks[501].nodes]
    fake.add_task(502, nodes=2, created="2024-05-18 11:00:00", status=2)

    def cancel(request):
        body = json.loads(request.body)
        task = fake.tasks.get(body.get("id"))
        fake.calls.append(("cancel", body))
        if body.get("type") == 1 and task is not None and task.status == 0:
            task.status = 3
            task.nodes = [dict(n, nodeStatus=3) for n in task.nodes]
            return fake._answer(0, "success", None)
        return fake._answer(-22, "task is not pending", None)

    rsps.add_callback("POST", api_url("cancel"), callback=cancel)
    return {"fake": fake}


JUNK = ("%(", "{{", "{%", "Traceback", "test-secret-do-not-leak")


def admin_round_trip(web, admin_prefix: str = "/admin/", pending_key: int = 501) -> dict:
    """Load every page of the app as a superuser, then cancel every task from the list."""
    from django.urls import reverse

    from laaffic_recall.models import CancelAttempt, RecallNode, RecallTask

    pending = RecallTask.objects.get(key_id=pending_key)
    node = RecallNode.objects.filter(task=pending).order_by("position").last()
    attempt_list = reverse("admin:laaffic_recall_cancelattempt_changelist")
    task_list = reverse("admin:laaffic_recall_recalltask_changelist")
    pages = {
        "task list": task_list,
        "task list filtered": task_list + "?status__exact=0&q=%23501",
        "task page": reverse("admin:laaffic_recall_recalltask_change", args=[pending.pk]),
        "node list": reverse("admin:laaffic_recall_recallnode_changelist"),
        "node page": reverse("admin:laaffic_recall_recallnode_change", args=[node.pk]),
        "audit list": attempt_list,
        "cancel task": reverse("admin:laaffic_recall_recalltask_cancel", args=[pending.pk]),
        "cancel from node": reverse(
            "admin:laaffic_recall_recalltask_cancel_from_node", args=[pending.pk, node.pk]
        ),
        "cancel by parent": reverse("admin:laaffic_recall_recalltask_cancel_by_parent"),
    }
    status, junk = {}, []
    for name, url in pages.items():
        response = web.get(url)
        status[name] = response.status_code
        junk += [(name, bit) for bit in JUNK if bit in response.content.decode()]
    selection = {
        "action": "cancel_tasks",
        "index": "0",
        "_selected_action": [str(pk) for pk in RecallTask.objects.values_list("pk", flat=True)],
    }
    confirmation = web.post(task_list, selection)
    status["cancel confirmation"] = confirmation.status_code
    done = web.post(task_list, {**selection, "post": "yes", "reason": "host"}, follow=True)
    status["cancel done"] = done.status_code
    junk += [("cancel done", bit) for bit in JUNK if bit in done.content.decode()]
    attempt = CancelAttempt.objects.filter(task=pending).first()
    status["audit page"] = web.get(
        reverse("admin:laaffic_recall_cancelattempt_change", args=[attempt.pk])
    ).status_code
    pending.refresh_from_db()
    return {
        "status": status,
        "under prefix": all(url.startswith(admin_prefix) for url in pages.values()),
        "junk": junk,
        "language": done.content.decode().split('lang="', 1)[-1][:2],
        "outcomes": sorted(CancelAttempt.objects.values_list("target_id", "outcome")),
        "task status": pending.status,
    }


def scenario_naive_datetimes() -> dict:
    """USE_TZ = False in New York, LAAFFIC in Shanghai: sync, admin pages, cancel."""
    from io import StringIO

    import responses
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from laaffic_recall.models import RecallTask

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = fake_laaffic(rsps)["fake"]
        out = StringIO()
        call_command("laaffic_sync", "--since", "2024-05-17", "--until", "2024-05-19", stdout=out)
        created = RecallTask.objects.get(key_id=501).created_at_remote
        web = Client()
        web.force_login(get_user_model().objects.create_superuser("boss", "b@example.com", "x"))
        result = admin_round_trip(web)
    return {
        **result,
        "created": created.isoformat(),
        "first window": fake.bodies("queryPage")[0]["params"]["strTime"],
        "summary": out.getvalue(),
    }


def scenario_typical_host() -> dict:
    """Custom user model, AutoField, ATOMIC_REQUESTS, German, admin under /backoffice/,
    the sandbox under a prefix of the host's choosing: every step a host project takes."""
    import re
    from concurrent.futures import ThreadPoolExecutor
    from io import StringIO

    import responses
    from django.contrib.auth import get_user_model
    from django.core import checks
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.db import connections
    from django.test import Client, override_settings

    from laaffic_recall.models import OPEN_OUTCOMES, CancelAttempt, RecallTask
    from laaffic_recall.sandbox.testing import Status, calls_received, create_task
    from laaffic_recall.sandbox.testing import recall_settings as sandbox_recall_settings
    from laaffic_recall.verify import verify_chain

    result = {}
    try:
        call_command(
            "makemigrations",
            "laaffic_recall",
            "laaffic_sandbox",
            check=True,
            dry_run=True,
            verbosity=0,
        )
        result["new migrations"] = False
    except SystemExit:
        result["new migrations"] = True
    result["check --deploy"] = sorted(
        m.id
        for m in checks.run_checks(include_deployment_checks=True)
        if m.id.startswith("laaffic")
    )
    call_command("collectstatic", interactive=False, verbosity=0)
    result["static"] = os.path.exists(
        os.path.join(settings_value("STATIC_ROOT"), "laaffic_recall", "admin.css")
    )

    pending = create_task([Status.PENDING] * 3, task_name="Renewals")
    create_task([Status.COMPLETED] * 2, task_name="Done")
    base = "http://testserver/" + settings_value("SANDBOX_PREFIX").rstrip("/")
    forward_client = Client()

    def serve(request):
        path = "/" + request.url.split("://", 1)[1].split("/", 1)[1]
        try:
            answer = forward_client.post(
                path,
                data=request.body,
                content_type="application/json",
                headers={k: request.headers[k] for k in ("Api-Key", "Timestamp", "Sign")},
            )
        finally:
            connections.close_all()
        return answer.status_code, {"Content-Type": answer["Content-Type"]}, answer.content

    def forward(request):
        # In a thread of its own, as a server would answer: its own database connection.
        with ThreadPoolExecutor(1) as server:
            return server.submit(serve, request).result()

    recall = sandbox_recall_settings(
        base,
        READ_RETRIES=0,
        API_SECRET="sandbox-demo-secret",
        AUDIT_CHAIN_KEY="host-audit-chain-key",
    )
    with (
        override_settings(LAAFFIC_RECALL=recall),
        responses.RequestsMock(assert_all_requests_are_fired=False) as rsps,
    ):
        rsps.add_callback("POST", re.compile(re.escape(base) + "/.*"), callback=forward)
        call_command("laaffic_sync", "--days", "1", stdout=StringIO(), stderr=StringIO())
        result["synced"] = RecallTask.objects.count()
        web = Client()
        web.force_login(get_user_model().objects.create_superuser("boss", "b@example.com", "x"))
        result.update(admin_round_trip(web, "/backoffice/", pending_key=pending.key_id))
        result["cancels sent"] = [c.body for c in calls_received("cancel")]
        result["pending key"] = pending.key_id
        report = verify_chain()
        finished = CancelAttempt.objects.exclude(outcome__in=list(OPEN_OUTCOMES)).count()
        result["chain"] = [report.ok, report.links == finished > 0]

    dump = StringIO()
    call_command("dumpdata", "laaffic_recall", stdout=dump)
    result["dump has secret"] = "sandbox-demo-secret" in dump.getvalue() or (
        "test-secret-do-not-leak" in dump.getvalue()
    )
    result["dumped"] = len(json.loads(dump.getvalue()))
    with override_settings(LAAFFIC_RECALL={}):
        try:
            call_command("laaffic_sync", stdout=StringIO(), stderr=StringIO())
            result["no credentials"] = "ran"
        except CommandError as exc:
            result["no credentials"] = str(exc)
    return result


def settings_value(name: str):
    from django.conf import settings

    return getattr(settings, name)


# --------------------------------------------------------------------------- tests

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ALL_PAGES_OK = {
    name: 200
    for name in (
        "task list",
        "task list filtered",
        "task page",
        "node list",
        "node page",
        "audit list",
        "cancel task",
        "cancel from node",
        "cancel by parent",
        "cancel confirmation",
        "cancel done",
        "audit page",
    )
}


def test_a_host_with_use_tz_false_syncs_shows_and_cancels_in_its_local_time(tmp_path):
    write_host(
        tmp_path,
        """
        USE_TZ = False
        TIME_ZONE = "America/New_York"
        LAAFFIC_RECALL["REMOTE_TIMEZONE"] = "Asia/Shanghai"
        """,
    )

    result = run_host(tmp_path, "scenario_naive_datetimes")

    # 10:00 in Shanghai (UTC+8) is 22:00 the day before in New York (UTC-4 in May),
    # stored naive, as a USE_TZ = False project stores every time.
    assert result["created"] == "2024-05-17T22:00:00"
    # --since 2024-05-17 means midnight in New York: noon in Shanghai.
    assert result["first window"] == "2024-05-17 12:00:00"
    assert "Tasks: 2 seen, 2 created, 0 updated." in result["summary"]
    assert result["status"] == ALL_PAGES_OK
    assert result["outcomes"] == [[501, "succeeded"], [502, "skipped"]]
    assert result["task status"] == 3


ACCOUNTS = {
    "accounts/__init__.py": "",
    "accounts/migrations/__init__.py": "",
    "accounts/models.py": """
        from django.contrib.auth.models import AbstractUser
        from django.db import models


        class User(AbstractUser):
            display_name = models.CharField(max_length=100, blank=True)
    """,
}


@pytest.mark.parametrize("use_tz", [True, False], ids=["USE_TZ", "naive"])
def test_a_typical_host_project_takes_the_app_and_its_sandbox_without_surprises(tmp_path, use_tz):
    write_host(
        tmp_path,
        f"""
        INSTALLED_APPS += ["accounts", "laaffic_recall.sandbox"]
        HOST_OWN_APPS = ["accounts"]
        AUTH_USER_MODEL = "accounts.User"
        DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
        DATABASES["default"]["ATOMIC_REQUESTS"] = True
        LANGUAGE_CODE = "de"
        TIME_ZONE = "Asia/Shanghai"
        USE_TZ = {use_tz}
        ADMIN_PREFIX = "backoffice/"
        SANDBOX_PREFIX = "vendor-stub/laaffic/"
        # The site calls its own sandbox while it writes: on SQLite, as the bundled site
        # does, take the write lock when a transaction starts and wait for it.
        if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
            DATABASES["default"]["OPTIONS"] = {{"transaction_mode": "IMMEDIATE", "timeout": 20}}
        LAAFFIC_SANDBOX = {{"API_SECRET": "sandbox-demo-secret"}}
        """,
        ACCOUNTS,
    )

    result = run_host(tmp_path, "scenario_typical_host")

    assert result["new migrations"] is False
    assert result["check --deploy"] == []
    assert result["chain"] == [True, True]
    assert result["static"] is True
    assert result["synced"] == 2
    assert result["status"] == ALL_PAGES_OK
    assert result["under prefix"] is True
    assert result["junk"] == []
    assert result["language"] == "de"
    assert result["cancels sent"] == [{"type": 1, "id": result["pending key"]}]
    assert result["task status"] == 3
    assert result["dumped"] > 2
    assert result["dump has secret"] is False
    assert "LAAFFIC_RECALL['API_KEY']" in result["no credentials"]
