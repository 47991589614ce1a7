"""How the admin shows statuses, outcomes and raw JSON: one place for every page.

The colours are classes of ``static/laaffic_recall/admin.css``, which every admin of the
app loads.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.utils.html import format_html
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from ..client.printable import printable
from ..models import CancelAttempt, CancelType, Outcome, Status

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

CSS = "laaffic_recall/admin.css"

STATUS_CLASSES: dict[int, str] = {
    Status.PENDING: "pending",
    Status.IN_PROGRESS: "in-progress",
    Status.COMPLETED: "completed",
    Status.CANCELLED: "cancelled",
    Status.EXCEPTION: "exception",
}
SHORT_TYPES: dict[int, StrOrPromise] = {
    CancelType.TASK: _("task"),
    CancelType.PARENT: _("parent"),
    CancelType.NODE: _("from node"),
}
SHORT_OUTCOMES: dict[str, StrOrPromise] = {
    Outcome.PENDING: _("In flight"),
    Outcome.SKIPPED: _("Skipped"),
    Outcome.SUCCEEDED: _("Succeeded"),
    Outcome.REFUSED: _("Refused"),
    Outcome.FAILED: _("Failed"),
    Outcome.UNKNOWN: _("Unknown"),
}


def status_css(value: int | None) -> str:
    """The CSS class suffix of a status ("unknown" for a value LAAFFIC has not documented)."""
    return "unknown" if value is None else STATUS_CLASSES.get(value, "unknown")


def status_badge(value: int | None) -> str:
    """A task's or node's status as a coloured badge."""
    return _status_badge(value, get_language())


@lru_cache(maxsize=256)
def _status_badge(value: int | None, language: str | None) -> str:
    """The badge of ``value`` in ``language`` (the active one): a list of 100 tasks shows
    a handful of badges, each many times."""
    label: StrOrPromise
    if value in STATUS_CLASSES:
        label = Status(value).label
    elif value is None:  # a row no longer there, or a status LAAFFIC did not give
        label = gettext("Unknown")
    else:
        label = gettext("Unknown (%(code)s)") % {"code": value}
    return format_html(
        '<span class="laaffic-status laaffic-status-{}">{}</span>', status_css(value), label
    )


def outcome_badge(attempt: CancelAttempt) -> str:
    """An attempt's outcome as shown (a stale pending row as unknown), short, coloured."""
    outcome = attempt.effective_outcome
    return format_html(
        '<span class="laaffic-outcome laaffic-outcome-{}" title="{}">{}</span>',
        outcome,
        attempt.get_effective_outcome_display(),
        SHORT_OUTCOMES.get(outcome, outcome),
    )


def pretty_json(value: Any) -> str:
    """JSON indented for reading, HTML-escaped, control and bidi characters as escapes."""
    if value is None:
        return "-"
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre class="laaffic-json">{}</pre>', printable(text))
