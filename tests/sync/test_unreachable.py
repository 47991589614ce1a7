"""``laaffic_sync`` when nothing answers at the base URL (a real refused loopback port): it
stops at its first call and says where it looked and how to point a shell elsewhere; the
bundled site, on its sandbox, names LAAFFIC_SANDBOX_URL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models.signals import post_save

from laaffic_recall.client.errors import TransportError
from laaffic_recall.conf import get_client
from laaffic_recall.models import SyncRun

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nothing_there(laaffic_settings) -> str:
    url = f"http://127.0.0.1:{closed_port()}/sandbox"
    laaffic_settings.update(BASE_URL=url, RETRY_BACKOFF=0)
    return url


def test_the_client_says_a_refused_connection_is_one(nothing_there):
    with pytest.raises(TransportError) as caught, get_client(read_retries=0) as client:
        client.query_detail(12)
    assert caught.value.refused is True and caught.value.sent is False
    assert "nothing answers at 127.0.0.1:" in str(caught.value)
    assert "(connection refused)" in str(caught.value)


def test_a_sync_stops_at_its_first_refused_call_and_says_where_it_looked(nothing_there):
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("laaffic_sync", "--days", "30", stdout=out, stderr=err)

    text = str(caught.value)
    assert text.startswith(f"Nothing answers at {nothing_there} (connection refused)")
    assert "LAAFFIC_RECALL['BASE_URL'] (LAAFFIC_BASE_URL in the bundled site)" in text
    assert "failures" not in text  # not 30 windows' worth of the same failure
    run = SyncRun.objects.get()
    assert "connection refused" in run.error and run.pages_fetched == 0


def test_the_hint_is_the_sites_own_when_it_gives_one(nothing_there, laaffic_settings):
    laaffic_settings["UNREACHABLE_HINT"] = "Start the tunnel first."
    with pytest.raises(CommandError) as caught:
        call_command("laaffic_sync", "--days", "1", stdout=StringIO(), stderr=StringIO())
    assert str(caught.value).endswith(
        "(connection refused), so nothing was synced. Start the tunnel first."
    )


def test_a_sync_loop_records_the_refusal_and_goes_on(nothing_there):
    stop, err = threading.Event(), StringIO()

    def after_run(sender, instance, **kwargs):
        if instance.finished_at is not None and SyncRun.objects.count() >= 2:
            stop.set()

    post_save.connect(after_run, sender=SyncRun)
    try:
        call_command(
            "laaffic_sync",
            "--every",
            "0.01",
            "--days",
            "1",
            stdout=StringIO(),
            stderr=err,
            stop_event=stop,
        )
    finally:
        post_save.disconnect(after_run, sender=SyncRun)

    assert SyncRun.objects.count() == 2
    assert all("connection refused" in run.error for run in SyncRun.objects.all())
    assert err.getvalue().count(f"Nothing answers at {nothing_there}") == 2


@pytest.mark.slow  # manage.py in fresh interpreters
@pytest.mark.skipif(
    (ROOT / ".env").exists(), reason="a local .env would override the environment under test"
)
def test_a_second_shell_of_the_bundled_site_is_told_about_laaffic_sandbox_url(tmp_path):
    """As after ``laaffic_demo --addrport 127.0.0.1:8142`` with a second shell that was not
    pointed at it: the bundled site on its sandbox, at an address where nothing answers."""
    url = f"http://127.0.0.1:{closed_port()}/sandbox"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LAAFFIC_")}
    env = {
        **clean,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'second-shell.sqlite3'}",
        "LAAFFIC_SANDBOX_URL": url,
        "DJANGO_SETTINGS_MODULE": "project.settings",
    }

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert manage("migrate", "-v", "0").returncode == 0
    result = manage("laaffic_sync", "--days", "30")

    assert result.returncode == 1
    assert f"Nothing answers at {url} (connection refused), so nothing was synced." in result.stderr
    assert "No LAAFFIC sandbox runs there" in result.stderr
    assert "set LAAFFIC_SANDBOX_URL=http://HOST:PORT/sandbox in this shell" in result.stderr
    assert "Traceback" not in result.stderr
