"""Pieces of the one-command demo: demo logins, a short-lived local server, the first sync.

Used by ``manage.py laaffic_demo`` and by the browser tests' harness.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from io import StringIO
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import FieldDoesNotExist
from django.core.management import call_command
from django.core.servers.basehttp import (
    ThreadedWSGIServer,
    WSGIRequestHandler,
    get_internal_wsgi_application,
)
from django.db import connections
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import (
    CANCEL_PERMISSION,
    VIEW_ATTEMPTS_PERMISSION,
    VIEW_NODES_PERMISSION,
    VIEW_TASKS_PERMISSION,
)
from ..sync.runs import mirror_syncs, schedule_next

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

AGENT_PERMISSIONS = (
    VIEW_TASKS_PERMISSION,
    VIEW_NODES_PERMISSION,
    VIEW_ATTEMPTS_PERMISSION,
    CANCEL_PERMISSION,
)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: StrOrPromise


DEMO_MARK_SALT = "laaffic_recall.sandbox.demo-login"

DEMO_LOGINS = (
    DemoLogin("admin", "admin", gettext_lazy("superuser")),
    DemoLogin("agent", "agent", gettext_lazy("support agent: view and cancel only")),
)


def permissions(*names: str) -> list[Permission]:
    """Permission rows for ``app_label.codename`` names (all must exist: run migrate first)."""
    found = []
    for name in names:
        app_label, codename = name.split(".", 1)
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def demo_mark(username: str) -> str:
    """The mark the demo leaves on a login it made (in the user's email field): derived
    from ``SECRET_KEY``, so a real user neither carries it by chance nor can be given it
    without the key."""
    digest = salted_hmac(DEMO_MARK_SALT, username, algorithm="sha256").hexdigest()[:32]
    return f"demo-login-{digest}@laaffic-demo.invalid"


def _mark_field(user_model) -> str | None:
    """The user model's email field, where the demo marks its logins (None without one)."""
    name = user_model.get_email_field_name()
    try:
        user_model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return name


def other_users() -> int:
    """How many users the database holds besides the logins the demo made itself.

    The demo creates or resets ``admin``/``admin``: in a database with real users (a
    misconfigured production environment) that would open a superuser with a known
    password. A user named ``admin`` or ``agent`` that does not carry the demo's mark
    (``demo_mark``) is a real one.
    """
    user_model = get_user_model()
    connection = connections[user_model._default_manager.db]
    if user_model._meta.db_table not in connection.introspection.table_names():
        return 0  # not migrated yet: a fresh database
    users = user_model._default_manager.all()
    field = _mark_field(user_model)
    if field is None:
        return users.count()
    made_by_the_demo = Q()
    for login in DEMO_LOGINS:
        made_by_the_demo |= Q(
            **{user_model.USERNAME_FIELD: login.username, field: demo_mark(login.username)}
        )
    return users.exclude(made_by_the_demo).count()


def is_loopback(host: str) -> bool:
    """Whether a bind address is reachable from this machine only."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def random_passwords(logins: tuple[DemoLogin, ...]) -> tuple[DemoLogin, ...]:
    """The demo logins with fresh random passwords, for a site others can reach."""
    return tuple(replace(login, password=secrets.token_urlsafe(12)) for login in logins)


def ensure_demo_users(logins: tuple[DemoLogin, ...] = DEMO_LOGINS) -> tuple[DemoLogin, ...]:
    """Create or reset the demo superuser and the demo support agent (passwords included),
    each marked as the demo's own (``demo_mark``)."""
    user_model = get_user_model()
    field = _mark_field(user_model)
    admin_login, agent_login = logins
    admin, _created = user_model._default_manager.get_or_create(username=admin_login.username)
    admin.is_active = admin.is_staff = admin.is_superuser = True
    admin.set_password(admin_login.password)
    if field is not None:
        setattr(admin, field, demo_mark(admin_login.username))
    admin.save()
    agent, _created = user_model._default_manager.get_or_create(username=agent_login.username)
    agent.is_active = agent.is_staff = True
    agent.is_superuser = False
    agent.set_password(agent_login.password)
    if field is not None:
        setattr(agent, field, demo_mark(agent_login.username))
    agent.save()
    agent.user_permissions.set(permissions(*AGENT_PERMISSIONS))
    return logins


def sandbox_prefix() -> str:
    """The URL path under which the host's URLconf serves the sandbox, e.g. ``/sandbox``."""
    try:
        path = reverse("laaffic_sandbox:ai_agent-queryPage")
    except NoReverseMatch:
        raise LookupError(
            _("The sandbox is not in the URLconf: include laaffic_recall.sandbox.urls.")
        ) from None
    return path.removesuffix("/voice/recallFlow/queryPage")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


@contextmanager
def local_server(host: str = "127.0.0.1") -> Iterator[str]:
    """Serve this site on a free loopback port in a thread; yields its base URL.

    Lets the demo sync from its own sandbox over real HTTP before the dev server starts.
    Each request is served in its own thread on its own database connection, closed after
    the request: the server sees committed rows only, so use it outside a transaction,
    and on a database other connections can open (not an in-memory SQLite one).
    """
    server = ThreadedWSGIServer((host, 0), _QuietHandler, allow_reuse_address=False)
    server.set_app(get_internal_wsgi_application())
    thread = threading.Thread(target=server.serve_forever, name="laaffic-demo-server")
    thread.daemon = True
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def recall_base_url(base_url: str) -> Iterator[None]:
    """Point ``LAAFFIC_RECALL["BASE_URL"]`` at ``base_url`` for the duration."""
    original = settings.LAAFFIC_RECALL
    settings.LAAFFIC_RECALL = {**original, "BASE_URL": base_url}
    try:
        yield
    finally:
        settings.LAAFFIC_RECALL = original


@dataclass(frozen=True)
class SyncReport:
    ok: bool
    output: str


def sync_mirror(days: int = 30) -> SyncReport:
    """Mirror the last ``days`` days from the configured API with the app's own sync.

    Never raises for a failed sync: the demo goes on and shows what it got.
    """
    out, err = StringIO(), StringIO()
    try:
        call_command("laaffic_sync", "--days", str(days), stdout=out, stderr=err)
    except (Exception, SystemExit) as exc:  # the demo must still start
        err.write(f"{type(exc).__name__}: {exc}\n")
        return SyncReport(ok=False, output=out.getvalue() + err.getvalue())
    return SyncReport(ok=True, output=out.getvalue())


def follow_sandbox(every: float, days: int, stop: threading.Event) -> None:
    """``laaffic_sync --every`` over the last ``days`` days until ``stop`` is set: the
    demo's mirror follows the sandbox by itself. Only failures are printed."""
    call_command(
        "laaffic_sync", "--every", str(every), "--days", str(days), verbosity=0, stop_event=stop
    )


def start_following(every: float, days: int) -> tuple[threading.Thread, threading.Event]:
    """``follow_sandbox`` in a daemon thread beside the server, its first run one period
    from now (the demo has just synced): the demo's last sync says when, so the overview
    shows the next sync from the first second."""
    last = mirror_syncs().order_by("-started_at").first()
    if last is not None:
        schedule_next(last.started_at, timezone.now() + timedelta(seconds=every))
    stop = threading.Event()

    def run() -> None:
        if not stop.wait(every):
            try:
                follow_sandbox(every, days, stop)
            finally:
                connections.close_all()

    thread = threading.Thread(target=run, name="laaffic-demo-sync", daemon=True)
    thread.start()
    return thread, stop
