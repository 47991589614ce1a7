"""How statuses look in the admin: one CSS class per status, shared by every page."""

from __future__ import annotations

from ..models import Status

STATUS_CLASSES = {
    Status.PENDING: "pending",
    Status.IN_PROGRESS: "in-progress",
    Status.COMPLETED: "completed",
    Status.CANCELLED: "cancelled",
    Status.EXCEPTION: "exception",
}


def status_css(value: int | None) -> str:
    """The CSS class suffix of a status ("unknown" for a value LAAFFIC has not documented)."""
    return STATUS_CLASSES.get(value, "unknown")
