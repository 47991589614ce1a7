"""Read-only admin of the cancel audit log, with a streamed "Download CSV" action.

Nobody adds, changes or deletes attempts here, superusers included (the model refuses it
too); staff with the ``view`` permission read the list and each attempt's page.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, overload

from django.contrib import admin
from django.db.models import Case, F, Value, When
from django.http import HttpRequest, StreamingHttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..cancel.audit import narrows
from ..client.printable import printable
from ..client.wire import page_text
from ..models import (
    OPEN_OUTCOMES,
    CancelAttempt,
    CancelType,
    NotSent,
    Outcome,
    fits_code,
    stale_cutoff,
)
from ..verify import chain_state
from .display import SHORT_TYPES, outcome_badge
from .distinct import distinct_values
from .paginator import CappedCountPaginator
from .readonly import ReadOnlyAdmin
from .visibility import visible_tasks

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# What a spreadsheet evaluates when a cell starts with it: a formula (= + - @) or a DDE
# call (|), in ASCII or in a form NFKC folds to ASCII (full-width ＝, small ﹦, ...), and
# the minus sign U+2212 some spreadsheets read as -.
FORMULA_TRIGGERS = frozenset("=+-@|\u2212")
CSV_CHUNK = 500

# A spreadsheet reads "YYYY-MM-DD HH:MM:SS" as a date and time; the zone is in the header.
CSV_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# A vendor answer or an error detail is cut to this many characters (the row keeps it all).
CSV_EXCERPT_CHARS = 300


def yes_no(value: bool | None) -> str:
    """Yes or No in the agent's language; blank when not known."""
    if value is None:
        return ""
    return gettext("Yes") if value else gettext("No")


# The values each CSV row is made of, read as plain tuples (no model instance per row).
CSV_VALUES = [
    "pk",
    "correlation_id",
    "started_at",
    "finished_at",
    "duration",
    "username",
    "client_ip",
    "cancel_type",
    "target_id",
    "task_key_id",
    "task__task_name",
    "task__parent_task_id",
    "node__key_id",
    "request_body",
    "http_status",
    "response_code",
    "response_message",
    "outcome",
    "confirmed_by_reread",
    "mirror_confirmed",
    "not_sent",
    "blocked_by",
    "error_detail",
    "reason",
]


def csv_excerpt(text: str) -> str:
    """A vendor answer or error detail as its cell shows it: an HTML page as its words, and
    any text cut to ``CSV_EXCERPT_CHARS`` characters."""
    return Truncator(page_text(text)).chars(CSV_EXCERPT_CHARS)


def csv_header() -> list[str]:
    """The columns of the CSV in the agent's language: cells an agent reads in a
    spreadsheet (names, keys, labels), never internal row ids."""
    zone = timezone.get_default_timezone_name()
    return [
        gettext("Attempt"),
        gettext("Submission"),
        gettext("Started (%(zone)s)") % {"zone": zone},
        gettext("Finished (%(zone)s)") % {"zone": zone},
        gettext("Duration (seconds)"),
        gettext("User"),
        gettext("Client IP"),
        gettext("Cancel type"),
        gettext("Id sent"),
        gettext("Recall key"),
        gettext("Task name"),
        gettext("Parent task id"),
        gettext("Node key"),
        gettext("Request body"),
        gettext("HTTP status"),
        gettext("Response code"),
        gettext("Response message"),
        gettext("Outcome"),
        gettext("Outcome as shown"),
        gettext("Confirmed by re-read"),
        gettext("Mirror confirmed"),
        gettext("Not sent by this app because"),
        gettext("Blocked by attempt"),
        gettext("Error detail"),
        gettext("Reason"),
    ]


