"""One clock for a test and the code it checks: ``django.utils.timezone.now`` stopped at
one instant, so "today" means the same day to both whenever the test runs (a midnight
between the test's reading and the page's cannot split them), and a test can pick the
instant: just after midnight, the 1st of a month, Feb 29.

What calls ``timezone.now()`` reads the stopped clock: the app, and Django's admin date
filters. A model field's ``default=timezone.now`` and ``timesince`` keep the running one,
so a test gives such fields their times itself.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def stop_clock(monkeypatch, at: datetime | None = None) -> datetime:
    """Stop ``timezone.now`` at ``at`` (default: the current instant) for this test."""
    when = timezone.now() if at is None else at
    monkeypatch.setattr(timezone, "now", lambda: when)
    return when
