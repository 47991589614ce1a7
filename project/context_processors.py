"""Template context of the bundled site."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.http import HttpRequest


def laaffic(request: HttpRequest) -> dict:
    """Whether the site talks to the local sandbox, for the admin header's SANDBOX badge."""
    uses_sandbox = False
    if apps.is_installed("laaffic_recall.sandbox"):
        from laaffic_recall.sandbox.conf import client_uses_sandbox

        uses_sandbox = client_uses_sandbox()
    recall = getattr(settings, "LAAFFIC_RECALL", None) or {}
    return {"laaffic_uses_sandbox": uses_sandbox, "laaffic_base_url": recall.get("BASE_URL", "")}