def csv_row_maker() -> Callable[[tuple], tuple]:
    """A function from one row of ``CSV_VALUES`` to its cells, with the labels, Yes and No
    in the active language and the time zone looked up once, not once per row."""
    zone = timezone.get_default_timezone()
    types = {value: csv_cell(str(label)) for value, label in CancelType.choices}
    outcomes = {value: csv_cell(str(label)) for value, label in Outcome.choices}
    not_sent_because = {value: csv_cell(str(label)) for value, label in NotSent.choices}
    answers = {None: "", True: yes_no(True), False: yes_no(False)}
    stale_before = stale_cutoff()

    def when(value: datetime | None) -> str:
        """In the site's ``TIME_ZONE`` as ``YYYY-MM-DD HH:MM:SS``, which spreadsheets read
        as a date and time; the zone is named in the column header."""
        return value.astimezone(zone).strftime(CSV_TIME_FORMAT) if value else ""

    def text(value: str | None) -> str:
        # Most cells start with a letter or digit, which no spreadsheet evaluates.
        if not value:
            return ""
        first = value[0]
        return value if first.isascii() and first.isalnum() else csv_cell(value)

    def row(values: tuple) -> tuple:
        (pk, submission, started, finished, duration, username, client_ip, cancel_type,
         target_id, task_key_id, task_name, parent_task_id, node_key_id, request_body,
         http_status, response_code, response_message, outcome, reread, mirror,
         not_sent, blocked_by, error_detail, reason) = values  # fmt: skip
        shown = (
            Outcome.UNKNOWN if outcome == Outcome.PENDING and started < stale_before else outcome
        )
        return (
            pk,
            submission,
            when(started),
            when(finished),
            round(duration.total_seconds(), 3) if duration else None,
            text(username),
            text(client_ip),
            types.get(cancel_type, cancel_type),
            target_id,
            task_key_id,
            text(task_name),
            parent_task_id,
            node_key_id,
            csv_cell(json.dumps(request_body, ensure_ascii=False)) if request_body else None,
            http_status,
            response_code,
            text(response_message and csv_excerpt(response_message)),
            outcomes.get(outcome, outcome),
            outcomes.get(shown, shown),
            answers[reread],
            answers[mirror],
            not_sent_because.get(not_sent, not_sent),
            blocked_by,
            text(error_detail and csv_excerpt(error_detail)),
            text(reason),
        )

    return row


def _ignored_before_content(char: str) -> bool:
    """Whitespace (any Unicode space) and control or format characters, which a
    spreadsheet skips or strips before it decides whether a cell is a formula."""
    return char.isspace() or unicodedata.category(char) in {"Cc", "Cf", "Zs", "Zl", "Zp"}


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could evaluate ``text``: it starts with tab or CR, or its first
    character after whitespace and controls is a formula or DDE trigger in any width."""
    if text.startswith(("\t", "\r")):
        return True
    for char in text:
        if _ignored_before_content(char):
            continue
        return unicodedata.normalize("NFKC", char) in FORMULA_TRIGGERS or char in FORMULA_TRIGGERS
    return False


@overload
def csv_cell(value: str) -> str: ...
@overload
def csv_cell(value: object) -> object: ...


def csv_cell(value: object) -> object:
    """A cell a spreadsheet will not run as a formula: formula-like text gets a leading
    apostrophe. Numbers we wrote ourselves (e.g. code -16) stay numbers. Newlines inside
    a cell stay there: the csv writer quotes the cell, so no line of it starts a row."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value
    text = str(value)
    if is_formula_like(text):
        return "'" + text
    return text


