"""The one-command demo (without its server), the SANDBOX badge, the bundled site's two
modes, and that the main app never imports the sandbox."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError
from django.db.models.signals import post_save

from laaffic_recall.models import CancelAttempt, RecallNode, RecallTask, SyncRun, SyncTrigger
from laaffic_recall.sandbox.demo import (
    demo_mark,
    follow_sandbox,
    is_loopback,
    local_server,
    recall_base_url,
    sandbox_prefix,
)
from laaffic_recall.sandbox.models import SandboxNode, SandboxTask
from laaffic_recall.sandbox.state import tick
from laaffic_recall.sandbox.testing import recall_settings
from tests.support.sandbox import demo

pytestmark = pytest.mark.slow  # the demo, and the bundled site in fresh interpreters

ROOT = Path(__file__).resolve().parents[2]
AGENT_PERMISSIONS = {
    "laaffic_recall.view_recalltask",
    "laaffic_recall.view_recallnode",
    "laaffic_recall.view_cancelattempt",
    "laaffic_recall.cancel_recalltask",
}


@pytest.fixture
def sandbox_mode(settings):
    """The site's LAAFFIC_RECALL carries the sandbox's credentials, as without a real key."""
    settings.LAAFFIC_SANDBOX = {"API_KEY": "demo-key", "API_SECRET": "demo-secret"}
    settings.LAAFFIC_RECALL = recall_settings("http://127.0.0.1:8000/sandbox", RETRY_BACKOFF=0)
    return settings


@pytest.mark.django_db(transaction=True)
def test_demo_seeds_creates_logins_and_syncs_from_the_sandbox(sandbox_mode):
    output = demo("--tasks", "25", "--seed", "5")
    assert SandboxTask.objects.count() == 25
    # Synced over real HTTP from the sandbox into the app's mirror.
    assert set(RecallTask.objects.values_list("key_id", "status")) == set(
        SandboxTask.objects.values_list("key_id", "status")
    )
    assert RecallNode.objects.count() == SandboxNode.objects.count()
    assert RecallTask.objects.exclude(task_name="").count() == 25
    users = get_user_model().objects
    admin, agent = users.get(username="admin"), users.get(username="agent")
    assert admin.is_superuser and admin.is_staff and admin.check_password("admin")
    assert agent.is_staff and not agent.is_superuser and agent.check_password("agent")
    assert agent.get_all_permissions() == AGENT_PERMISSIONS
    assert "admin / password admin" in output and "agent / password agent" in output
    assert "http://127.0.0.1:8000/admin/" in output
    # The served admin will talk to the sandbox it serves.
    assert sandbox_mode.LAAFFIC_RECALL["BASE_URL"] == "http://127.0.0.1:8000/sandbox"


@pytest.mark.django_db(transaction=True)
def test_demo_again_keeps_the_data_and_resets_the_logins(sandbox_mode):
    demo("--tasks", "6", "--no-sync")
    agent = get_user_model().objects.get(username="agent")
    agent.set_password("changed")
    agent.user_permissions.clear()
    agent.save()
    keys = set(SandboxTask.objects.values_list("key_id", flat=True))
    output = demo("--tasks", "9", "--no-sync")
    assert "not seeded again" in output
    assert set(SandboxTask.objects.values_list("key_id", flat=True)) == keys
    agent.refresh_from_db()
    assert agent.check_password("agent")
    assert get_user_model().objects.get(pk=agent.pk).get_all_permissions() == AGENT_PERMISSIONS
    assert not RecallTask.objects.exists()  # --no-sync


@pytest.mark.django_db(transaction=True)
def test_the_demo_sync_loop_follows_the_sandbox_by_itself(sandbox_mode):
    """The loop the demo runs beside its server, driven here in this thread and stopped
    after its second run, so nothing else races it: after the sandbox moves on between
    two runs, the mirror shows the same as the sandbox."""
    demo("--tasks", "20", "--seed", "7")
    ran, stop = [], threading.Event()

    def after_run(sender, instance, **kwargs):
        if instance.trigger != SyncTrigger.SCHEDULE or instance.finished_at is None:
            return
        ran.append(instance.pk)
        if len(ran) == 1:
            assert tick(fraction=1.0, rng=random.Random(3)).advanced > 0
        else:
            stop.set()

    post_save.connect(after_run, sender=SyncRun)
    try:
        with local_server() as url, recall_base_url(url + sandbox_prefix()):
            follow_sandbox(0.01, 30, stop)
    finally:
        post_save.disconnect(after_run, sender=SyncRun)

    assert len(ran) == 2
    assert SyncRun.objects.get(pk=ran[1]).ok
    assert set(RecallTask.objects.values_list("key_id", "status")) == set(
        SandboxTask.objects.values_list("key_id", "status")
    )
    assert set(RecallNode.objects.values_list("key_id", "status")) == set(
        SandboxNode.objects.values_list("key_id", "status")
    )


def test_the_demo_runs_no_sync_loop_when_it_does_not_serve():
    """``--no-serve`` (all the tests above) starts no loop that could race them."""
    assert "laaffic-demo-sync" not in {t.name for t in threading.enumerate()}


@pytest.mark.django_db(transaction=True)
def test_demo_points_the_site_at_its_own_address(sandbox_mode):
    output = demo("--tasks", "0", "--no-sync", "--addrport", "0.0.0.0:9123")
    assert sandbox_mode.LAAFFIC_RECALL["BASE_URL"] == "http://127.0.0.1:9123/sandbox"
    assert "http://127.0.0.1:9123/admin/" in output


@pytest.mark.django_db
def test_demo_rejects_a_bad_addrport(sandbox_mode):
    with pytest.raises(CommandError):
        demo("--addrport", "localhost:http")


@pytest.mark.django_db(transaction=True)
def test_demo_with_real_credentials_seeds_nothing_and_calls_nothing(settings, mocked_api):
    # The autouse settings are real-looking credentials for https://laaffic.test.
    output = demo("--tasks", "10")
    assert not SandboxTask.objects.exists()
    assert not get_user_model().objects.exists()
    assert not RecallTask.objects.exists()
    assert not CancelAttempt.objects.exists()  # no demo cancels on a real API key
    assert len(mocked_api.calls) == 0
    assert "Real LAAFFIC credentials" in output
    assert settings.LAAFFIC_RECALL["BASE_URL"] == "https://laaffic.test"


@pytest.mark.django_db(transaction=True)
def test_demo_refuses_a_database_that_holds_other_users(sandbox_mode):
    real = get_user_model().objects.create_user("ops-lead", password="their-own")
    with pytest.raises(CommandError) as info:
        demo("--tasks", "5", "--no-sync")
    message = str(info.value)
    assert "1 other user" in message and "--reset-demo-logins" in message
    assert "Nothing was changed" in message
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["ops-lead"]
    assert not SandboxTask.objects.exists()
    real.refresh_from_db()
    assert real.check_password("their-own")


@pytest.mark.django_db(transaction=True)
def test_demo_resets_its_logins_beside_other_users_only_when_told(sandbox_mode):
    get_user_model().objects.create_user("ops-lead", password="their-own")
    demo("--tasks", "3", "--no-sync", "--reset-demo-logins")
    users = get_user_model().objects
    assert users.get(username="admin").check_password("admin")
    assert users.get(username="ops-lead").check_password("their-own")
    assert SandboxTask.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_demo_on_a_non_loopback_bind_gives_random_passwords(sandbox_mode):
    output = demo("--tasks", "0", "--no-sync", "--addrport", "0.0.0.0:9123")
    users = get_user_model().objects
    admin, agent = users.get(username="admin"), users.get(username="agent")
    assert not admin.check_password("admin") and not agent.check_password("agent")
    printed = dict(re.findall(r"login (\w+) / password (\S+)", output))
    assert set(printed) == {"admin", "agent"}
    assert admin.check_password(printed["admin"]) and agent.check_password(printed["agent"])


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.5", True),
        ("localhost", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("0", False),
        ("[::]", False),
        ("192.168.1.4", False),
        ("demo.example.com", False),
    ],
)
def test_which_binds_count_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("debug", "secret_key", "warned"),
    [
        (False, "a-real-production-key-0123456789", True),
        (True, "a-real-production-key-0123456789", False),
        (False, "django-insecure-laaffic-recall-development-only", False),
    ],
)
def test_demo_says_loudly_when_it_switches_a_deployed_looking_site(
    sandbox_mode, debug, secret_key, warned
):
    sandbox_mode.DEBUG, sandbox_mode.SECRET_KEY = debug, secret_key
    output = demo("--tasks", "0", "--no-sync")
    assert ("switching THIS site into sandbox mode" in output) is warned


# --------------------------------------------------------------------- the admin header


@pytest.mark.django_db
def test_admin_header_shows_the_sandbox_badge_only_on_the_sandbox(client, settings, sandbox_mode):
    page = client.get("/admin/login/").content.decode()
    assert 'id="laaffic-sandbox-badge"' in page
    assert "<title>[SANDBOX]" in page
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "API_SECRET": "a-real-secret"}
    page = client.get("/admin/login/").content.decode()
    assert "laaffic-sandbox-badge" not in page and "SANDBOX" not in page


# --------------------------------------------------------------------- the bundled settings


def bundled_settings(**env) -> dict:
    code = (
        "import json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'project.settings'\n"
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from django.urls import Resolver404, resolve\n"
        "try:\n"
        "    served = bool(resolve('/sandbox/voice/recallFlow/queryPage'))\n"
        "except Resolver404:\n"
        "    served = False\n"
        "print(json.dumps({'recall': settings.LAAFFIC_RECALL,"
        " 'sandbox': settings.LAAFFIC_SANDBOX,"
        " 'served': served,"
        " 'apps': settings.INSTALLED_APPS}, default=str))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LAAFFIC_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


no_dotenv = pytest.mark.skipif(
    (ROOT / ".env").exists(), reason="a local .env would override the environment under test"
)


@no_dotenv
def test_bundled_site_uses_the_sandbox_without_an_api_key():
    values = bundled_settings()
    recall, sandbox = values["recall"], values["sandbox"]
    assert "laaffic_recall.sandbox" in values["apps"]
    assert (recall["API_KEY"], recall["API_SECRET"]) == (sandbox["API_KEY"], sandbox["API_SECRET"])
    assert recall["BASE_URL"] == "http://127.0.0.1:8000/sandbox"
    assert values["served"] is True


@no_dotenv
def test_bundled_site_uses_the_real_api_when_configured():
    values = bundled_settings(
        LAAFFIC_API_KEY="real-key",
        LAAFFIC_API_SECRET="real-secret",
        LAAFFIC_BASE_URL="https://api.example-brand.com",
    )
    recall = values["recall"]
    assert (recall["API_KEY"], recall["API_SECRET"], recall["BASE_URL"]) == (
        "real-key",
        "real-secret",
        "https://api.example-brand.com",
    )
    # A site on the real API does not expose the stand-in and its public demo key.
    assert values["served"] is False


# --------------------------------------------------------------------- layering


def test_the_main_app_never_imports_the_sandbox():
    pattern = re.compile(
        r"^\s*(?:(?:from|import)\s+(?:laaffic_recall\.sandbox|\.+sandbox)\b"
        r"|from\s+(?:laaffic_recall|\.+)\s+import\s+[^\n]*\bsandbox\b)",
        re.M,
    )
    package = ROOT / "laaffic_recall"
    offenders = [
        str(path.relative_to(ROOT))
        for path in package.rglob("*.py")
        if "sandbox" not in path.relative_to(package).parts
        and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.django_db
def test_the_badge_says_faults_on_while_a_fault_is_active(admin_client, sandbox_mode):
    from laaffic_recall.sandbox.models import SandboxFault

    def badge() -> str:
        page = admin_client.get("/admin/").content.decode()
        assert 'id="laaffic-sandbox-badge"' in page
        return page

    assert 'id="laaffic-sandbox-faults"' not in badge()
    fault = SandboxFault.objects.create(kind="html_502", enabled=True, remaining=1)
    page = badge()
    assert 'id="laaffic-sandbox-faults"' in page and ">faults on</a>" in page
    assert 'href="/admin/sandbox-faults/"' in page  # a page an agent may open
    SandboxFault.objects.filter(pk=fault.pk).update(remaining=0)  # spent: no longer fires
    assert 'id="laaffic-sandbox-faults"' not in badge()


@pytest.mark.django_db
def test_the_printed_hints_use_this_interpreter_and_this_address(sandbox_mode):
    output = demo("--tasks", "0", "--no-sync", "--addrport", "127.0.0.1:8142")
    assert "export LAAFFIC_SANDBOX_URL=http://127.0.0.1:8142/sandbox" in output
    assert f"{sys.executable} manage.py laaffic_sandbox_tick --steps 0" in output
    assert f"{sys.executable} manage.py laaffic_sync --days 30" in output
    assert ": python manage.py" not in output


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("username", ["admin", "agent"])
def test_demo_refuses_a_database_whose_only_user_is_a_real_one_named_like_a_demo_login(
    sandbox_mode, username
):
    real = get_user_model().objects.create_superuser(username, password="Str0ng-and-their-own")

    with pytest.raises(CommandError) as info:
        demo("--tasks", "3", "--no-sync")

    assert "1 other user" in str(info.value)
    assert list(get_user_model().objects.values_list("username", flat=True)) == [username]
    real.refresh_from_db()
    assert real.check_password("Str0ng-and-their-own") and real.is_superuser
    assert not SandboxTask.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_demo_recognises_only_the_logins_it_marked_itself(sandbox_mode):
    demo("--tasks", "3", "--no-sync")
    users = get_user_model().objects
    assert users.get(username="admin").email == demo_mark("admin")
    assert demo_mark("admin") != demo_mark("agent")

    demo("--tasks", "3", "--no-sync")  # its own logins: it goes on

    users.filter(username="agent").update(email="demo-login@laaffic-demo.invalid")
    with pytest.raises(CommandError):
        demo("--tasks", "3", "--no-sync")


@pytest.mark.django_db(transaction=True)
def test_demo_resets_a_real_admin_only_when_told(sandbox_mode):
    get_user_model().objects.create_superuser("admin", password="Str0ng-and-their-own")

    demo("--tasks", "3", "--no-sync", "--reset-demo-logins")

    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("admin") and admin.email == demo_mark("admin")
