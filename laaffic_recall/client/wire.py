"""LAAFFIC's wire format: signing, both response envelopes, and typed results.

Pure functions and frozen dataclasses, no I/O: the client sends, this module reads.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import ProtocolError

REMOTE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
EXCERPT_CHARS = 200
# LAAFFIC's ids are positive keys that a signed 64-bit column holds; the mirror's counts
# are 32-bit, statuses and types 16-bit. A detail answer is about one task, so there a
# number beyond them is read as unknown or, for a key or a status, makes the answer bad
# (before anything is stored or a cancel decided on it). A list record keeps the number:
# the sync refuses that record alone.
MAX_ID = 2**63 - 1
INT_BITS = 32
STATUS_BITS = 16


def is_valid_id(value: Any) -> bool:
    """Whether ``value`` is an id LAAFFIC can have: a positive 64-bit integer (no bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def sign(api_key: str, api_secret: str, timestamp: str) -> str:
    """The ``Sign`` header: lowercase hex MD5 of key + secret + timestamp."""
    return hashlib.md5(
        f"{api_key}{api_secret}{timestamp}".encode(), usedforsecurity=False
    ).hexdigest()


def page_text(text: str) -> str:
    """The words of an HTML page (a proxy's error page) without its markup, scripts and
    styles, whitespace runs as one space; any other text as it is."""
    if not _HTML.search(text):
        return text
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", text)))).strip()


def excerpt(body: bytes | str | None, limit: int = EXCERPT_CHARS) -> str:
    """A short excerpt of a response body, as plain printable text, for errors and the
    audit log: an HTML page's words (``page_text``), runs of whitespace (``\r\n``
    included) as one space, other control characters escaped."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body[: limit * 40].decode("utf-8", errors="backslashreplace")
    else:
        body = body[: limit * 40]
    body = _SPACE.sub(" ", page_text(body)).strip()
    text = body[:limit]
    text = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
    if len(body) > limit:
        text += "…"
    return text


_HTML = re.compile(r"<(!doctype|html|head|body|h\d|p|div|title|center|hr)\b", re.IGNORECASE)
_HIDDEN = re.compile(r"<(script|style)\b.*?(</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>?")
_SPACE = re.compile(r"\s+")


_INTEGER = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: str.isdigit() admits "³", "٠"


def parse_code(value: Any) -> int | None:
    """An envelope code as an int (number or numeric string), or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Envelope:
    code: int
    message: str
    data: Any
    http_status: int


@dataclass(frozen=True)
class TaskRecord:
    """One record of ``queryPage``."""

    key_id: int
    task_id: int | None
    task_name: str
    create_time: datetime | None
    recall_type: int | None
    recall_interval: int | None
    recall_num: int | None
    finish_num: int | None
    status: int | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class Page:
    total: int
    size: int
    current: int
    pages: int
    records: list[TaskRecord]


@dataclass(frozen=True)
class NodeRecord:
    """One entry of a detail's ``nodeList``."""

    key_id: int
    task_id: int | None
    status: int | None
    script_id: str | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class TaskDetail:
    """The ``queryDetail`` answer: the task and its ordered node list."""

    key_id: int
    recall_interval: int | None
    recall_num: int | None
    recall_type: int | None
    status: int | None
    nodes: list[NodeRecord]
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class CancelResult:
    """A cancel that LAAFFIC accepted (code 0)."""

    code: int
    message: str
    http_status: int
    request_body: dict


# --------------------------------------------------------------------------- parsing


def fits_signed(number: int, bits: int) -> bool:
    """Whether a signed integer column of ``bits`` bits holds ``number``."""
    return -(2 ** (bits - 1)) <= number < 2 ** (bits - 1)


def _int_or_none(value: Any, bits: int | None = None) -> int | None:
    """An integer, or None; with ``bits``, also None when a signed column that wide cannot
    hold it."""
    number = parse_code(value)
    if number is not None and bits is not None and not fits_signed(number, bits):
        return None
    return number


def _required_key(obj: dict, key: str, bounded: bool = False) -> int:
    """A primary key the product will act on: a positive integer (``bounded``: a valid
    id, of at most 64 bits), or the answer is bad."""
    value = parse_code(obj.get(key))
    if value is None or value <= 0 or (bounded and not is_valid_id(value)):
        raise ProtocolError(f"LAAFFIC answer has no positive numeric {key!r}: {excerpt(repr(obj))}")
    return value


def _id_or_none(value: Any, bounded: bool = False) -> int | None:
    """An optional id: None unless it is a positive integer (``bounded``: a valid id)."""
    number = parse_code(value)
    if number is None or number <= 0 or (bounded and not is_valid_id(number)):
        return None
    return number


def _status(obj: dict, key: str) -> int | None:
    """A detail's task or node status: None when absent or not a number (the mirror keeps
    what it had); beyond 16 bits it is no status, so the answer is bad."""
    value = parse_code(obj.get(key))
    if value is not None and not fits_signed(value, STATUS_BITS):
        raise ProtocolError(f"LAAFFIC answer has {key!r} out of range: {excerpt(repr(obj))}")
    return value


def parse_remote_time(value: Any) -> datetime | None:
    """The vendor's naive ``YYYY-MM-DD HH:mm:ss`` as a naive datetime (None if absent/bad)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.strptime(value.strip(), REMOTE_TIME_FORMAT)
    except ValueError:
        return None


def parse_task_record(obj: Any) -> TaskRecord:
    if not isinstance(obj, dict):
        raise ProtocolError(f"queryPage record is not an object: {excerpt(repr(obj))}")
    return TaskRecord(
        key_id=_required_key(obj, "keyId"),
        task_id=_id_or_none(obj.get("taskId")),
        task_name=str(obj.get("taskName") or ""),
        create_time=parse_remote_time(obj.get("createTime")),
        recall_type=_int_or_none(obj.get("recallType")),
        recall_interval=_int_or_none(obj.get("recallInterval")),
        recall_num=_int_or_none(obj.get("recallNum")),
        finish_num=_int_or_none(obj.get("finishNum")),
        status=_int_or_none(obj.get("status")),
        raw=obj,
    )


def parse_node(obj: Any) -> NodeRecord:
    if not isinstance(obj, dict):
        raise ProtocolError(f"nodeList entry is not an object: {excerpt(repr(obj))}")
    script = obj.get("scriptId")
    return NodeRecord(
        key_id=_required_key(obj, "keyId", bounded=True),
        task_id=_id_or_none(obj.get("taskId"), bounded=True),
        status=_status(obj, "nodeStatus"),
        script_id=None if script in (None, "") else str(script),
        raw=obj,
    )


def parse_detail(obj: Any) -> TaskDetail:
    if not isinstance(obj, dict):
        raise ProtocolError(f"queryDetail data is not an object: {excerpt(repr(obj))}")
    nodes = obj.get("nodeList") or []
    if not isinstance(nodes, list):
        raise ProtocolError(f"queryDetail nodeList is not a list: {excerpt(repr(nodes))}")
    return TaskDetail(
        key_id=_required_key(obj, "keyId", bounded=True),
        recall_interval=_int_or_none(obj.get("recallInterval"), INT_BITS),
        recall_num=_int_or_none(obj.get("recallNum"), INT_BITS),
        recall_type=_int_or_none(obj.get("recallType"), STATUS_BITS),
        status=_status(obj, "status"),
        nodes=[parse_node(n) for n in nodes],
        raw=obj,
    )


def parse_page(obj: Any) -> Page:
    if not isinstance(obj, dict):
        raise ProtocolError(f"queryPage data is not an object: {excerpt(repr(obj))}")
    records = obj.get("records") or []
    if not isinstance(records, list):
        raise ProtocolError(f"queryPage records is not a list: {excerpt(repr(records))}")
    return Page(
        total=_int_or_none(obj.get("total")) or 0,
        size=_int_or_none(obj.get("size")) or 0,
        current=_int_or_none(obj.get("current")) or 0,
        pages=_int_or_none(obj.get("pages")) or 0,
        records=[parse_task_record(r) for r in records],
    )


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


# JSON may escape a NUL ("\u0000", which no PostgreSQL text or jsonb column holds) or a
# lone surrogate ("\ud800", which is no UTF-8 at all); a body without these escapes has
# neither, so only such a body is walked.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")


def _storable(value: Any) -> Any:
    """``value`` with each NUL and lone surrogate in its strings (keys too) replaced by
    U+FFFD, so that every vendor text can be stored, shown and logged."""
    if isinstance(value, str):
        return _UNSTORABLE_CHAR.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def parse_envelope(body: bytes, http_status: int) -> Envelope:
    """Both envelope shapes: ``code``/``msg`` or ``status``/``reason``; int or numeric string."""
    if not body.strip():
        raise ProtocolError(
            f"LAAFFIC answered HTTP {http_status} with an empty body", http_status=http_status
        )
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        if _UNSTORABLE_ESCAPE.search(body):
            payload = _storable(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ProtocolError(
            f"LAAFFIC answered HTTP {http_status} with a body that is not JSON: {excerpt(body)}",
            http_status=http_status,
            body_excerpt=excerpt(body),
        ) from None
    if not isinstance(payload, dict):
        raise ProtocolError(
            f"LAAFFIC answered HTTP {http_status} with JSON that is not an object: {excerpt(body)}",
            http_status=http_status,
            body_excerpt=excerpt(body),
        )
    codes = {parse_code(payload[k]) for k in ("code", "status") if k in payload} - {None}
    if len(codes) > 1:
        raise ProtocolError(
            f"LAAFFIC answer has conflicting codes: {excerpt(body)}",
            http_status=http_status,
            body_excerpt=excerpt(body),
        )
    code = codes.pop() if codes else None
    if code is None:
        raise ProtocolError(
            f"LAAFFIC answer has no numeric code: {excerpt(body)}",
            http_status=http_status,
            body_excerpt=excerpt(body),
        )
    message = payload["msg"] if "msg" in payload else payload.get("reason")
    return Envelope(
        code=code,
        message="" if message is None else str(message),
        data=payload.get("data"),
        http_status=http_status,
    )
