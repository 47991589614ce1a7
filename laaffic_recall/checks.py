"""System checks for the LAAFFIC_RECALL setting. Warnings, so ``migrate`` still runs."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.checks import Tags, Warning, register

from .client import PRODUCT_PATHS, ConfigurationError
from .conf import SETTING_NAME, app_settings, remote_timezone, remote_timezone_hint


def configuration_problems() -> list[Warning]:
    """Every configuration problem, as check messages (also used to fail fast at run time)."""
    problems = []
    if not str(app_settings.API_KEY or "").strip():
        problems.append(
            Warning(
                "The LAAFFIC API key is not set.",
                hint=f"Set {SETTING_NAME}['API_KEY'] (LAAFFIC_API_KEY in the bundled site).",
                id="laaffic_recall.W001",
            )
        )
    if not str(app_settings.API_SECRET or "").strip():
        problems.append(
            Warning(
                "The LAAFFIC API secret is not set.",
                hint=f"Set {SETTING_NAME}['API_SECRET'] (LAAFFIC_API_SECRET in the bundled site).",
                id="laaffic_recall.W002",
            )
        )
    if app_settings.PRODUCT not in PRODUCT_PATHS:
        problems.append(
            Warning(
                f"Unknown LAAFFIC product {app_settings.PRODUCT!r}.",
                hint=f"Set {SETTING_NAME}['PRODUCT'] to one of: {', '.join(PRODUCT_PATHS)}.",
                id="laaffic_recall.W003",
            )
        )
    parts = urlsplit(str(app_settings.BASE_URL or ""))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(
            Warning(
                f"The LAAFFIC base URL {app_settings.BASE_URL!r} is not an http(s) URL.",
                hint=f"Set {SETTING_NAME}['BASE_URL'], e.g. 'https://api.laaffic.com'.",
                id="laaffic_recall.W004",
            )
        )
    try:
        remote_timezone()
    except ConfigurationError:
        problems.append(
            Warning(
                f"The LAAFFIC remote time zone {app_settings.REMOTE_TIMEZONE!r} is unknown.",
                hint=remote_timezone_hint(),
                id="laaffic_recall.W005",
            )
        )
    return problems


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs) -> list[Warning]:
    return configuration_problems()
