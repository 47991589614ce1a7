"""A small, Django-free client for the LAAFFIC auto-recall API.

It knows HTTP and the vendor's wire format (signing, both response envelopes, codes)
and nothing of Django models, so it can be lifted into a script. Its exceptions are the
vocabulary the services speak.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

logger = logging.getLogger("laaffic_recall")

PRODUCT_PATHS = {
    "ai_agent": "/voice/recallFlow",
    "ivr": "/v3/voice/recallFlow",
}

REMOTE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
EXCERPT_CHARS = 300

# Documented codes: name and a plain-language hint for a support agent or developer.
KNOWN_CODES: dict[int, tuple[str, str]] = {
    0: ("success", ""),
    -1: (
        "authentication error",
        "LAAFFIC refused the credentials: check the API key and secret in LAAFFIC_RECALL.",
    ),
    -2: (
        "IP not allowed",
        "This server's IP address is not on the LAAFFIC account's IP allow-list.",
    ),
    -16: (
        "timestamp expired",
        "LAAFFIC says the request time is off: check this server's clock (NTP).",
    ),
    -18: (
        "vendor program failure",
        "LAAFFIC reported an internal failure: try again later or contact LAAFFIC.",
    ),
    -22: (
        "parameter exception",
        "LAAFFIC rejected the request parameters: check the id and that the target exists.",
    ),
}


def sign(api_key: str, api_secret: str, timestamp: str) -> str:
    """The ``Sign`` header: lowercase hex MD5 of key + secret + timestamp."""
    return hashlib.md5(f"{api_key}{api_secret}{timestamp}".encode()).hexdigest()


def excerpt(body: bytes | str | None, limit: int = EXCERPT_CHARS) -> str:
    """A short, escaped, printable excerpt of a response body for errors and the audit log."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body[: limit * 4].decode("utf-8", errors="backslashreplace")
    text = body[:limit]
    text = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
    if len(body) > limit:
        text += "…"
    return text


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


# --------------------------------------------------------------------------- errors


class LaafficError(Exception):
    """Base of every error this client raises."""


class ConfigurationError(LaafficError):
    """The client cannot be used as configured (missing key, unknown product, bad URL)."""


class ApiError(LaafficError):
    """LAAFFIC answered with a well-formed envelope whose code is not 0 (a refusal)."""

    def __init__(self, code: int, message: str, *, http_status: int | None = None, data=None):
        self.code = code
        self.message = message
        self.http_status = http_status
        self.data = data
        name, self.hint = KNOWN_CODES.get(code, ("unknown code", ""))
        self.code_name = name
        text = f"LAAFFIC refused the request: code {code} ({name})"
        if message:
            text += f": {message}"
        if self.hint:
            text += f". {self.hint}"
        super().__init__(text)


class TransportError(LaafficError, requests.RequestException):
    """No usable API answer: network failure, non-2xx HTTP, or a body that is not the envelope.

    Also a ``requests.RequestException`` so callers may catch it as the network
    library's error. ``sent`` is False when the request certainly never reached the
    server (refused connection, DNS, connect timeout, TLS).
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        body_excerpt: str = "",
        sent: bool = True,
        cause: BaseException | None = None,
    ):
        self.http_status = http_status
        self.body_excerpt = body_excerpt
        self.sent = sent
        self.cause = cause
        super().__init__(message)


class ProtocolError(TransportError):
    """A 2xx answer whose body is not a LAAFFIC envelope (HTML, empty, no code, ...)."""


class OutcomeUnknownError(TransportError):
    """A cancel that may have reached LAAFFIC but got no clear answer (never resend blindly)."""


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


def _int_or_none(value: Any) -> int | None:
    return parse_code(value)


def _required_key(obj: dict, key: str) -> int:
    """A primary key the product will act on: a positive integer, or the answer is bad."""
    value = parse_code(obj.get(key))
    if value is None or value <= 0:
        raise ProtocolError(f"LAAFFIC answer has no positive numeric {key!r}: {excerpt(repr(obj))}")
    return value


def _id_or_none(value: Any) -> int | None:
    """An optional id: None unless it is a positive integer."""
    number = parse_code(value)
    return number if number is not None and number > 0 else None


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
        key_id=_required_key(obj, "keyId"),
        task_id=_id_or_none(obj.get("taskId")),
        status=_int_or_none(obj.get("nodeStatus")),
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
        key_id=_required_key(obj, "keyId"),
        recall_interval=_int_or_none(obj.get("recallInterval")),
        recall_num=_int_or_none(obj.get("recallNum")),
        recall_type=_int_or_none(obj.get("recallType")),
        status=_int_or_none(obj.get("status")),
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


def parse_envelope(body: bytes, http_status: int) -> Envelope:
    """Both envelope shapes: ``code``/``msg`` or ``status``/``reason``; int or numeric string."""
    if not body.strip():
        raise ProtocolError(
            f"LAAFFIC answered HTTP {http_status} with an empty body", http_status=http_status
        )
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
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


# --------------------------------------------------------------------------- client


def _never_sent(exc: BaseException) -> bool:
    """True when a requests error proves the request never reached the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):  # SSLError is one too
        seen = set()
        stack = [exc]
        while stack:
            err = stack.pop()
            if id(err) in seen or err is None:
                continue
            seen.add(id(err))
            if isinstance(
                err,
                NewConnectionError
                | NameResolutionError
                | ConnectionRefusedError
                # Certificate checks happen in the handshake, before anything is sent;
                # any other TLS error may come while reading the answer.
                | ssl.SSLCertVerificationError,
            ):
                return True
            stack.extend([err.__cause__, err.__context__, getattr(err, "reason", None)])
            stack.extend(a for a in getattr(err, "args", ()) if isinstance(a, BaseException))
    return False


