"""Template context of the bundled site."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.http import HttpRequest


def laaffic(request: HttpRequest) -> dict:
    """Whether the site talks to the local sandbox, and whether a fault of the sandbox is
    switched on, for the admin header's SANDBOX badge."""
    uses_sandbox = faults_on = False
    if apps.is_installed("laaffic_recall.sandbox"):
        from laaffic_recall.sandbox.conf import client_uses_sandbox
        from laaffic_recall.sandbox.faults import configured_faults

        uses_sandbox = client_uses_sandbox()
        # A switched-on fault makes cancels and syncs fail on purpose: the badge says so,
        # so an agent who sees failures knows why.
        faults_on = uses_sandbox and bool(configured_faults())
    recall = getattr(settings, "LAAFFIC_RECALL", None) or {}
    return {
        "laaffic_uses_sandbox": uses_sandbox,
        "laaffic_sandbox_faults_on": faults_on,
        "laaffic_base_url": recall.get("BASE_URL", ""),
    }
