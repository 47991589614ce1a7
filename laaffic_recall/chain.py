"""The keyed hash chain over finished cancel attempts: what a link signs, and how.

Each finished ``CancelAttempt`` gets the next link number and an HMAC-SHA256, keyed by
``AUDIT_CHAIN_KEY`` (a setting, never stored in the database), over a canonical form of
its frozen fields, its link number and the previous link's HMAC. A link is decided once,
when the row becomes final, while the chain is locked, so the chain never forks and
checking it is one pass in link order (``verify.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from .conf import app_settings

# The fields a link signs: everything a finished row keeps for ever. Left out: the links
# to the user, task and node (``SET_NULL`` clears them when those rows are deleted; the
# username and the ids sent are signed instead) and the chain's own two columns.
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
    "error_detail",
    "reason",
    "client_ip",
    "mirror_confirmed",
)

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


def canonical(values: dict[str, Any], seq: int, prev_mac: str) -> bytes:
    """The bytes a link signs: the row's signed fields as read back from the database,
    its link number and the previous link's HMAC, as sorted, compact, ASCII JSON."""
    row = {name: values[name] for name in SIGNED_FIELDS}
    document = {"prev": prev_mac, "row": row, "seq": seq}
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_plain
    ).encode("ascii")


def link_mac(key: bytes, values: dict[str, Any], seq: int, prev_mac: str) -> str:
    """The HMAC-SHA256 (hex) of link ``seq`` over a row's signed values."""
    return hmac.new(key, canonical(values, seq, prev_mac), hashlib.sha256).hexdigest()


def lock_chain(connection) -> None:
    """Serialise appends until the end of the transaction.

    PostgreSQL: a transaction-level advisory lock. SQLite has a single writer, and the
    caller has already written the row, so its transaction holds the write lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])
