"""The one place that reads the ``LAAFFIC_SANDBOX`` setting (at call time, never frozen)."""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

from ..conf import DictSetting

SETTING_NAME = "LAAFFIC_SANDBOX"

ENVELOPES = ("code", "status", "status_str")

DEFAULTS: dict[str, Any] = {
    # The credentials the sandbox accepts (Api-Key header; the secret only checks Sign).
    "API_KEY": "sandbox-demo-key",
    "API_SECRET": "sandbox-demo-secret",
    # A Timestamp further than this many seconds from the sandbox's clock gets -16.
    # None switches the check off (e.g. to replay the vendor's documented test vector).
    "MAX_SKEW_SECONDS": 300,
    # Response envelope: "code" -> {"code": 0, "msg": ...}, "status" -> {"status": 0,
    # "reason": ...}, "status_str" -> {"status": "0", "reason": ...}.
    "ENVELOPE": "code",
    # Zone in which createTime is written and strTime/endTime are read (naive strings);
    # match it with LAAFFIC_RECALL["REMOTE_TIMEZONE"].
    "TIMEZONE": "UTC",
    # Code and message of a cancel that the target's state does not allow. The vendor does
    # not document it; any non-zero code must be handled as a refusal by a client.
    "REFUSAL_CODE": -22,
    # Faults injected on every process, as dicts with the fields of SandboxFault:
    # {"kind": "latency"|"timeout"|"html_502"|"empty"|"code", "calls": ["cancel"],
    #  "ids": [100123], "seconds": 2.0, "when": "after"|"before", "code": -18}.
    "FAULTS": [],
    # Seconds a "timeout" fault sleeps when it names none: longer than the client's
    # default read timeout (20 s).
    "TIMEOUT_SECONDS": 30.0,
    # Keep a SandboxCall row per request (what was asked and answered; never the Sign).
    "LOG_CALLS": True,
}


# Read at call time, like the app's own settings.
sandbox_settings = DictSetting(SETTING_NAME, DEFAULTS, nullable={"MAX_SKEW_SECONDS"})


def client_uses_sandbox() -> bool:
    """True when the site's ``LAAFFIC_RECALL`` credentials are the sandbox's own.

    The bundled site uses this to show its SANDBOX badge and the demo to decide whether it
    may seed: with real LAAFFIC credentials configured, nothing is seeded.
    """
    recall = getattr(django_settings, "LAAFFIC_RECALL", None)
    if not isinstance(recall, dict):
        return False
    key, secret = recall.get("API_KEY"), recall.get("API_SECRET")
    return bool(key) and (key, secret) == (
        sandbox_settings.API_KEY,
        sandbox_settings.API_SECRET,
    )
