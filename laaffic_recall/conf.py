"""The one place that reads the ``LAAFFIC_RECALL`` setting.

Values are looked up at call time, never frozen at import, so ``override_settings``
in tests and in host projects takes effect immediately.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings as django_settings
from django.utils.translation import gettext

SETTING_NAME = "LAAFFIC_RECALL"

DEFAULTS: dict[str, Any] = {
    # Credentials of the LAAFFIC account (Api-Key header; the secret only signs).
    "API_KEY": "",
    "API_SECRET": "",
    "BASE_URL": "https://api.laaffic.com",
    # "ai_agent" (/voice/recallFlow/...) or "ivr" (/v3/voice/recallFlow/...).
    "PRODUCT": "ai_agent",
    # Seconds; every request carries both.
    "CONNECT_TIMEOUT": 5.0,
    "READ_TIMEOUT": 20.0,
    # Read calls (queryPage, queryDetail) only; cancel is never retried.
    "READ_RETRIES": 2,
    "RETRY_BACKOFF": 0.5,
    # Longest Retry-After (seconds) a read honours before giving up.
    "MAX_RETRY_AFTER": 10.0,
    # Largest response body read, in bytes; larger is a transport error.
    "MAX_RESPONSE_BYTES": 2_000_000,
    # Zone in which the vendor's naive "YYYY-MM-DD HH:mm:ss" times are interpreted: an
    # IANA name (or a tzinfo). An unknown name is check W005 and fails a sync fast.
    "REMOTE_TIMEZONE": "UTC",
    # Parallel queryDetail calls during a sync.
    "SYNC_WORKERS": 8,
    # A sync window longer than this many hours is split into windows of this size.
    "SYNC_WINDOW_HOURS": 24,
    # Most tasks the admin's "Refresh from LAAFFIC" action re-reads in one request.
    "MAX_REFRESH_BATCH": 100,
    # Most targets one admin cancel action handles, and how many run at once.
    "MAX_CANCEL_BATCH": 50,
    "CANCEL_WORKERS": 4,
    # A cancel attempt still pending after this many seconds is shown as unknown.
    "STALE_ATTEMPT_SECONDS": 300,
    # A parent task id typed by hand is looked up among the tasks created this many days
    # back (queryPage's creation window) before it is cancelled.
    "PARENT_LOOKUP_DAYS": 30,
    # Number of reverse proxies in front of the site whose X-Forwarded-For is trusted
    # for the audit log's client IP. 0 means REMOTE_ADDR only.
    "TRUSTED_PROXY_COUNT": 0,
}


class DictSetting:
    """Attribute access to one dict-valued Django setting, merged over its defaults on
    each read (so ``override_settings`` applies at once). The sandbox reuses it."""

    def __init__(self, setting_name: str, defaults: dict[str, Any]):
        self._name = setting_name
        self._defaults = defaults

    def _user_settings(self) -> dict[str, Any]:
        value = getattr(django_settings, self._name, None)
        return value if isinstance(value, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._defaults:
            raise AttributeError(f"Unknown {self._name} setting: {name}")
        return self._user_settings().get(name, self._defaults[name])


app_settings = DictSetting(SETTING_NAME, DEFAULTS)


def get_client(**overrides: Any):
    """Build a LAAFFIC client from the current settings (fails fast when misconfigured)."""
    from .client import LaafficClient

    options = {
        "api_key": app_settings.API_KEY,
        "api_secret": app_settings.API_SECRET,
        "base_url": app_settings.BASE_URL,
        "product": app_settings.PRODUCT,
        "connect_timeout": float(app_settings.CONNECT_TIMEOUT),
        "read_timeout": float(app_settings.READ_TIMEOUT),
        "read_retries": int(app_settings.READ_RETRIES),
        "retry_backoff": float(app_settings.RETRY_BACKOFF),
        "max_retry_after": float(app_settings.MAX_RETRY_AFTER),
        "max_response_bytes": int(app_settings.MAX_RESPONSE_BYTES),
    }
    options.update(overrides)
    return LaafficClient(**options)


def remote_timezone_hint() -> str:
    return gettext(
        "Set %(setting)s['REMOTE_TIMEZONE'] to an IANA time zone name such as 'UTC' or "
        "'Asia/Shanghai' (LAAFFIC_REMOTE_TIMEZONE in the bundled site)."
    ) % {"setting": SETTING_NAME}


def remote_timezone() -> tzinfo:
    """REMOTE_TIMEZONE as a time zone; an unknown name raises the client's
    ``ConfigurationError`` with the hint (never a bare ``ZoneInfoNotFoundError``)."""
    value = app_settings.REMOTE_TIMEZONE
    if isinstance(value, tzinfo):
        return value
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        from .client import ConfigurationError

        raise ConfigurationError(
            gettext("Unknown LAAFFIC remote time zone %(value)r.") % {"value": value}
            + " "
            + remote_timezone_hint()
        ) from None
