"""The client's errors: the vocabulary the services speak.

Everything LAAFFIC or the network did is a ``LaafficError``: a refusal (``ApiError``)
carries the vendor's code, message and a plain-language hint; a ``TransportError`` (also a
``requests.RequestException``) carries the HTTP status and a short excerpt of the body,
and says whether the request may have reached LAAFFIC. A ``ConfigurationError`` is
deliberately outside that tree (it is Django's ``ImproperlyConfigured``), so a broad
``except LaafficError`` can never swallow a misconfiguration.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_noop

from .printable import printable


@dataclass(frozen=True)
class VendorCode:
    """What one of LAAFFIC's envelope codes means.

    ``hint`` is for whoever runs the site; ``next_step`` is for a support agent, marked for
    translation and translated where it is shown. ``site_fault``: the site's key, IP or
    clock is at fault, so every other call is refused alike.
    """

    name: str
    hint: str = ""
    next_step: str = ""
    site_fault: bool = False


_CREDENTIALS_STEP = gettext_noop(
    "the LAAFFIC credentials or allowed IPs of this site need fixing; tell your administrator"
)
VENDOR_CODES: dict[int, VendorCode] = {
    0: VendorCode("success"),
    -1: VendorCode(
        "authentication error",
        "LAAFFIC refused the credentials: check the API key and secret in LAAFFIC_RECALL.",
        _CREDENTIALS_STEP,
        site_fault=True,
    ),
    -2: VendorCode(
        "IP not allowed",
        "This server's IP address is not on the LAAFFIC account's IP allow-list.",
        _CREDENTIALS_STEP,
        site_fault=True,
    ),
    -16: VendorCode(
        "timestamp expired",
        "LAAFFIC says the request time is off: check this server's clock (NTP).",
        gettext_noop("this site's clock is off; tell your administrator; nothing was stopped"),
        site_fault=True,
    ),
    -18: VendorCode(
        "vendor program failure",
        "LAAFFIC reported an internal failure: try again later or contact LAAFFIC.",
        gettext_noop("LAAFFIC had a problem; try again in a minute"),
    ),
    -22: VendorCode(
        "parameter exception",
        "LAAFFIC rejected the request parameters: check the id and that the target exists.",
        gettext_noop("LAAFFIC refused the request; refresh the task to see its state"),
    ),
}
UNKNOWN_CODE = VendorCode(
    "unknown code",
    next_step=gettext_noop(
        "LAAFFIC refused the request; refresh the task to see its state, and tell your "
        "administrator if it happens again"
    ),
)


def vendor_code(code: int | None) -> VendorCode:
    """The meaning of ``code``; ``UNKNOWN_CODE`` for one LAAFFIC does not document."""
    return UNKNOWN_CODE if code is None else VENDOR_CODES.get(code, UNKNOWN_CODE)


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
        known = vendor_code(code)
        self.code_name, self.hint = known.name, known.hint
        text = f"LAAFFIC refused the request: code {code} ({self.code_name})"
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
