"""Django admin for the mirror (read-only), the cancel actions, and the audit log."""

from . import audit, tasks  # noqa: F401  (registers the ModelAdmins)
