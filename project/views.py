"""Pages of the bundled site outside the app's admin."""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _


def sandbox_faults(request: HttpRequest) -> HttpResponse:
    """The sandbox's faults switched on, for any staff user (the header's "faults on" tag
    links here); those who may change them also get a link to the faults' admin."""
    faults = []
    if apps.is_installed("laaffic_recall.sandbox"):
        from laaffic_recall.sandbox.faults import configured_faults
        from laaffic_recall.sandbox.models import FaultKind, FaultWhen

        for fault in configured_faults():
            faults.append(
                {
                    "kind": FaultKind(fault.kind).label,
                    "when": FaultWhen(fault.when).label,
                    "calls": ", ".join(sorted(fault.calls)),
                    "ids": ", ".join(str(i) for i in sorted(fault.ids)),
                }
            )
    context = {
        **admin.site.each_context(request),
        "title": _("Sandbox faults switched on"),
        "faults": faults,
        "can_change": request.user.has_perm("laaffic_sandbox.change_sandboxfault"),
    }
    return TemplateResponse(request, "admin/sandbox_faults.html", context)
