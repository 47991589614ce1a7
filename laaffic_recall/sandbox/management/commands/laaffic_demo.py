"""One command from a fresh checkout to a working admin with data, on the local sandbox."""

import os
import shlex
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ....management.base import TranslatedCommand
from ....models import Outcome
from ...conf import client_uses_sandbox
from ...demo import (
    DEMO_LOGINS,
    DemoLogin,
    ensure_demo_users,
    is_loopback,
    local_server,
    other_users,
    random_passwords,
    recall_base_url,
    sandbox_prefix,
    start_following,
    sync_mirror,
)
from ...demo_history import make_cancel_history
from ...models import SandboxTask
from ...seed import seed

DEFAULT_ADDRPORT = "127.0.0.1:8000"
# Django's own mark of a development key (``startproject`` writes one).
DEVELOPMENT_KEY_PREFIX = "django-insecure-"


def manage_py() -> str:
    """How this command was started: the path to manage.py as typed, else ``manage.py``."""
    script = sys.argv[0] if sys.argv else ""
    return script if os.path.basename(script) == "manage.py" else "manage.py"


def self_url(addrport: str) -> str:
    """The URL at which this site reaches itself once served on ``addrport``."""
    host, _sep, port = addrport.rpartition(":")
    if not port.isdigit():
        raise CommandError(_("--addrport must be PORT or HOST:PORT, not %r.") % addrport)
    if host in ("", "0", "0.0.0.0"):
        host = "127.0.0.1"
    elif host in ("[::]", "::"):
        host = "[::1]"
    return f"http://{host}:{port}"


