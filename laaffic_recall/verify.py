"""Walk the audit chain and name the first row or check that was changed, removed or
slipped in.

One pass over the linked rows in link order, a chunk at a time (constant memory): each
link must follow the one before it and its MAC must match the row as stored. Then the open
rows, each of which must match its seal, and the finished rows outside the chain: those
before the chain's first link were written before a key was set (unchained); any later one
was inserted by hand or written while no key was set. Last, the recorded checks, each of
which must match its MAC, and the points that the last good check and an anchor (kept
outside the database) verified: the link each ended on must still be the same row with
the same MAC, and as many finished rows must be outside the chain. Each run is recorded
as an ``AuditChainCheck`` and, when the chain is intact, handed out as a new anchor.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db.models import Max, Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .chain import (
    ANCHOR_FIELDS,
    CHECK_FIELDS,
    READ_FIELDS,
    anchor_mac,
    chain_key,
    check_mac,
    link_mac,
    seal_holds,
)
from .client.errors import ConfigurationError
from .models import OPEN_OUTCOMES, AuditChainCheck, CancelAttempt

CHUNK = 2000
ANCHOR_PREFIX = "laaffic-audit-anchor-1"


class AnchorError(ValueError):
    """An anchor that cannot be read, or that was not made with this chain key."""


@dataclass(frozen=True)
class Anchor:
    """The point a good run verified, as one line to keep outside the database."""

    check: int
    through_seq: int
    through_row: int
    through_mac: str
    unchained: int
    mac: str

    @classmethod
    def of(cls, key: bytes, check: AuditChainCheck) -> Anchor:
        anchor = cls(
            check=check.pk,
            through_seq=check.through_seq or 0,
            through_row=check.through_row or 0,
            through_mac=check.through_mac,
            unchained=check.unchained,
            mac="",
        )
        return replace(anchor, mac=anchor_mac(key, anchor.signed()))

    @classmethod
    def parse(cls, key: bytes, line: str) -> Anchor:
        """The anchor on ``line``; ``AnchorError`` when it is not one made with ``key``."""
        prefix, *pairs = line.split() or [""]
        fields = dict(pair.partition("=")[::2] for pair in pairs)
        try:
            if prefix != ANCHOR_PREFIX:
                raise ValueError(prefix)
            anchor = cls(
                check=int(fields["check"]),
                through_seq=int(fields["link"]),
                through_row=int(fields["row"]),
                through_mac=fields["link-mac"].replace("-", ""),
                unchained=int(fields["unchained"]),
                mac=fields["mac"],
            )
        except (KeyError, ValueError):
            raise AnchorError(
                _("This is not an anchor printed by laaffic_audit_verify: %(line)s")
                % {"line": line.strip()[:200]}
            ) from None
        if not hmac.compare_digest(anchor_mac(key, anchor.signed()), anchor.mac):
            raise AnchorError(
                _(
                    "The anchor does not match the chain key: it was changed, or it was "
                    "printed by a site with another key."
                )
            )
        return anchor

    def signed(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ANCHOR_FIELDS}

    def line(self) -> str:
        return (
            f"{ANCHOR_PREFIX} check={self.check} link={self.through_seq} "
            f"row={self.through_row} unchained={self.unchained} "
            f"link-mac={self.through_mac or '-'} mac={self.mac}"
        )


@dataclass(frozen=True)
class ChainReport:
    """What a walk of the chain found; ``problem`` is empty when the chain is intact."""

    links: int
    through_seq: int | None
    through_row: int | None
    through_mac: str
    unchained: int
    problem_row: int | None = None
    problem: str = ""
    anchor: Anchor | None = None

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class Finding:
    """The first thing found wrong: its text, and the row in question if there is one."""

    text: str
    row: int | None = None


@dataclass(frozen=True)
class Walk:
    """How far the links held: the last good link, and where the chain began."""

    links: int = 0
    row: int | None = None
    mac: str = ""
    first_row: int | None = None
    began: datetime | None = None
    finding: Finding | None = None

    def after(self, values: dict[str, Any]) -> Walk:
        first = values["id"] if self.first_row is None else self.first_row
        began = self.began or values["finished_at"] or values["started_at"]
        return Walk(values["chain_seq"], values["id"], values["chain_mac"], first, began)


@dataclass(frozen=True)
class Point:
    """What an earlier run verified: the last good check, or an anchor."""

    through_seq: int
    through_row: int | None
    through_mac: str
    unchained: int
    source: str


def verify_chain(record: bool = True, anchor: str | None = None) -> ChainReport:
    """Check every link, seal and check, and the given anchor line; raise
    ``ConfigurationError`` when no chain key is set and ``AnchorError`` for an anchor
    that is not one."""
    key = chain_key()
    if key is None:
        raise ConfigurationError(
            _("No audit chain key is set: set LAAFFIC_RECALL['AUDIT_CHAIN_KEY'] to verify.")
        )
    given = Anchor.parse(key, anchor) if anchor is not None else None
    report = _check(key, given)
    if record:
        check = AuditChainCheck(
            ok=report.ok,
            links=report.links,
            through_seq=report.through_seq,
            through_row=report.through_row,
            through_mac=report.through_mac,
            unchained=report.unchained,
            problem_row=report.problem_row,
            problem=report.problem,
        )
        check.mac = check_mac(key, {name: getattr(check, name) for name in CHECK_FIELDS})
        check.save()
        if report.ok:
            report = replace(report, anchor=Anchor.of(key, check))
    return report


def broken_seals(key: bytes | None = None) -> list[int]:
    """The open rows (by id) that do not match their seal; none while no key is set."""
    key = key or chain_key()
    if key is None:
        return []
    # Few rows, found through the outcome index; ordered here (an ORDER BY id could make
    # the database walk the whole table in id order instead).
    rows = CancelAttempt._base_manager.filter(outcome__in=list(OPEN_OUTCOMES)).order_by()
    return sorted(v["id"] for v in rows.values(*READ_FIELDS).iterator() if not seal_holds(key, v))


def _check(key: bytes, anchor: Anchor | None) -> ChainReport:
    walk = _walk(key)
    unchained, late = _outside(walk)
    finding = walk.finding or _open_row(key) or late or _points(key, walk, unchained, anchor)
    return ChainReport(
        links=walk.links,
        through_seq=walk.links or None,
        through_row=walk.row,
        through_mac=walk.mac,
        unchained=unchained,
        problem_row=finding.row if finding else None,
        problem=finding.text if finding else "",
    )


def _walk(key: bytes) -> Walk:
    rows = (
        CancelAttempt._base_manager.filter(chain_seq__isnull=False)
        .order_by("chain_seq")
        .values(*READ_FIELDS, "chain_seq", "chain_mac")
        .iterator(chunk_size=CHUNK)
    )
    walk = Walk()
    for values in rows:
        if values["chain_seq"] != walk.links + 1:
            return replace(walk, finding=_gap(walk, values))
        if not _holds(key, values, walk.mac):
            return replace(walk, finding=_mismatch(key, values, next(rows, None)))
        walk = walk.after(values)
    return walk


def _holds(key: bytes, values: dict[str, Any], prev_mac: str) -> bool:
    expected = link_mac(key, values, values["chain_seq"], prev_mac)
    return hmac.compare_digest(expected, values["chain_mac"])


def _gap(walk: Walk, values: dict[str, Any]) -> Finding:
    names = {"row": values["id"], "seq": values["chain_seq"]}
    if walk.links == 0:
        text = _(
            "Links 1 to %(last)s are missing: the chain starts at row %(row)s (link %(seq)s)."
        ) % {**names, "last": values["chain_seq"] - 1}
        return Finding(text, values["id"])
    text = _(
        "Link %(missing)s is missing: a row was removed between row %(before)s "
        "(link %(seq)s) and row %(after)s (link %(next)s)."
    ) % {
        "missing": walk.links + 1,
        "before": walk.row,
        "seq": walk.links,
        "after": values["id"],
        "next": values["chain_seq"],
    }
    return Finding(text, values["id"])


def _mismatch(key: bytes, bad: dict[str, Any], following: dict[str, Any] | None) -> Finding:
    """A link that does not match, judged by the one after it."""
    names = {"row": bad["id"], "seq": bad["chain_seq"]}
    if following is None:
        text = _(
            "Row %(row)s (link %(seq)s, the last) does not match its link: it was changed "
            "or inserted by hand, or the key is not the one the chain was written with."
        )
    elif following["chain_seq"] == bad["chain_seq"] + 1 and _holds(
        key, following, bad["chain_mac"]
    ):
        text = _(
            "Row %(row)s (link %(seq)s) was changed: it does not match its link, while the "
            "link after it does."
        )
    else:
        text = _(
            "Row %(row)s (link %(seq)s) does not match its link, nor does the link after "
            "it: the key is not the one the chain was written with, or rows from here on "
            "were changed."
        )
    return Finding(text % names, bad["id"])


def _open_row(key: bytes) -> Finding | None:
    broken = broken_seals(key)
    if not broken:
        return None
    text = _(
        "Row %(row)s is open but does not match its seal: it was inserted or changed by "
        "hand, or opened while no chain key was set; the app will not settle it."
    )
    return Finding(text % {"row": broken[0]}, broken[0])


def _outside(walk: Walk) -> tuple[int, Finding | None]:
    """(how many finished rows are outside the chain, the first one after its start)."""
    outside = CancelAttempt._base_manager.filter(chain_seq__isnull=True).exclude(
        outcome__in=list(OPEN_OUTCOMES)
    )
    unchained = outside.count()
    if walk.first_row is None or not unchained:
        return unchained, None
    late = (
        outside.annotate(at=Coalesce("finished_at", "started_at"))
        .filter(Q(id__gt=walk.first_row) | Q(at__gte=walk.began))
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if late is None:
        return unchained, None
    text = _(
        "Row %(row)s is finished but not in the chain, which began at row %(first)s: it "
        "was inserted by hand, or written while no chain key was set."
    ) % {"row": late, "first": walk.first_row}
    return unchained, Finding(text, late)


def _points(key: bytes, walk: Walk, unchained: int, anchor: Anchor | None) -> Finding | None:
    """The recorded checks' MACs, then the chain against the anchor and the last good check."""
    last_good = None
    checks = AuditChainCheck.objects.order_by("id").values("id", "mac", *CHECK_FIELDS)
    for values in checks.iterator(chunk_size=CHUNK):
        if not hmac.compare_digest(check_mac(key, values), values["mac"]):
            text = _(
                "Check %(check)s (%(when)s) does not match its MAC: the recorded checks were "
                "changed, or the key is not the one they were written with."
            )
            return Finding(text % {"check": values["id"], "when": _when(values["checked_at"])})
        if values["ok"]:
            last_good = values
    if anchor is not None:
        if not AuditChainCheck.objects.filter(pk=anchor.check).exists():
            text = _(
                "Check %(check)s, which the anchor names, is missing: the recorded checks "
                "were deleted."
            )
            return Finding(text % {"check": anchor.check})
        source = _("the anchor of check %(check)s") % {"check": anchor.check}
        point = Point(
            anchor.through_seq,
            anchor.through_row,
            anchor.through_mac,
            anchor.unchained,
            source,
        )
        finding = _compare(point, walk, unchained)
        if finding is not None:
            return finding
    if last_good is None:
        return None
    source = _("check %(check)s (%(when)s)") % {
        "check": last_good["id"],
        "when": _when(last_good["checked_at"]),
    }
    point = Point(
        last_good["through_seq"] or 0,
        last_good["through_row"],
        last_good["through_mac"],
        last_good["unchained"],
        source,
    )
    return _compare(point, walk, unchained)