def new_session(base_url: str) -> requests.Session:
    """A session that takes proxy and CA-bundle settings from the environment once.

    By default requests re-reads them (and ~/.netrc) on every request, which was the
    largest single CPU cost of a parallel sync.
    """
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and urlsplit(base_url).scheme == "https":
        session.verify = bundle
    return session


class LaafficClient:
    """Signed calls to the three recall-flow endpoints.

    One ``requests.Session`` per client: give each thread its own client.
    """

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        base_url: str = "https://api.laaffic.com",
        product: str = "ai_agent",
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        read_retries: int = 2,
        retry_backoff: float = 0.5,
        max_retry_after: float = 10.0,
        max_response_bytes: int = 2_000_000,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not api_key or not api_secret:
            raise ConfigurationError(
                "LAAFFIC API key or secret is missing: set LAAFFIC_RECALL['API_KEY'] and "
                "LAAFFIC_RECALL['API_SECRET'] (LAAFFIC_API_KEY / LAAFFIC_API_SECRET in the "
                "bundled site)."
            )
        if product not in PRODUCT_PATHS:
            raise ConfigurationError(
                f"Unknown LAAFFIC product {product!r}: use one of {', '.join(PRODUCT_PATHS)}."
            )
        parts = urlsplit(base_url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(
                f"LAAFFIC base URL {base_url!r} is not an http(s) URL, e.g. https://api.laaffic.com."
            )
        self.api_key = api_key
        self._secret = api_secret
        self.base_url = base_url.rstrip("/")
        self.product = product
        self.timeout = (connect_timeout, read_timeout)
        self.read_retries = max(0, read_retries)
        self.retry_backoff = retry_backoff
        self.max_retry_after = max_retry_after
        self.max_response_bytes = max_response_bytes
        self.session = session or new_session(self.base_url)
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"<LaafficClient {self.base_url} product={self.product} key={self.api_key!r}>"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> LaafficClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- public calls

    def query_page(
        self,
        current: int,
        size: int,
        start: datetime,
        end: datetime,
        task_name: str | None = None,
    ) -> Page:
        """One page of auto-recall tasks created between ``start`` and ``end`` (naive, remote)."""
        params: dict[str, Any] = {
            "strTime": start.strftime(REMOTE_TIME_FORMAT),
            "endTime": end.strftime(REMOTE_TIME_FORMAT),
        }
        if task_name:
            params["taskName"] = task_name
        body = {"current": int(current), "size": int(size), "params": params}
        envelope = self._read("queryPage", body)
        return parse_page(envelope.data)

    def query_detail(self, key_id: int) -> TaskDetail:
        """One auto-recall task with its node list."""
        envelope = self._read("queryDetail", {"keyId": int(key_id)})
        return parse_detail(envelope.data)

    def cancel(self, cancel_type: int, target_id: int) -> CancelResult:
        """Cancel a task (type 1 by keyId, 2 by parent taskId) or from a node onward (type 3).

        Sent once, never retried. Raises ``ApiError`` for a refusal, ``OutcomeUnknownError``
        when the request may have reached LAAFFIC without a clear answer, and
        ``TransportError`` (with ``sent`` False) when it certainly did not.
        """
        if cancel_type not in (1, 2, 3):
            raise ValueError(f"cancel type must be 1, 2 or 3, not {cancel_type!r}")
        if isinstance(target_id, bool) or not isinstance(target_id, int) or target_id <= 0:
            raise ValueError(f"cancel id must be a positive integer, not {target_id!r}")
        body = {"type": cancel_type, "id": target_id}
        try:
            envelope = self._send("cancel", body)
        except OutcomeUnknownError:
            raise
        except ProtocolError as exc:
            # Something answered 2xx but not with the envelope: the cancel may have run.
            raise OutcomeUnknownError(
                f"Cancel outcome unknown: {exc}",
                http_status=exc.http_status,
                body_excerpt=exc.body_excerpt,
                cause=exc,
            ) from None
        except TransportError as exc:
            if exc.http_status is not None and exc.http_status >= 500:
                raise OutcomeUnknownError(
                    f"Cancel outcome unknown: {exc}",
                    http_status=exc.http_status,
                    body_excerpt=exc.body_excerpt,
                    cause=exc.cause,
                ) from None
            raise
        if envelope.code != 0:
            raise ApiError(
                envelope.code,
                envelope.message,
                http_status=envelope.http_status,
                data=envelope.data,
            )
        return CancelResult(
            code=envelope.code,
            message=envelope.message,
            http_status=envelope.http_status,
            request_body=body,
        )

    # ---- plumbing

    def url(self, call: str) -> str:
        return f"{self.base_url}{PRODUCT_PATHS[self.product]}/{call}"

    def _headers(self) -> dict[str, str]:
        timestamp = str(int(self._clock()))
        return {
            "Content-Type": "application/json;charset=UTF-8",
            "Accept": "application/json",
            "Api-Key": self.api_key,
            "Timestamp": timestamp,
            "Sign": sign(self.api_key, self._secret, timestamp),
        }

    def _read(self, call: str, body: dict) -> Envelope:
        """A read call with bounded retries on connection errors, timeouts, 429 and 5xx."""
        attempt = 0
        while True:
            try:
                envelope = self._send(call, body)
            except TransportError as exc:
                retryable = (
                    exc.http_status is None or exc.http_status == 429 or (exc.http_status >= 500)
                )
                if isinstance(exc, ProtocolError) and exc.http_status is not None:
                    retryable = False
                if not retryable or attempt >= self.read_retries:
                    raise
                delay = self.retry_backoff * (2**attempt)
                retry_after = getattr(exc, "retry_after", None)
                if retry_after is not None:
                    if retry_after > self.max_retry_after:
                        raise
                    delay = max(delay, retry_after)
                attempt += 1
                logger.info(
                    "LAAFFIC %s failed (%s); retry %d of %d in %.2fs",
                    call,
                    exc,
                    attempt,
                    self.read_retries,
                    delay,
                )
                if delay > 0:
                    self._sleep(delay)
                continue
            if envelope.code != 0:
                raise ApiError(
                    envelope.code,
                    envelope.message,
                    http_status=envelope.http_status,
                    data=envelope.data,
                )
            return envelope

    def _send(self, call: str, body: dict) -> Envelope:
        """One POST; every failure is turned into this module's errors."""
        url = self.url(call)
        started = time.monotonic()
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        try:
            response = self.session.post(
                url,
                data=data,
                headers=self._headers(),
                timeout=self.timeout,
                stream=True,
                # A redirect would carry Api-Key, Timestamp and Sign to another URL.
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            sent = not _never_sent(exc)
            kind = type(exc).__name__
            logger.warning("LAAFFIC %s: %s (%s)", call, kind, "maybe sent" if sent else "not sent")
            if sent and call == "cancel":
                raise OutcomeUnknownError(
                    f"Cancel outcome unknown: the connection failed after sending ({kind}).",
                    sent=True,
                    cause=exc,
                ) from None
            raise TransportError(
                f"LAAFFIC {call} failed: {kind} while contacting {urlsplit(url).netloc}.",
                sent=sent,
                cause=exc,
            ) from None
        try:
            with response:
                raw = self._read_body(response)
        except LaafficError:
            raise
        except requests.RequestException as exc:
            kind = type(exc).__name__
            logger.warning("LAAFFIC %s: %s while reading the answer", call, kind)
            error_class = OutcomeUnknownError if call == "cancel" else TransportError
            raise error_class(
                f"LAAFFIC {call}: the answer was cut off ({kind}).",
                http_status=response.status_code,
                cause=exc,
            ) from None
        elapsed = (time.monotonic() - started) * 1000
        status = response.status_code
        if not 200 <= status < 300:
            logger.warning("LAAFFIC %s: HTTP %s in %.0f ms", call, status, elapsed)
            error = TransportError(
                f"LAAFFIC {call} answered HTTP {status}: {excerpt(raw) or '(empty body)'}",
                http_status=status,
                body_excerpt=excerpt(raw),
            )
            if status == 429:
                error.retry_after = _retry_after(response.headers.get("Retry-After"))
            raise error
        envelope = parse_envelope(raw, status)
        logger.info("LAAFFIC %s: HTTP %s code %s in %.0f ms", call, status, envelope.code, elapsed)
        return envelope

    def _read_body(self, response: requests.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > self.max_response_bytes:
                raise ProtocolError(
                    f"LAAFFIC answer is larger than {self.max_response_bytes} bytes",
                    http_status=response.status_code,
                    body_excerpt=excerpt(b"".join(chunks)),
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
