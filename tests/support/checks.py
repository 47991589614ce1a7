"""The system checks as a host runs them before its database exists."""

from __future__ import annotations

from django.core.checks import CheckMessage, run_checks


def checks_without_database(prefix: str) -> list[CheckMessage]:
    """The messages of every registered check whose id starts with ``prefix``.

    ``databases=[]`` keeps Django's model checks off the database: since Django 6.1 they
    ask every configured database about its features unless told otherwise, which needs a
    connection; the app's own checks must never need one.
    """
    return [m for m in run_checks(databases=[]) if m.id and m.id.startswith(prefix)]
