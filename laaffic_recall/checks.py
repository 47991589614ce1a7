"""System checks for the LAAFFIC_RECALL setting: warnings, so ``migrate`` still runs."""

from __future__ import annotations

from django.core.checks import Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .chain import chain_key
from .conf import DEFAULTS, SETTING_NAME, app_settings, problems


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs) -> list[Warning]:
    """W001-W005 (see ``conf.problems``), W006 for a value of the wrong type, and W007
    when no audit chain key is set."""
    warnings = []
    for key in DEFAULTS:
        try:
            getattr(app_settings, key)
        except ImproperlyConfigured as exc:
            warnings.append(
                Warning(
                    str(exc),
                    hint=f"Correct {SETTING_NAME}[{key!r}] or remove it to use the default.",
                    id="laaffic_recall.W006",
                )
            )
    warnings += [Warning(p.message, hint=p.hint, id=p.check_id) for p in problems()]
    if chain_key() is None:
        warnings.append(
            Warning(
                "No audit chain key is set: new cancel attempts are written unchained, and "
                "nothing would show that one was altered.",
                hint=f"Set {SETTING_NAME}['AUDIT_CHAIN_KEY'] to a long random secret kept "
                "outside the database (LAAFFIC_AUDIT_CHAIN_KEY in the bundled site).",
                id="laaffic_recall.W007",
            )
        )
    return warnings
