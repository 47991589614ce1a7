"""The one place that reads the ``LAAFFIC_RECALL`` setting.

Values are looked up at call time, never frozen at import, so ``override_settings`` in
tests and in host projects takes effect at once; numbers come converted to the type of
their default. What keeps the app from working as configured is worded here once, for
the system checks and for a sync or cancel that fails fast.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

from .client.errors import ConfigurationError
from .client.http import LaafficClient, configuration_problems

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
    "SYNC_WINDOW_HOURS": 24.0,
    # Most tasks the admin's "Refresh from LAAFFIC" action re-reads in one request.
    "MAX_REFRESH_BATCH": 100,
    # Most targets one admin cancel action handles, and how many run at once.
    "MAX_CANCEL_BATCH": 50,
    "CANCEL_WORKERS": 4,
    # Seconds after which one cancel action starts no new target (those are recorded as
    # not sent), so an action with a stalled LAAFFIC ends before a proxy gives up on it.
    "ACTION_TIME_BUDGET": 60.0,
    # A cancel attempt still pending after this many seconds is shown as unknown.
    "STALE_ATTEMPT_SECONDS": 300,
    # A parent task id typed by hand is looked up among the tasks created this many days
    # back (queryPage's creation window) before it is cancelled.
    "PARENT_LOOKUP_DAYS": 30,
    # Number of reverse proxies in front of the site whose X-Forwarded-For is trusted
    # for the audit log's client IP. 0 means REMOTE_ADDR only.
    "TRUSTED_PROXY_COUNT": 0,
    # Key of the HMAC chain over finished audit rows (text or bytes). Keep it outside the
    # database's reach; without it new rows are written unchained (check W007).
    "AUDIT_CHAIN_KEY": "",
    # Sync runs older than this many days are deleted by the sync itself.
    "SYNC_RUNS_KEEP_DAYS": 30,
    # The task list warns when the last successful sync is older than this many minutes.
    "SYNC_STALE_MINUTES": 60,
    # How long a sync's lock lasts unless renewed: a scheduler that died frees it after this.
    "SYNC_LOCK_SECONDS": 900,
    # A sentence laaffic_sync adds when nothing answers at BASE_URL (connection refused):
    # how to point a shell at the right address. The bundled site sets one for its sandbox.
    "UNREACHABLE_HINT": "",
}


class DictSetting:
    """Attribute access to one dict-valued Django setting, merged over its defaults on
    each read (so ``override_settings`` applies at once). A value whose default is a
    number is converted to that number's type; one that does not convert raises
    ``ImproperlyConfigured`` naming the key. Keys in ``nullable`` may also be None. The
    sandbox reuses this class for its own setting."""

    def __init__(self, setting_name: str, defaults: dict[str, Any], nullable: Collection[str] = ()):
        self._name = setting_name
        self._defaults = defaults
        self._nullable = frozenset(nullable)

    def _user_settings(self) -> dict[str, Any]:
        value = getattr(django_settings, self._name, None)
        return value if isinstance(value, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._defaults:
            raise AttributeError(f"Unknown {self._name} setting: {name}")
        default = self._defaults[name]
        value = self._user_settings().get(name, default)
        if value is None and name in self._nullable:
            return None
        if isinstance(default, bool) or not isinstance(default, int | float):
            return value  # text and flags: the system checks say what is wrong with them
        try:
            return _number(value, type(default))
        except (TypeError, ValueError, OverflowError):
            kind = "a whole number" if isinstance(default, int) else "a number"
            raise ImproperlyConfigured(
                f"{self._name}[{name!r}] must be {kind}, like the default {default!r}, "
                f"not {value!r}."
            ) from None


def _number(value: Any, kind: type) -> int | float:
    """``value`` as an int or a float: numbers and numeric text, never a bool or NaN."""
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, str):
        value = float(value.strip()) if kind is float else int(value.strip())
    number = float(value)  # TypeError for anything that is no number
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(value)
    if kind is int:
        if not number.is_integer():
            raise ValueError(value)
        return int(value)
    return number


app_settings = DictSetting(SETTING_NAME, DEFAULTS)


@dataclass(frozen=True)
class Problem:
    """One thing that keeps the app from working as configured, with how to mend it."""

    check_id: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.message} {self.hint}"


# The client's argument, the check id, the setting key and the bundled site's variable.
CLIENT_SETTINGS = {
    "api_key": ("laaffic_recall.W001", "API_KEY", "LAAFFIC_API_KEY"),
    "api_secret": ("laaffic_recall.W002", "API_SECRET", "LAAFFIC_API_SECRET"),
    "product": ("laaffic_recall.W003", "PRODUCT", "LAAFFIC_PRODUCT"),
    "base_url": ("laaffic_recall.W004", "BASE_URL", "LAAFFIC_BASE_URL"),
}


def _client_problems(arguments: dict[str, Any]) -> list[Problem]:
    found = []
    for name, message in configuration_problems(**arguments).items():
        check_id, key, variable = CLIENT_SETTINGS[name]
        hint = f"Set {SETTING_NAME}[{key!r}] ({variable} in the bundled site)."
        found.append(Problem(check_id, message, hint))
    return found


def problems() -> list[Problem]:
    """Every configuration problem, for the system checks and to fail fast at run time."""
    found = _client_problems(
        {name: getattr(app_settings, key) for name, (_id, key, _var) in CLIENT_SETTINGS.items()}
    )
    try:
        remote_timezone()
    except ConfigurationError:
        found.append(_unknown_zone(app_settings.REMOTE_TIMEZONE))
    return found


def remote_timezone() -> tzinfo:
    """REMOTE_TIMEZONE as a time zone; an unknown name raises ``ConfigurationError`` with
    the hint (never a bare ``ZoneInfoNotFoundError``)."""
    value = app_settings.REMOTE_TIMEZONE
    if isinstance(value, tzinfo):
        return value
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ConfigurationError(str(_unknown_zone(value))) from None


def _unknown_zone(value: Any) -> Problem:
    return Problem(
        "laaffic_recall.W005",
        f"Unknown LAAFFIC remote time zone {value!r}.",
        f"Set {SETTING_NAME}['REMOTE_TIMEZONE'] to an IANA time zone name such as 'UTC' or "
        "'Asia/Shanghai' (LAAFFIC_REMOTE_TIMEZONE in the bundled site).",
    )


@sensitive_variables("options", "overrides")
def get_client(**overrides: Any) -> LaafficClient:
    """A LAAFFIC client from the current settings; a configuration problem raises
    ``ConfigurationError`` with its hint before anything is sent."""
    options = {
        "api_key": app_settings.API_KEY,
        "api_secret": app_settings.API_SECRET,
        "base_url": app_settings.BASE_URL,
        "product": app_settings.PRODUCT,
        "connect_timeout": app_settings.CONNECT_TIMEOUT,
        "read_timeout": app_settings.READ_TIMEOUT,
        "read_retries": app_settings.READ_RETRIES,
        "retry_backoff": app_settings.RETRY_BACKOFF,
        "max_retry_after": app_settings.MAX_RETRY_AFTER,
        "max_response_bytes": app_settings.MAX_RESPONSE_BYTES,
    }
    options.update(overrides)
    found = _client_problems({name: options[name] for name in CLIENT_SETTINGS})
    if found:
        raise ConfigurationError(" ".join(str(problem) for problem in found))
    return LaafficClient(**options)
