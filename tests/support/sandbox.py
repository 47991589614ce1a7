"""The sandbox in tests: short names of its statuses (for tables of statuses), and the demo."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from laaffic_recall.sandbox.testing import Status

P, R, C, X, E = (
    Status.PENDING,
    Status.IN_PROGRESS,
    Status.COMPLETED,
    Status.CANCELLED,
    Status.EXCEPTION,
)


def demo(*args: str) -> str:
    """``manage.py laaffic_demo --no-serve ARGS``: what it printed, stdout and stderr."""
    out = StringIO()
    call_command("laaffic_demo", "--no-serve", *args, stdout=out, stderr=out)
    return out.getvalue()