def csv_rows(queryset, language: str | None, values=CSV_VALUES) -> Iterator[str]:
    """The file, CSV_CHUNK rows at a time: a UTF-8 byte-order mark first, so Excel reads
    the text as UTF-8 (Chinese and accented names intact), then the header and one row per
    attempt, all in ``language`` (the request's, which the stream may outlive). Rows are
    read and written a chunk at a time, so memory does not grow with the selection.
    ``values`` are ``CSV_VALUES`` or the same columns under other names, in that order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    with translation.override(language):
        writer.writerow(csv_header())
        yield "\ufeff" + buffer.getvalue()
        row = csv_row_maker()
        read = queryset.values_list(*values).iterator(chunk_size=CSV_CHUNK)
        while chunk := list(islice(read, CSV_CHUNK)):
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(map(row, chunk))
            yield buffer.getvalue()


class EffectiveOutcomeFilter(admin.SimpleListFilter):
    """By outcome as shown: a pending row left in flight too long counts as unknown."""

    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return Outcome.choices

    def queryset(self, request, queryset):
        if self.value() in Outcome.values:
            return queryset.with_effective_outcome(self.value())
        return queryset


class ResponseCodeFilter(admin.SimpleListFilter):
    """By LAAFFIC's response code, with 0 and "no code" said in words."""

    title = _("response code")
    parameter_name = "response_code"
    NONE = "none"

    def lookups(self, request, model_admin):
        choices: list[tuple[str, StrOrPromise]] = []
        for code in distinct_values(CancelAttempt, "response_code"):
            label = gettext("%(code)s (success)") % {"code": code} if code == 0 else str(code)
            choices.append((str(code), label))
        if model_admin.get_queryset(request).filter(response_code__isnull=True).exists():
            choices.append((self.NONE, _("none (nothing sent / no answer)")))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.NONE:
            return queryset.filter(response_code__isnull=True)
        if value is None:
            return queryset
        digits = value[1:] if value.startswith("-") else value
        if digits.isascii() and digits.isdigit() and fits_code(int(value)):
            return queryset.filter(response_code=int(value))
        return queryset.none()


class UsernameFilter(admin.SimpleListFilter):
    """By the username kept on each row; its choices read from the index, not the table."""

    title = _("username")
    parameter_name = "username"

    def lookups(self, request, model_admin):
        names = distinct_values(CancelAttempt, "username")
        return [(name, printable(name)) for name in names if name]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(username=self.value())


