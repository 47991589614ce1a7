"""The LAAFFIC auto-recall client: signed HTTP calls to the three recall-flow endpoints.

It knows HTTP and nothing of Django models, so it can be lifted into a script. What the
vendor's answers mean is read by ``wire.py``; what can go wrong is said by ``errors.py``.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from requests.utils import get_auth_from_url, resolve_proxies
from urllib3.exceptions import NameResolutionError, NewConnectionError

from .errors import (
    ApiError,
    ConfigurationError,
    LaafficError,
    OutcomeUnknownError,
    ProtocolError,
    TransportError,
)
from .wire import (
    REMOTE_TIME_FORMAT,
    CancelResult,
    Envelope,
    Page,
    TaskDetail,
    excerpt,
    parse_detail,
    parse_envelope,
    parse_page,
    sign,
)

logger = logging.getLogger("laaffic_recall")

PRODUCT_PATHS = {
    "ai_agent": "/voice/recallFlow",
    "ivr": "/v3/voice/recallFlow",
}


def configuration_problems(
    api_key: Any, api_secret: Any, base_url: Any, product: Any
) -> dict[str, str]:
    """What keeps a client from working with these arguments, by argument name, in words
    (empty when nothing does). The system checks give the same words with a hint."""
    problems = {}
    if not str(api_key or "").strip():
        problems["api_key"] = "The LAAFFIC API key is not set."
    if not str(api_secret or "").strip():
        problems["api_secret"] = "The LAAFFIC API secret is not set."
    if not isinstance(product, str) or product not in PRODUCT_PATHS:
        problems["product"] = (
            f"Unknown LAAFFIC product {product!r}: use one of {', '.join(PRODUCT_PATHS)}."
        )
    parts = urlsplit(str(base_url or ""))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems["base_url"] = (
            f"The LAAFFIC base URL {base_url!r} is not an http(s) URL, "
            "e.g. 'https://api.laaffic.com'."
        )
    return problems


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every error it wraps (causes, contexts, urllib3's reasons and args)."""
    seen = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        err = stack.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        yield err
        stack.extend([err.__cause__, err.__context__, getattr(err, "reason", None)])
        stack.extend(a for a in getattr(err, "args", ()) if isinstance(a, BaseException))


