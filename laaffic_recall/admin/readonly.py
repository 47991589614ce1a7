"""The base of every admin of the app: read-only, and a hand-edited query string of its
change list is never a 500.

Django turns most odd lookups into ``IncorrectLookupParameters`` (the list then reloads
without them), but not a year past 9999 or beyond a C long on any date field, a
duration that is not one, nor what the database itself refuses: an id beyond 64 bits
(SQLite), a broken ``__regex``, a JSON lookup the backend lacks, a NUL character. Those
end here the same way, as Django's own do; so does a POST selecting a row by a value that
is no id. The sandbox's admins use it too.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.db import DatabaseError, router
from django.http import HttpRequest, HttpResponseRedirect
from django.utils.html import format_html
from django.utils.translation import gettext

from ..client.wire import MAX_ID
from ..transactions import savepoint_if_nested
from .display import CSS
from .search import NumberSearchMixin


def is_pk(value: str) -> bool:
    """Whether a posted primary key can be looked up (the app's models have 64-bit keys)."""
    return value.isascii() and value.isdigit() and int(value) <= MAX_ID


class GuardedChangeList(ChangeList):
    """``ChangeList`` whose filters and first queries raise ``IncorrectLookupParameters``
    for every input error, so ``changelist_view`` redirects to the list with ``?e=1``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Each row's link carries the list's filters itself (url_for_result), so Django's
        # template tag does not resolve every row's URL to learn whether it is this list.
        self.row_filters, self.preserved_filters = self.preserved_filters, ""

    def url_for_result(self, result) -> str:
        url = super().url_for_result(result)
        return f"{url}?{self.row_filters}" if self.row_filters else url

    def get_filters(self, request, *args, **kwargs):
        try:
            return super().get_filters(request, *args, **kwargs)
        except (OverflowError, ValueError) as exc:  # the date hierarchy's datetime()
            raise IncorrectLookupParameters(exc) from exc

    def get_results(self, request, *args, **kwargs):
        try:
            with savepoint_if_nested(router.db_for_read(self.model)):
                super().get_results(request, *args, **kwargs)
        except (OverflowError, ValueError, TypeError, AttributeError, DatabaseError) as exc:
            # Raised while the query string's lookups are compiled or run: a year past
            # 9999 on any date field, a duration typed as text (SQLite), what the database
            # refuses. The rows themselves are rendered later, outside this guard.
            raise IncorrectLookupParameters(exc) from exc


class ReadOnlyAdmin(NumberSearchMixin, admin.ModelAdmin):
    """Nobody adds, changes or deletes rows here, superusers included: the mirror is
    LAAFFIC's truth and the audit log is append-only. Loads the app's stylesheet."""

    @property
    def media(self) -> forms.Media:
        return super().media + forms.Media(css={"all": [CSS]})

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_changelist(self, request: HttpRequest, *args, **kwargs):
        return GuardedChangeList

    def changelist_view(self, request: HttpRequest, *args, **kwargs):
        """A POST whose ``_selected_action`` holds a value that is no row id (``abc``,
        ``4.2``, an id beyond 64 bits) goes back to the list with a message, before Django
        would look it up (and fail on ``pk__in=["abc"]``)."""
        if request.method == "POST" and not all(
            is_pk(value) for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        ):
            self.message_user(
                request,
                gettext("The selection contains an invalid id; nothing was done."),
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, *args, **kwargs)

    def action_checkbox(self, obj):
        """Django's row checkbox, written directly: rendering a form widget through the
        template engine for each of 100 rows was a third of the list's time."""
        label = format_html(gettext("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )
