"""Template filters of the app: ``{% load laaffic_recall %}``."""

from __future__ import annotations

from django import template

from ..client.printable import printable

register = template.Library()


# --------------------------------------------------------------------------- printable


@register.filter(name="printable")
def printable_filter(value):
    """Vendor text with control and bidi characters shown as visible escapes (``\\x1b``)."""
    if value is None:
        return value
    return printable(str(value))
