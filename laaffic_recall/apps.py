from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LaafficRecallConfig(AppConfig):
    name = "laaffic_recall"
    verbose_name = _("LAAFFIC auto-recall")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
