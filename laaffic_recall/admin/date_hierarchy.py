"""The change list's date drill-down ("2025 2026", then months, then days) without reading
every row.

Django lists the years, months or days that have rows with a ``SELECT DISTINCT`` of the
truncated date over every matching row: on a million audit rows that is most of a second
(on SQLite a Python function call per row). Here the periods are those between the first
and the last matching row, read from the date's index; a period inside that span with no
row is listed too, and opens an empty list.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, cast

from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.db.models import Max, Min
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.admin.views.main import ChangeList


def spanned_periods(first: date, last: date, kind: str) -> list[date]:
    """The first day of each year, month or day from ``first`` to ``last``, in order."""
    periods = []
    if kind == "year":
        return [date(year, 1, 1) for year in range(first.year, last.year + 1)]
    if kind == "month":
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            periods.append(date(year, month, 1))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return periods
    return [date.fromordinal(day) for day in range(first.toordinal(), last.toordinal() + 1)]


def local_date(value: date | datetime) -> date:
    if isinstance(value, datetime):
        return (timezone.localtime(value) if timezone.is_aware(value) else value).date()
    return value


class SpanQuerySet:
    """Stands in for the change list's queryset inside Django's ``date_hierarchy``: its
    ``aggregate`` is the real one, its ``dates``/``datetimes`` the spanned periods."""

    def __init__(self, queryset, field_name: str, many: bool):
        self.queryset = queryset
        self.field_name = field_name
        self.many = many
        self.span: dict[str, Any] | None = None

    def aggregate(self, **expressions) -> dict:
        """Django's first and last dates, read once. Of many rows, as the first match each
        way along the date's index, which stops early (SQLite reads every row for a ``MIN``
        and a ``MAX`` in one query); of a few, in one pass over the rows that match."""
        if self.span is None:
            if not self.many:
                self.span = self.queryset.aggregate(**expressions)
            else:
                dates = self.queryset.exclude(**{f"{self.field_name}__isnull": True})
                dates = dates.values_list(self.field_name, flat=True)
                self.span = {
                    "first": dates.order_by(self.field_name).first(),
                    "last": dates.order_by(f"-{self.field_name}").first(),
                }
        return self.span

    def datetimes(self, field_name: str, kind: str) -> list[date]:
        span = self.aggregate(first=Min(field_name), last=Max(field_name))
        if span["first"] is None:
            return []
        first, last = local_date(span["first"]), local_date(span["last"])
        return spanned_periods(first, last, kind)

    dates = datetimes


class SpanChangeList:
    """The change list as ``date_hierarchy`` reads it, with ``SpanQuerySet`` for its rows."""

    def __init__(self, cl):
        self._cl = cl
        many = cl.paginator.count_kind != "exact" or not cl.queryset.query.has_filters()
        self.queryset = SpanQuerySet(cl.queryset, cl.date_hierarchy, many)

    def __getattr__(self, name):
        return getattr(self._cl, name)


def spanned_date_hierarchy(cl) -> dict | None:
    """Django's ``date_hierarchy`` context, its periods spanned rather than selected."""
    return date_hierarchy(cast("ChangeList", SpanChangeList(cl)))
