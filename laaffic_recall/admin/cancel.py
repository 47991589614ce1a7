"""Cancel actions, confirmation views and buttons, mixed into the task and node admins."""


class TaskCancelAdminMixin:
    """Cancel actions for ``RecallTaskAdmin`` (cancel_tasks, cancel_tasks_by_parent)."""

    cancel_actions: list[str] = []


class NodeCancelAdminMixin:
    """Cancel action for ``RecallNodeAdmin`` (cancel_from_node)."""

    cancel_actions: list[str] = []