class Command(TranslatedCommand):
    help = gettext_lazy(
        "Migrate, then (unless real LAAFFIC credentials are configured) seed the sandbox, "
        "create the demo logins, sync from the sandbox, and serve the site."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--addrport",
            default=DEFAULT_ADDRPORT,
            help=_("Where to serve the site (default %(default)s)."),
        )
        parser.add_argument("--noreload", action="store_true", help=_("No auto-reloader."))
        parser.add_argument("--no-sync", action="store_true", help=_("Skip the first sync."))
        parser.add_argument(
            "--no-serve", action="store_true", help=_("Set everything up, then exit.")
        )
        parser.add_argument(
            "--tasks", type=int, default=300, help=_("Tasks to seed an empty sandbox with.")
        )
        parser.add_argument(
            "--seed", type=int, default=2024, help=_("Random seed of the sandbox data.")
        )
        parser.add_argument("--days", type=int, default=30, help=_("Days the first sync covers."))
        parser.add_argument(
            "--reset-demo-logins",
            action="store_true",
            help=_("Create or reset the demo logins even though the database holds other users."),
        )
        parser.add_argument(
            "--sync-every",
            type=float,
            default=60,
            metavar="SECONDS",
            help=_("While serving, sync from the sandbox every SECONDS (default 60; 0: never)."),
        )

    def handle(
        self,
        *args,
        addrport,
        noreload,
        no_sync,
        no_serve,
        tasks,
        days,
        reset_demo_logins,
        sync_every,
        **options,
    ):
        url = self_url(addrport)
        sandbox = client_uses_sandbox()
        logins: tuple[DemoLogin, ...] = DEMO_LOGINS
        if sandbox:
            self.warn_if_production_like()
            if not is_loopback(addrport.rpartition(":")[0] or "127.0.0.1"):
                # Others can reach this site: no well-known passwords on it.
                logins = random_passwords(DEMO_LOGINS)
            # Cancels and refreshes from the served admin go to the sandbox it serves.
            settings.LAAFFIC_RECALL = {
                **settings.LAAFFIC_RECALL,
                "BASE_URL": url + sandbox_prefix(),
            }
        # The auto-reloader re-runs this command in a child process: only serve there.
        if os.environ.get(DJANGO_AUTORELOAD_ENV) != "true":
            if sandbox:
                self.refuse_a_database_with_users(reset_demo_logins)
            call_command("migrate", interactive=False, verbosity=0)
            if sandbox:
                self.set_up_sandbox(tasks, options["seed"], days, no_sync, logins)
            else:
                self.explain_real_api()
            self.print_logins(url, sandbox, logins)
        if no_serve:
            return
        serving_here = noreload or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true"
        if sandbox and sync_every > 0 and serving_here:
            # Beside the server that serves the sandbox (the reloader's child, if any).
            start_following(sync_every, days)
            self.stdout.write(
                _("The mirror follows the sandbox: a sync every %(seconds)s seconds.")
                % {"seconds": f"{sync_every:g}"}
            )
        call_command("runserver", addrport, use_reloader=not noreload)

    def warn_if_production_like(self) -> None:
        """Say loudly when a site that looks deployed is about to be put on the sandbox."""
        if settings.DEBUG or str(settings.SECRET_KEY).startswith(DEVELOPMENT_KEY_PREFIX):
            return
        self.stderr.write(
            self.style.ERROR(
                _(
                    "WARNING: DEBUG is off and SECRET_KEY is not a development key: this looks "
                    "like a deployed site. No LAAFFIC API key is configured, so laaffic_demo "
                    "is switching THIS site into sandbox mode: its admin will talk to the "
                    "local sandbox, not to LAAFFIC. Set LAAFFIC_API_KEY if that is not what "
                    "you want."
                )
            )
        )

    def refuse_a_database_with_users(self, reset_demo_logins: bool) -> None:
        """Stop before touching a database that holds real users, unless told to go on."""
        count = other_users()
        if count and not reset_demo_logins:
            raise CommandError(
                _(
                    "This database already holds %(count)d other user(s), so it may be a real "
                    "one: laaffic_demo would create or reset the demo logins (a superuser "
                    "with a known password) and seed the sandbox in it. Nothing was changed. "
                    "Use an empty database for the demo, or pass --reset-demo-logins if this "
                    "really is a demo database."
                )
                % {"count": count}
            )

    def set_up_sandbox(
        self,
        tasks: int,
        seed_value: int,
        days: int,
        no_sync: bool,
        logins: tuple[DemoLogin, ...],
    ) -> None:
        if SandboxTask.objects.exists():
            self.stdout.write(_("Sandbox already has data: not seeded again."))
        else:
            result = seed(tasks, seed=seed_value)
            self.stdout.write(
                _("Sandbox seeded with %(tasks)d tasks and %(nodes)d nodes.")
                % {"tasks": result.tasks, "nodes": result.nodes}
            )
        ensure_demo_users(logins)
        if no_sync:
            return
        self.stdout.write(_("Syncing the last %(days)d days from the sandbox...") % {"days": days})
        with local_server() as temporary, recall_base_url(temporary + sandbox_prefix()):
            report = sync_mirror(days)
            if report.ok:
                self.stdout.write(report.output.rstrip())
                self.make_history(logins[1].username)
            else:
                self.stderr.write(_("The first sync did not finish cleanly:"))
                self.stderr.write(report.output.rstrip())

    def make_history(self, username: str) -> None:
        """On a fresh audit log, a few real cancels of each outcome by the demo's agent."""
        history = make_cancel_history(username)
        if not history.attempts:
            return
        found = history.counts()
        counts = ", ".join(
            f"{label}: {found[value]}" for value, label in Outcome.choices if found[value]
        )
        self.stdout.write(
            _(
                "Earlier cancels for the audit log, made by %(username)s through the cancel "
                "service against the sandbox (faults switched on for a few, then off): "
                "%(counts)s."
            )
            % {"username": username, "counts": counts}
        )

    def explain_real_api(self) -> None:
        self.stdout.write(
            _(
                "Real LAAFFIC credentials are configured (%(url)s): nothing seeded, no demo "
                "logins. Create a login with `manage.py createsuperuser` and mirror tasks "
                "with `manage.py laaffic_sync`."
            )
            % {"url": settings.LAAFFIC_RECALL.get("BASE_URL", "")}
        )

    def print_logins(self, url: str, sandbox: bool, logins: tuple[DemoLogin, ...]) -> None:
        lines = ["", _("LAAFFIC recall admin: %(url)s/admin/") % {"url": url}]
        if sandbox:
            lines.append(_("Talking to the local LAAFFIC sandbox (demo data, nothing is real)."))
            for login in logins:
                lines.append(
                    _("  login %(username)s / password %(password)s  (%(role)s)")
                    % {"username": login.username, "password": login.password, "role": login.role}
                )
            # Commands for another shell, with the interpreter this one runs (a bare
            # "python" may be one without Django, outside the virtual environment).
            manage = f"{shlex.quote(sys.executable)} {shlex.quote(manage_py())}"
            lines.append(
                _("In another shell, point it at this sandbox first: %(command)s")
                % {"command": f"export LAAFFIC_SANDBOX_URL={shlex.quote(url + sandbox_prefix())}"}
            )
            lines.append(
                _("Sync now (another shell): %(command)s")
                % {"command": f"{manage} laaffic_sync --days 30"}
            )
            lines.append(
                _("Let time pass in the sandbox (another shell): %(command)s")
                % {
                    "command": f"{manage} laaffic_sandbox_tick --steps 0 --every 15 "
                    "--fraction 0.3 --new 1"
                }
            )
            lines.append(
                _("Inject faults: %(url)s/admin/laaffic_sandbox/sandboxfault/") % {"url": url}
            )
        self.stdout.write(self.style.SUCCESS("\n".join(lines)) + "\n")
