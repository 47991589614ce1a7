from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SandboxConfig(AppConfig):
    name = "laaffic_recall.sandbox"
    label = "laaffic_sandbox"
    verbose_name = _("LAAFFIC sandbox")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system check)
