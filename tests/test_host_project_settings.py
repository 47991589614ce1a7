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

ROOT = Path(__file__).resolve().parent.parent
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
test_db = "TEST" in settings.DATABASES["default"]
if test_db:
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
else:
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
try:
    from tests.test_host_project_settings import {scenario}
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
    from laaffic_recall.client import PRODUCT_PATHS  # noqa: F401  (import check)
    from tests.conftest import api_url
    from tests.fixtures.fake_laaffic import FakeLaaffic

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


def admin_round_trip(web, admin_prefix: str = "/admin/") -> dict:
    """Load every page of the app as a superuser, then cancel both tasks from the list."""
    from django.urls import reverse

    from laaffic_recall.models import CancelAttempt, RecallNode, RecallTask

    pending = RecallTask.objects.get(key_id=501)
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
    status = {name: web.get(url).status_code for name, url in pages.items()}
    selection = {
        "action": "cancel_tasks",
        "index": "0",
        "_selected_action": [str(pk) for pk in RecallTask.objects.values_list("pk", flat=True)],
    }
    confirmation = web.post(task_list, selection)
    status["cancel confirmation"] = confirmation.status_code
    done = web.post(task_list, {**selection, "post": "yes", "reason": "host"}, follow=True)
    status["cancel done"] = done.status_code
    attempt = CancelAttempt.objects.filter(task=pending).first()
    status["audit page"] = web.get(
        reverse("admin:laaffic_recall_cancelattempt_change", args=[attempt.pk])
    ).status_code
    pending.refresh_from_db()
    return {
        "status": status,
        "under prefix": all(url.startswith(admin_prefix) for url in pages.values()),
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


# --------------------------------------------------------------------------- tests

pytestmark = pytest.mark.django_db

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