@admin.register(CancelAttempt)
class CancelAttemptAdmin(ReadOnlyAdmin):
    # Five columns, so that the message and the reason read as sentences beside Django's
    # navigation sidebar and the filters (about 630 px of a 1280 px window): the type sits
    # under the target it names, the response code under the outcome, the reason under
    # the message. Nothing the audit records about a row is left out of it.
    list_display = [
        "started_at",
        "username_shown",
        "target",
        "outcome_and_code",
        "message_and_reason",
    ]
    list_display_links = ["started_at"]
    list_filter = [
        EffectiveOutcomeFilter,
        "cancel_type",
        ResponseCodeFilter,
        UsernameFilter,
        "started_at",
    ]
    date_hierarchy = "started_at"
    search_fields = ["=target_id", "=task_key_id", "username", "reason"]
    search_help_text = _(
        "Id sent or task key (a whole number), username, or words of the reason; a number "
        'in quotes ("4521") is looked for in usernames and reasons too.'
    )
    list_select_related = ["task"]
    list_per_page = 100
    show_full_result_count = False
    paginator = CappedCountPaginator
    # No "Show counts": each filter's counts are a pass over every row it does not filter
    # out (the whole log, for the filter in use), seconds at a million rows.
    show_facets = admin.ShowFacets.NEVER
    actions = ["download_csv"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("outcome_badge", "message", "mirror_confirmed_text"),
                    ("cancel_type", "target_id"),
                    ("task_link", "node"),
                    "reason_shown",
                ]
            },
        ),
        (
            _("Who and when"),
            {
                "fields": [
                    ("user", "username_shown", "client_ip"),
                    ("started_at", "finished_at", "duration_text"),
                    "submission_link",
                ]
            },
        ),
        (
            _("Request and answer"),
            {
                "fields": [
                    "request_body",
                    ("http_status", "response_code"),
                    "response_message_shown",
                    "error_detail_shown",
                ]
            },
        ),
        (_("Audit chain"), {"fields": ["chain_text", "chain_mac"]}),
    ]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        context = {"chain_state": chain_state(), **(extra_context or {})}
        return super().changelist_view(request, context)

    def get_readonly_fields(self, request, obj=None):
        names = [f.name for f in self.model._meta.concrete_fields]
        return [
            *names,
            "outcome_badge",
            "message",
            "response_message_shown",
            "error_detail_shown",
            "reason_shown",
            "username_shown",
            "task_link",
            "mirror_confirmed_text",
            "duration_text",
            "submission_link",
            "chain_text",
        ]

    @admin.display(description=_("chain link"))
    def chain_text(self, obj: CancelAttempt) -> str:
        if obj.chain_seq is not None:
            return gettext("Link %(seq)s") % {"seq": obj.chain_seq}
        if obj.outcome in OPEN_OUTCOMES:
            return gettext("Not yet: the row is linked when its outcome becomes final")
        return gettext("None: written while no chain key was set")

    def type_short(self, obj: CancelAttempt) -> str:
        """The cancel type in a word or two, the full name as its tooltip."""
        label = SHORT_TYPES.get(obj.cancel_type, str(obj.cancel_type))
        return format_html(
            '<span class="laaffic-nowrap laaffic-cell-note laaffic-type" title="{}">{}</span>',
            obj.get_cancel_type_display(),
            label,
        )

    @admin.display(description=_("mirror confirmed"))
    def mirror_confirmed_text(self, obj: CancelAttempt) -> str:
        if obj.mirror_confirmed is None:
            return gettext("Not applicable (nothing was sent)")
        if obj.mirror_confirmed:
            return gettext("Yes (re-read from LAAFFIC after the cancel)")
        return gettext("No (not re-read after the cancel; the next sync confirms it)")

    @admin.display(description=_("duration"))
    def duration_text(self, obj: CancelAttempt) -> str:
        if obj.duration is None:
            return "-"
        seconds = number_format(round(obj.duration.total_seconds(), 2), 2)
        return gettext("%(seconds)s s") % {"seconds": seconds}

    @admin.display(description=_("submission"))
    def submission_link(self, obj: CancelAttempt) -> str:
        url = reverse(f"{self.admin_site.name}:laaffic_recall_cancelattempt_changelist")
        return format_html(
            '<a href="{}?correlation_id={}" title="{}">{}</a>',
            url,
            obj.correlation_id,
            gettext("Every attempt of this submission"),
            obj.correlation_id,
        )

    @admin.display(description=_("target"), ordering="target_id")
    def target(self, obj: CancelAttempt) -> str:
        """The id sent (the task's key beside it when another id was sent), its type below."""
        return format_html(
            '<span class="laaffic-target-id">{}</span> {}',
            self.target_id_shown(obj),
            self.type_short(obj),
        )

    def target_id_shown(self, obj: CancelAttempt) -> str:
        if obj.task_id is not None:
            url = reverse(
                f"{self.admin_site.name}:laaffic_recall_recalltask_change", args=[obj.task_id]
            )
            if obj.target_id == obj.task_key_id:
                return format_html('<a href="{}">{}</a>', url, obj.target_id)
            return format_html(
                '{} <span class="laaffic-nowrap">(<a href="{}">#{}</a>)</span>',
                obj.target_id,
                url,
                obj.task_key_id,
            )
        if obj.task_key_id is not None and obj.task_key_id != obj.target_id:
            return format_html(
                '{} <span class="laaffic-nowrap">(#{})</span>', obj.target_id, obj.task_key_id
            )
        return str(obj.target_id)

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_badge(self, obj: CancelAttempt) -> str:
        return outcome_badge(obj)

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_and_code(self, obj: CancelAttempt) -> str:
        """The outcome's badge, LAAFFIC's response code below it (none when it gave none)."""
        if obj.response_code is None:
            return outcome_badge(obj)
        code = gettext("code %(code)s") % {"code": obj.response_code}
        return format_html(
            '{} <span class="laaffic-cell-note laaffic-response-code">{}</span>',
            outcome_badge(obj),
            code,
        )

    @admin.display(description=_("message"))
    def message(self, obj: CancelAttempt, limit: int = CSV_EXCERPT_CHARS) -> str:
        """The message in the reader's language; on the attempt's page with up to
        ``limit`` characters of LAAFFIC's text or the error detail (80 in the list)."""
        context = {"attempt": obj, "limit": limit}
        return render_to_string("admin/laaffic_recall/cancelattempt/message.html", context)

    # The row keeps LAAFFIC's and the agent's text verbatim; the pages show control and
    # bidi characters as visible escapes.
    @admin.display(description=_("username"), ordering="username")
    def username_shown(self, obj: CancelAttempt) -> str:
        return printable(obj.username)

    @admin.display(description=_("reason"))
    def reason_shown(self, obj: CancelAttempt) -> str:
        return printable(obj.reason)

    @admin.display(description=_("response message"))
    def response_message_shown(self, obj: CancelAttempt) -> str:
        return printable(obj.response_message)

    @admin.display(description=_("error detail"))
    def error_detail_shown(self, obj: CancelAttempt) -> str:
        return printable(obj.error_detail)

    @admin.display(description=_("message"))
    def message_and_reason(self, obj: CancelAttempt) -> str:
        """The message, and below it the agent's reason (cut to 120 characters)."""
        message = self.message(obj, limit=80)
        if not obj.reason:
            return format_html('<span class="laaffic-message">{}</span>', message)
        text = printable(obj.reason)
        text = text if len(text) <= 120 else text[:119] + "…"
        reason = gettext("Reason: %(reason)s") % {"reason": text}
        return format_html(
            '<span class="laaffic-message">{}</span> '
            '<span class="laaffic-cell-note laaffic-reason">{}</span>',
            message,
            reason,
        )

    def get_object(self, request: HttpRequest, object_id: str, from_field=None):
        """The attempt, knowing whether this user may see its task (the task admin's
        ``get_queryset``): the page names only a task they may see."""
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and obj.task_id is not None:
            tasks = visible_tasks(self, request)
            obj.task_visible = not narrows(tasks) or tasks.filter(pk=obj.task_id).exists()
        return obj

    @admin.display(description=_("task"))
    def task_link(self, obj: CancelAttempt) -> str:
        if obj.task_id is None or not getattr(obj, "task_visible", True):
            return f"#{obj.task_key_id}" if obj.task_key_id else "-"
        url = reverse(
            f"{self.admin_site.name}:laaffic_recall_recalltask_change", args=[obj.task_id]
        )
        return format_html('<a href="{}">{}</a>', url, obj.task)

    @admin.action(description=_("Download CSV"), permissions=["view"])
    def download_csv(self, request: HttpRequest, queryset) -> StreamingHttpResponse:
        """The selected attempts as CSV, streamed, with formula-like cells escaped."""
        values = CSV_VALUES
        tasks = visible_tasks(self, request)
        if narrows(tasks):
            # The name of a task this user may not see is left out (its key stays).
            queryset = queryset.annotate(
                visible_task_name=Case(
                    When(task__in=tasks.values("pk"), then=F("task__task_name")),
                    default=Value(""),
                )
            )
            values = [
                "visible_task_name" if name == "task__task_name" else name for name in CSV_VALUES
            ]
        rows = csv_rows(queryset.order_by("started_at", "id"), translation.get_language(), values)
        # Named by the site's date and time, the zone its Started and Finished cells use.
        now = timezone.now()
        if timezone.is_aware(now):
            now = now.astimezone(timezone.get_default_timezone())
        stamp = now.strftime("%Y%m%d-%H%M%S")
        return StreamingHttpResponse(
            rows,
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="cancel-attempts-{stamp}.csv"'},
        )
