"""The keyed hash chain over cancel attempts: what a seal, a link and a check sign, and how.

Every MAC is an HMAC-SHA256 keyed by ``AUDIT_CHAIN_KEY`` (a setting, never stored in the
database) over sorted, compact, ASCII JSON naming what it signs. An open row carries a
*seal* over its signed fields as stored, made when it is written and made again by each
write of the app while it stays open; a row that becomes final gets the next link number
and a *link* over its fields, its seal, its link number and the previous link's MAC. A
link is decided once, while the chain is locked, so the chain never forks and checking it
is one pass in link order (``verify.py``). Each run of the verifier is kept as a
*check*, MACed too, and handed out as a one-line *anchor* to keep outside the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from .conf import app_settings

# The fields a seal and a link sign: everything a finished row keeps for ever. Left out:
# the links to the user, task and node (``SET_NULL`` clears them when those rows are
# deleted; the username and the ids sent are signed instead) and the chain's own columns.
SIGNED_FIELDS = (
    "id",
    "correlation_id",
    "username",
    "started_at",
    "finished_at",
    "duration",
    "cancel_type",
    "target_id",
    "task_key_id",
    "request_body",
    "http_status",
    "response_code",
    "response_message",
    "outcome",
    "confirmed_by_reread",
    "first_outcome",
    "settled_by",
    "settled_at",
    "seen_status",
    "not_sent",
    "blocked_by",
    "error_detail",
    "reason",
    "client_ip",
    "mirror_confirmed",
)

# What the chain reads of a row: the signed fields and the row's seal.
READ_FIELDS = (*SIGNED_FIELDS, "seal_mac")

# What a check's MAC signs (its id is left out: it is known only once the row is written).
CHECK_FIELDS = (
    "checked_at",
    "ok",
    "links",
    "through_seq",
    "through_row",
    "through_mac",
    "unchained",
    "problem_row",
    "problem",
)

# What an anchor holds: the check it was printed after, and the point that check verified.
ANCHOR_FIELDS = ("check", "through_seq", "through_row", "through_mac", "unchained")

# Any fixed number: the PostgreSQL advisory lock that serialises appends to the chain.
CHAIN_LOCK_ID = 7_146_171_015


def chain_key() -> bytes | None:
    """``AUDIT_CHAIN_KEY`` as bytes, or None when none is set."""
    value = app_settings.AUDIT_CHAIN_KEY
    if isinstance(value, bytes):
        return value or None
    text = str(value or "")
    return text.encode() if text.strip() else None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot sign a {type(value).__name__}")


def _mac(key: bytes, document: dict[str, Any]) -> str:
    data = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_plain
    ).encode("ascii")
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _row(values: dict[str, Any]) -> dict[str, Any]:
    return {name: values[name] for name in SIGNED_FIELDS}


def seal_mac(key: bytes, values: dict[str, Any]) -> str:
    """The seal of an open row over its signed values as the database holds them."""
    return _mac(key, {"kind": "seal", "row": _row(values)})


def seal_holds(key: bytes, values: dict[str, Any]) -> bool:
    """Whether ``values["seal_mac"]`` is the seal of the other values."""
    return hmac.compare_digest(seal_mac(key, values), values["seal_mac"] or "")


def link_mac(key: bytes, values: dict[str, Any], seq: int, prev_mac: str) -> str:
    """The MAC of link ``seq``: a row's signed values, its seal and the previous link's MAC."""
    document = {
        "kind": "link",
        "prev": prev_mac,
        "row": _row(values),
        "seal": values["seal_mac"],
        "seq": seq,
    }
    return _mac(key, document)


def check_mac(key: bytes, values: dict[str, Any]) -> str:
    """The MAC of a recorded verifier run over its ``CHECK_FIELDS``."""
    return _mac(key, {"kind": "check", **{name: values[name] for name in CHECK_FIELDS}})


def anchor_mac(key: bytes, values: dict[str, Any]) -> str:
    """The MAC of an anchor over its ``ANCHOR_FIELDS``."""
    return _mac(key, {"kind": "anchor", **{name: values[name] for name in ANCHOR_FIELDS}})


def lock_chain(connection) -> None:
    """Serialise appends until the end of the transaction.

    PostgreSQL: a transaction-level advisory lock. SQLite has a single writer: a
    transaction begun ``IMMEDIATE`` (the bundled site's setting) holds the write lock from
    its start; a deferred one that read the last link before another writer committed is
    refused when it writes, and ``chain_seq`` is unique, so the chain never forks.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])
