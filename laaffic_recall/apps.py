from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LaafficRecallConfig(AppConfig):
    name = "laaffic_recall"
    verbose_name = _("LAAFFIC auto-recall")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .cancel.history import on_cancel_attempted
        from .cancel.reconcile import on_task_synced
        from .models import CancelAttempt, RecallTask
        from .signals import cancel_attempted, task_synced

        # Each sync of a task settles its cancel attempts left unknown or stale in flight.
        task_synced.connect(
            on_task_synced, sender=RecallTask, dispatch_uid="laaffic_recall.reconcile_cancels"
        )
        # Each finished attempt in the admin's own history of its task.
        cancel_attempted.connect(
            on_cancel_attempted, sender=CancelAttempt, dispatch_uid="laaffic_recall.history"
        )
