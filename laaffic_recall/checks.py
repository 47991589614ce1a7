"""System checks for the LAAFFIC_RECALL setting: warnings, so ``migrate`` still runs."""

from __future__ import annotations

from django.core.checks import Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from .chain import chain_key
from .conf import DEFAULTS, SETTING_NAME, app_settings, problems
from .verify import broken_seals


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


@register(Tags.database)
def check_seals(app_configs=None, databases=None, **kwargs) -> list[Warning]:
    """W008 when open cancel attempts do not match their seals (run with ``--database``)."""
    if not databases:
        return []
    try:
        broken = broken_seals()
    except DatabaseError:  # not migrated yet
        return []
    if not broken:
        return []
    shown = ", ".join(str(pk) for pk in broken[:10])
    return [
        Warning(
            f"{len(broken)} open cancel attempt(s) do not match their seal (first: {shown}): "
            "they were inserted or changed outside the app, which will not settle them.",
            hint="Run manage.py laaffic_audit_verify and compare these rows with your own "
            "records; see the operators' notes on the audit chain.",
            id="laaffic_recall.W008",
        )
    ]
