"""Template tags of laaffic_recall: ``{% load laaffic_recall %}``."""

from __future__ import annotations

from datetime import timedelta
from inspect import signature

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext

from ..admin.date_hierarchy import spanned_date_hierarchy
from ..admin.display import status_badge
from ..admin.overview import Overview, overview
from ..client.printable import printable

register = template.Library()


# --------------------------------------------------------------------------- printable


@register.filter(name="printable")
def printable_filter(value):
    """Vendor text with control and bidi characters shown as visible escapes (``\\x1b``)."""
    if value is None:
        return value
    return printable(str(value))


# --------------------------------------------------------------------------- times


@register.filter
def ago(value):
    """How long ago ``value`` was, as a phrase: "13 minutes ago", and under a minute (or
    in the future, a clock running ahead) "less than a minute ago", never "0 minutes ago"."""
    if value is None:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return gettext("less than a minute ago")
    return gettext("%(time)s ago") % {"time": timesince(value)}


# --------------------------------------------------------------------------- statuses


@register.filter(name="status_badge")
def status_badge_filter(value):
    """A task's or node's status (its number) as the coloured badge every page shows:
    ``{{ task.status|status_badge }}`` (``admin/display.py``'s ``status_badge``)."""
    return status_badge(value)


# --------------------------------------------------------------------------- overview


@register.simple_tag(takes_context=True)
def laaffic_overview(context) -> Overview | None:
    """The admin overview for the current user (None without view permission on tasks),
    reversed on the admin site that renders the page."""
    request = context.get("request")
    if request is None:
        return None
    site = getattr(request, "current_app", None) or "admin"
    return overview(request, site)


# --------------------------------------------------------------------------- date hierarchy


@register.tag(name="laaffic_date_hierarchy")
def date_hierarchy_tag(parser, token):
    """``{% laaffic_date_hierarchy cl %}``: Django's date drill-down, from the first and
    last rows' dates (see ``admin/date_hierarchy.py``)."""
    return InclusionAdminNode(
        parser=parser,
        token=token,
        func=spanned_date_hierarchy,
        template_name="date_hierarchy.html",
        takes_context=False,
        **_TAG_NAME,
    )


# Django 6.1 gave InclusionAdminNode a leading ``name`` (for its error messages); 5.2 and 6.0
# have none. Passed by keyword where it exists, so the tag works on every supported Django.
_TAG_NAME = (
    {"name": "laaffic_date_hierarchy"}
    if "name" in signature(InclusionAdminNode.__init__).parameters
    else {}
)
