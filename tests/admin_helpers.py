"""What the admin tests share: the app's admin URLs and staff users with given permissions."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

TASKS = reverse("admin:laaffic_recall_recalltask_changelist")
NODES = reverse("admin:laaffic_recall_recallnode_changelist")
ATTEMPTS = reverse("admin:laaffic_recall_cancelattempt_changelist")
BY_PARENT = reverse("admin:laaffic_recall_recalltask_cancel_by_parent")
VIEW_ALL = ["view_recalltask", "view_recallnode", "view_cancelattempt"]


def staff(username: str, *codenames: str):
    """A staff user holding exactly these permissions of the app."""
    user = get_user_model().objects.create_user(username, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="laaffic_recall", codename__in=codenames)
    )
    return user
