"""The change lists' search: an id compared as a number so that its index serves it, one
filter for all words, and a cap on the words and characters of a search."""

from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.admin.utils import lookup_spawns_duplicates
from django.db import models
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext

from ..client.wire import is_valid_id

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    _AdminBase = ModelAdmin[Any]
else:
    _AdminBase = object

# A search longer than this is cut (and the agent told): each word is a condition on every
# searched field, and a pasted list of keys is searched separately (``MAX_PASTED_IDS``).
MAX_SEARCH_WORDS = 20
MAX_SEARCH_CHARS = 500


def as_number(term: str) -> int | None:
    """``term`` as an id, if it is written as one (digits only, no leading zero)."""
    if not (term.isascii() and term.isdigit()) or str(int(term)) != term:
        return None
    return int(term) if is_valid_id(int(term)) else None


def number_path(model, spec: str) -> str | None:
    """The lookup path of a search field that names an integer column exactly
    (``key_id__exact``, ``=target_id``, ``task__key_id__exact``), else ``None``."""
    path = spec.removeprefix("=") if spec.startswith("=") else spec.removesuffix("__exact")
    if path == spec:
        return None
    opts, field = model._meta, None
    for part in path.split("__"):
        field = opts.get_field(part)
        if field.is_relation:
            opts = field.related_model._meta
    return path if isinstance(field, models.IntegerField | models.BigIntegerField) else None


def text_lookup(spec: str) -> str:
    if spec.startswith("^"):
        return f"{spec[1:]}__istartswith"
    if spec.startswith("="):
        return f"{spec[1:]}__iexact"
    return f"{spec}__icontains"


class NumberSearchMixin(_AdminBase):
    """Django compares an exact search of an integer field as text (``CAST(key_id AS
    text) = '131581'``, so that "abc" is no error), which no index serves: a search of one
    key then reads every row. Here such a field is compared as a number, and only with
    terms that are numbers; the other fields are searched as Django does (each term in
    some field, every term).

    A search made of numbers only is a search for ids: its numbers are not looked for
    inside the text fields, whose ``LIKE '%4521%'`` no B-tree serves (on SQLite, a read
    of every row). With a word beside it, or in quotes (``"4521"``), a number is looked
    for in the text fields too."""

    def get_search_results(self, request, queryset, search_term: str, *args, **kwargs):
        search_term = self.capped_search(request, search_term)
        specs = [str(spec) for spec in self.get_search_fields(request)]
        numbers = [path for spec in specs if (path := number_path(self.model, spec))]
        if not numbers or not search_term:
            return super().get_search_results(request, queryset, search_term, *args, **kwargs)
        texts = [text_lookup(spec) for spec in specs if not number_path(self.model, spec)]
        terms = [search_term_text(term) for term in smart_split(search_term)]
        ids_only = all(as_number(term) is not None and not quoted for term, quoted in terms)
        every_term = []
        for term, _quoted in terms:
            number = as_number(term)
            matches = models.Q(
                *((path, number) for path in numbers if number is not None),
                *(() if ids_only else ((lookup, term) for lookup in texts)),
                _connector=models.Q.OR,
            )
            if not matches:
                return queryset.none(), False
            every_term.append(matches)
        # One filter for all terms, as Django's own search does: a filter() per term
        # copies the growing condition each time.
        queryset = queryset.filter(models.Q(*every_term))
        lookups = numbers if ids_only else numbers + texts
        return queryset, any(lookup_spawns_duplicates(self.opts, path) for path in lookups)

    def capped_search(self, request, search_term: str) -> str:
        """The search cut to MAX_SEARCH_CHARS characters and MAX_SEARCH_WORDS words, with a
        message saying so: each word is a condition on every searched field."""
        words = list(islice(smart_split(search_term[:MAX_SEARCH_CHARS]), MAX_SEARCH_WORDS + 1))
        if len(search_term) <= MAX_SEARCH_CHARS and len(words) <= MAX_SEARCH_WORDS:
            return search_term
        self.message_user(
            request,
            gettext(
                "The search is too long: only its first %(words)d words (at most %(chars)d "
                "characters) were looked for."
            )
            % {"words": MAX_SEARCH_WORDS, "chars": MAX_SEARCH_CHARS},
            messages.WARNING,
        )
        return " ".join(words[:MAX_SEARCH_WORDS])


def search_term_text(term: str) -> tuple[str, bool]:
    """A term of the search box as typed, without its quotes, and whether it had them."""
    if term.startswith(('"', "'")) and term[0] == term[-1]:
        return unescape_string_literal(term), True
    return term, False
