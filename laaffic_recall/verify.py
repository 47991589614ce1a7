"""Walk the audit chain and name the first row that was changed, removed or slipped in.

One pass over the linked rows in link order, a chunk at a time (constant memory): each
link must follow the one before it and its HMAC must match the row as stored. Then one
query for finished rows outside the chain: those finished before the chain began were
written before a key was set (unchained, not tampered); any later one was inserted by
hand or written while no key was set. Each run is recorded as an ``AuditChainCheck``,
whose last good run also reveals links removed from the chain's end.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from django.db.models import Max, Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from .chain import SIGNED_FIELDS, chain_key, link_mac
from .client.errors import ConfigurationError
from .models import OPEN_OUTCOMES, AuditChainCheck, CancelAttempt

CHUNK = 2000


@dataclass(frozen=True)
class ChainReport:
    """What a walk of the chain found; ``problem_row`` is None when the chain is intact."""

    links: int
    through_seq: int | None
    through_row: int | None
    unchained: int
    problem_row: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def verify_chain(record: bool = True) -> ChainReport:
    """Check every link; raise ``ConfigurationError`` when no chain key is set."""
    key = chain_key()
    if key is None:
        raise ConfigurationError(
            _("No audit chain key is set: set LAAFFIC_RECALL['AUDIT_CHAIN_KEY'] to verify.")
        )
    report = _walk(key)
    if record:
        AuditChainCheck.objects.create(
            ok=report.ok,
            links=report.links,
            through_seq=report.through_seq,
            through_row=report.through_row,
            unchained=report.unchained,
            problem_row=report.problem_row,
            problem=report.problem,
        )
    return report


def _walk(key: bytes) -> ChainReport:
    rows = (
        CancelAttempt._base_manager.filter(chain_seq__isnull=False)
        .order_by("chain_seq")
        .values(*SIGNED_FIELDS, "chain_seq", "chain_mac")
        .iterator(chunk_size=CHUNK)
    )
    seq, mac, row_id, start = 0, "", None, None
    suspect: dict[str, Any] | None = None  # a link that did not match, judged by the next
    followed = False  # whether a row came after the suspect
    for values in rows:
        if suspect is not None:
            followed = True
        if values["chain_seq"] != seq + 1:
            if suspect is not None:
                break
            if seq == 0:
                return _report(
                    0,
                    None,
                    None,
                    values["id"],
                    _(
                        "Links 1 to %(last)s are missing: the chain starts at row %(row)s "
                        "(link %(seq)s)."
                    )
                    % {
                        "last": values["chain_seq"] - 1,
                        "row": values["id"],
                        "seq": values["chain_seq"],
                    },
                )
            return _report(
                seq,
                row_id,
                start,
                values["id"],
                _(
                    "Link %(missing)s is missing: a row was removed between row %(before)s "
                    "(link %(seq)s) and row %(after)s (link %(next)s)."
                )
                % {
                    "missing": seq + 1,
                    "before": row_id,
                    "seq": seq,
                    "after": values["id"],
                    "next": values["chain_seq"],
                },
            )
        matches = hmac.compare_digest(
            link_mac(key, values, values["chain_seq"], mac), values["chain_mac"]
        )
        if suspect is not None:
            if matches:
                return _altered(suspect, seq - 1, start)
            break
        if start is None:
            start = _time(values)
        if not matches:
            suspect = {"id": values["id"], "seq": values["chain_seq"], "row_before": row_id}
        seq, mac, row_id = values["chain_seq"], values["chain_mac"], values["id"]
    if suspect is not None:
        if not followed:
            text = _(
                "Row %(row)s (link %(seq)s, the last) does not match its link: it was changed "
                "or inserted by hand, or the key is not the one the chain was written with."
            )
        else:
            text = _(
                "Row %(row)s (link %(seq)s) does not match its link, nor does the link after "
                "it: the key is not the one the chain was written with, or rows from here on "
                "were changed."
            )
        return _report(
            suspect["seq"] - 1,
            suspect["row_before"],
            start,
            suspect["id"],
            text % {"row": suspect["id"], "seq": suspect["seq"]},
        )
    last_good = AuditChainCheck.objects.filter(ok=True, through_seq__isnull=False).first()
    if last_good is not None and last_good.through_seq > seq:
        return _report(
            seq,
            row_id,
            start,
            last_good.through_row,
            (
                _(
                    "Link %(first)s is missing from the end of the chain: it was verified at "
                    "%(when)s (as row %(row)s) and has been removed since."
                )
                if seq + 1 == last_good.through_seq
                else _(
                    "Links %(first)s to %(last)s are missing from the end of the chain: they "
                    "were verified at %(when)s (up to row %(row)s) and have been removed since."
                )
            )
            % {
                "first": seq + 1,
                "last": last_good.through_seq,
                "when": last_good.checked_at.isoformat(timespec="seconds"),
                "row": last_good.through_row,
            },
        )
    return _report(seq, row_id, start)


def _altered(suspect: dict[str, Any], through_seq: int, start) -> ChainReport:
    return _report(
        through_seq,
        suspect["row_before"],
        start,
        suspect["id"],
        _(
            "Row %(row)s (link %(seq)s) was changed: it does not match its link, while the "
            "link after it does."
        )
        % {"row": suspect["id"], "seq": suspect["seq"]},
    )


def _time(values: dict[str, Any]):
    return values["finished_at"] or values["started_at"]


def _report(seq, row_id, start, problem_row=None, problem="") -> ChainReport:
    """The report, after counting the finished rows outside the chain."""
    outside = (
        CancelAttempt._base_manager.filter(chain_seq__isnull=True)
        .exclude(outcome__in=list(OPEN_OUTCOMES))
        .annotate(at=Coalesce("finished_at", "started_at"))
    )
    if start is None:
        unchained = outside.count()
    else:
        unchained = outside.filter(at__lt=start).count()
        if not problem:
            late = outside.filter(Q(at__gte=start)).order_by("id").values_list("id", flat=True)
            first = late.first()
            if first is not None:
                problem_row = first
                problem = _(
                    "Row %(row)s is finished but not in the chain: it was inserted by hand, "
                    "or written while no chain key was set."
                ) % {"row": first}
    return ChainReport(
        links=seq,
        through_seq=seq or None,
        through_row=row_id,
        unchained=unchained,
        problem_row=problem_row,
        problem=problem,
    )


@dataclass(frozen=True)
class ChainState:
    """What the audit admin says of the chain, without walking it: the last recorded run,
    and how many rows were linked after the last link it verified."""

    key_set: bool
    last_check: AuditChainCheck | None
    linked_since: int


def chain_state() -> ChainState:
    """Links are numbered 1, 2, 3... without gaps, so the rows linked since the last check
    are the highest link minus the last one it verified: one read of the index, where a
    count would read every row linked since (all of them, before a first check)."""
    last = AuditChainCheck.objects.first()
    linked_since = 0
    if last is not None:
        top = CancelAttempt._base_manager.aggregate(top=Max("chain_seq"))["top"] or 0
        linked_since = top - (last.through_seq or 0)
    return ChainState(key_set=chain_key() is not None, last_check=last, linked_since=linked_since)
