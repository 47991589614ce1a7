"""What the admin tests share: the app's admin URLs, staff users with given permissions,
and the messages a request left."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from laaffic_recall.models import RecallNode, RecallTask

TASKS = reverse("admin:laaffic_recall_recalltask_changelist")
NODES = reverse("admin:laaffic_recall_recallnode_changelist")
ATTEMPTS = reverse("admin:laaffic_recall_cancelattempt_changelist")
BY_PARENT = reverse("admin:laaffic_recall_recalltask_cancel_by_parent")
VIEW_ALL = ["view_recalltask", "view_recallnode", "view_cancelattempt"]
# The cancel agent: sees every page of the app and may cancel.
AGENT_PERMISSIONS = [*VIEW_ALL, "cancel_recalltask"]


def staff(username: str, *codenames: str):
    """A staff user holding exactly these permissions of the app."""
    user = get_user_model().objects.create_user(username, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="laaffic_recall", codename__in=codenames)
    )
    return user


def logged_in(client, username: str, *codenames: str):
    """``client`` logged in as a new staff user holding exactly these permissions."""
    client.force_login(staff(username, *codenames))
    return client


def task_url(task: RecallTask) -> str:
    """The task's (read-only) change page."""
    return reverse("admin:laaffic_recall_recalltask_change", args=[task.pk])


def cancel_url(task: RecallTask) -> str:
    """The task page's "Cancel this task" button: its confirmation page."""
    return reverse("admin:laaffic_recall_recalltask_cancel", args=[task.pk])


def node_url(node: RecallNode) -> str:
    """A node's "Cancel from here" button: its confirmation page."""
    return reverse("admin:laaffic_recall_recalltask_cancel_from_node", args=[node.task_id, node.pk])


def last_message(response) -> tuple[int, str]:
    """The message this request added last (earlier, unread ones are consumed first)."""
    message = list(get_messages(response.wsgi_request))[-1]
    return message.level, str(message)