def _never_sent(exc: BaseException) -> bool:
    """True when a requests error proves the request never reached the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):  # SSLError is one too
        return any(
            isinstance(
                err,
                NewConnectionError
                | NameResolutionError
                | ConnectionRefusedError
                # Certificate checks happen in the handshake, before anything is sent;
                # any other TLS error may come while reading the answer.
                | ssl.SSLCertVerificationError,
            )
            for err in _causes(exc)
        )
    return False


def _refused(exc: BaseException) -> bool:
    """True when the connection was refused: nothing listens at the address."""
    return isinstance(exc, requests.ConnectionError) and any(
        isinstance(err, ConnectionRefusedError) for err in _causes(exc)
    )


def new_session(base_url: str) -> requests.Session:
    """A session that takes proxy and CA-bundle settings from the environment once.

    By default requests re-reads them (and ~/.netrc) on every request: a large CPU cost
    in a parallel sync.
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
        self._secret = api_secret
        del api_secret  # an error report prints the locals of every frame it shows
        problems = configuration_problems(api_key, self._secret, base_url, product)
        if problems:
            raise ConfigurationError(" ".join(problems.values()))
        self.api_key = api_key
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
        self._urls: dict[str, tuple[str, tuple[str, str] | None]] = {}

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
        detail = parse_detail(envelope.data)
        if detail.key_id != int(key_id):
            # Stored as asked, it would overwrite another task and take over its nodes.
            raise ProtocolError(
                f"LAAFFIC answered queryDetail for keyId {int(key_id)} with task "
                f"{detail.key_id}: {excerpt(repr(envelope.data))}",
                http_status=envelope.http_status,
            )
        return detail

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
        _raise_if_refused(envelope)
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
                    exc.http_status is None
                    or exc.http_status == 429
                    or exc.http_status >= 500
                    # The connection failed while the answer was read (a body cut short).
                    or isinstance(exc.cause, requests.RequestException)
                )
                if isinstance(exc, ProtocolError) and exc.http_status is not None:
                    retryable = False
                if not retryable or attempt >= self.read_retries:
                    raise
                delay = self.retry_backoff * (2**attempt)
                if exc.retry_after is not None:
                    if exc.retry_after > self.max_retry_after:
                        raise
                    delay = max(delay, exc.retry_after)
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
            _raise_if_refused(envelope)
            return envelope

    def _send(self, call: str, body: dict) -> Envelope:
        """One POST; every failure is turned into this module's errors."""
        url = self.url(call)
        started = time.monotonic()
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        try:
            response = self._post(call, data)
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
            refused = not sent and _refused(exc)
            netloc = urlsplit(url).netloc
            text = f"LAAFFIC {call} failed: {kind} while contacting {netloc}."
            if refused:
                text = f"LAAFFIC {call} failed: nothing answers at {netloc} (connection refused)."
            raise TransportError(
                text,
                sent=sent,
                cause=exc,
                refused=refused,
            ) from None
        except Exception as exc:
            # Raised on as it is, its traceback would carry the frames of the signing and of
            # the HTTP stack, whose locals (the signed headers) an error report prints.
            kind = type(exc).__name__
            logger.warning("LAAFFIC %s: unexpected %s while sending (maybe sent)", call, kind)
            error_class = OutcomeUnknownError if call == "cancel" else TransportError
            raise error_class(
                f"LAAFFIC {call}: unexpected {kind} while sending; it may have reached LAAFFIC.",
                sent=True,
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
            raise TransportError(
                f"LAAFFIC {call} answered HTTP {status}: {excerpt(raw) or '(empty body)'}",
                http_status=status,
                body_excerpt=excerpt(raw),
                retry_after=_retry_after(response.headers.get("Retry-After"))
                if status == 429
                else None,
            )
        envelope = parse_envelope(raw, status)
        logger.info("LAAFFIC %s: HTTP %s code %s in %.0f ms", call, status, envelope.code, elapsed)
        return envelope

    def _post(self, call: str, data: bytes) -> requests.Response:
        """``session.post(url, data, headers, stream=True, allow_redirects=False)``.

        A redirect is never followed: it would carry Api-Key, Timestamp and Sign to another
        URL. For a session that takes nothing from the environment per call (``new_session``)
        and has no hooks, auth or params of its own, the request is prepared here and handed
        to the session's adapter: the session's headers, cookies, proxies, CA bundle and
        certificate apply as they would, without the session's per-call merging of its
        settings (a third of the call's CPU).
        """
        session = self.session
        if (
            session.trust_env
            or session.auth is not None
            or session.params
            or any(session.hooks.values())
        ):
            return session.post(
                self.url(call),
                data=data,
                headers=self._headers(),
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,
            )
        url, auth = self._prepared_url(call)
        request = requests.PreparedRequest()
        request.prepare_method("POST")
        request.url = url
        # As the session merges them: its own headers, ours over them, None meaning unset.
        headers = CaseInsensitiveDict(
            (name, value) for name, value in session.headers.items() if value is not None
        )
        headers.update(self._headers())
        request.prepare_headers(headers)
        request.prepare_body(data, None)
        if auth is not None:
            request.prepare_auth(auth)
        if session.cookies:
            request.prepare_cookies(session.cookies)
        response = session.get_adapter(url).send(
            request,
            stream=True,
            timeout=self.timeout,
            verify=session.verify,
            cert=session.cert,
            proxies=resolve_proxies(request, session.proxies, False),
        )
        if "set-cookie" in response.headers:
            extract_cookies_to_jar(session.cookies, request, response.raw)
        return response

    def _prepared_url(self, call: str) -> tuple[str, tuple[str, str] | None]:
        """The call's URL as requests prepares it, and the credentials it carries, if any."""
        found = self._urls.get(call)
        if found is None:
            request = requests.PreparedRequest()
            request.prepare_url(self.url(call), None)
            url = request.url or self.url(call)
            credentials = get_auth_from_url(url)
            found = self._urls[call] = (url, credentials if any(credentials) else None)
        return found

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


def _raise_if_refused(envelope: Envelope) -> None:
    if envelope.code != 0:
        raise ApiError(
            envelope.code, envelope.message, http_status=envelope.http_status, data=envelope.data
        )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
