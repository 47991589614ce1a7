from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

from .views import sandbox_faults

admin.site.site_header = _("LAAFFIC auto-recall")
admin.site.site_title = _("LAAFFIC auto-recall admin")

urlpatterns = [
    # Before the admin's own URLs, which would take any path under admin/.
    path(
        "admin/sandbox-faults/",
        admin.site.admin_view(sandbox_faults),
        name="laaffic_sandbox_faults",
    ),
    path("admin/", admin.site.urls),
    # The language switch in the admin header posts here.
    path("i18n/", include("django.conf.urls.i18n")),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
if getattr(settings, "LAAFFIC_SANDBOX_SERVED", True):
    # The local LAAFFIC stand-in (see laaffic_recall.sandbox); the demo talks to it.
    urlpatterns.insert(1, path("sandbox/", include("laaffic_recall.sandbox.urls")))