def _when(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def _compare(point: Point, walk: Walk, unchained: int) -> Finding | None:
    """Whether the chain still holds what ``point`` verified."""
    names = {
        "first": walk.links + 1,
        "last": point.through_seq,
        "row": point.through_row,
        "source": point.source,
    }
    if walk.links < point.through_seq:
        if walk.links + 1 == point.through_seq:
            text = _(
                "Link %(first)s is missing from the end of the chain: %(source)s verified "
                "it (as row %(row)s), and it has been removed since."
            )
        else:
            text = _(
                "Links %(first)s to %(last)s are missing from the end of the chain: "
                "%(source)s verified them (up to row %(row)s), and they have been removed "
                "since."
            )
        return Finding(text % names, point.through_row)
    if point.through_seq:
        now = (
            CancelAttempt._base_manager.filter(chain_seq=point.through_seq)
            .values_list("id", "chain_mac")
            .first()
        )
        if now != (point.through_row, point.through_mac):
            text = _(
                "Link %(last)s is row %(now)s, but %(source)s verified it as row %(row)s "
                "with another MAC: the chain was cut there and written again."
            )
            now_row = now[0] if now else None
            return Finding(text % {**names, "now": now_row}, now_row)
    if unchained != point.unchained:
        text = ngettext(
            "%(now)s finished row is outside the chain, where %(source)s counted "
            "%(then)s: rows outside the chain were added or removed since.",
            "%(now)s finished rows are outside the chain, where %(source)s counted "
            "%(then)s: rows outside the chain were added or removed since.",
            unchained,
        )
        return Finding(text % {"now": unchained, "then": point.unchained, "source": point.source})
    return None


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
