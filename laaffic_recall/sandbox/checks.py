"""System check of the sandbox: a SQLite site that serves it needs write locks that wait."""

from __future__ import annotations

from django.core.checks import Tags, Warning, register
from django.db import connections, router

SQLITE_OPTIONS = '{"transaction_mode": "IMMEDIATE", "timeout": 20}'


def sqlite_lock_problem(vendor: str, options: dict) -> list[Warning]:
    """A warning when the sandbox's database is SQLite with Django's default transactions.

    A site that serves its own sandbox writes (a sync, a cancel) while it waits for the
    sandbox's answer, and the sandbox writes its call log: with deferred transactions one
    of them fails at once with "database is locked" instead of waiting.
    """
    if vendor != "sqlite":
        return []
    if str(options.get("transaction_mode") or "").upper() == "IMMEDIATE":
        return []
    return [
        Warning(
            "The LAAFFIC sandbox runs on SQLite with deferred transactions: a sync or a "
            "cancel against it can fail with 'database is locked'.",
            hint=f"Set the database's OPTIONS to {SQLITE_OPTIONS}, as the bundled site does.",
            id="laaffic_sandbox.W001",
        )
    ]


@register(Tags.compatibility)
def check_sqlite_locks(app_configs=None, **kwargs) -> list[Warning]:
    from .models import SandboxCall

    connection = connections[router.db_for_write(SandboxCall)]  # settings only; no query
    return sqlite_lock_problem(connection.vendor, connection.settings_dict.get("OPTIONS") or {})
