"""The client's errors: the vocabulary the services speak.

Everything LAAFFIC or the network did is a ``LaafficError``: a refusal (``ApiError``)
carries the vendor's code, message and a plain-language hint; a ``TransportError`` (also a
``requests.RequestException``) carries the HTTP status and a short excerpt of the body,
and says whether the request may have reached LAAFFIC. A ``ConfigurationError`` is
deliberately outside that tree (it is Django's ``ImproperlyConfigured``), so a broad
``except LaafficError`` can never swallow a misconfiguration.
"""

from __future__ import annotations

import requests
from django.core.exceptions import ImproperlyConfigured

from .printable import printable

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


class ConfigurationError(ImproperlyConfigured):
    """The client cannot be used as configured (missing key, unknown product, bad URL)."""


class LaafficError(Exception):
    """Base of every error that LAAFFIC or the network caused."""


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
            text += f": {printable(message)}"
        if self.hint:
            text += f". {self.hint}"
        super().__init__(text)


class TransportError(LaafficError, requests.RequestException):
    """No usable API answer: network failure, non-2xx HTTP, or a body that is not the envelope.

    Also a ``requests.RequestException`` so callers may catch it as the network
    library's error. ``sent`` is False when the request certainly never reached the
    server (refused connection, DNS, connect timeout, TLS). ``refused`` is True when the
    address answered that nothing listens there (connection refused): no call to it can
    work until something is started there or the address is corrected. ``retry_after`` is
    the seconds an HTTP 429 asked to wait, when it said.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        body_excerpt: str = "",
        sent: bool = True,
        cause: BaseException | None = None,
        retry_after: float | None = None,
        refused: bool = False,
    ):
        self.refused = refused
        self.http_status = http_status
        self.body_excerpt = body_excerpt
        self.sent = sent
        self.cause = cause
        self.retry_after = retry_after
        super().__init__(message)


class ProtocolError(TransportError):
    """A 2xx answer whose body is not a LAAFFIC envelope (HTML, empty, no code, ...)."""


class OutcomeUnknownError(TransportError):
    """A cancel that may have reached LAAFFIC but got no clear answer (never resend blindly)."""
