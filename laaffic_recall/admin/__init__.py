"""Django admin for the mirror (read-only), the cancel actions, and the audit log.

Importing it registers the four model admins on ``admin.site``; a host project's own
admin site can register the same classes (see the README).
"""

from .audit import CancelAttemptAdmin
from .mirror import RecallNodeAdmin, RecallTaskAdmin
from .syncruns import SyncRunAdmin

__all__ = ["CancelAttemptAdmin", "RecallNodeAdmin", "RecallTaskAdmin", "SyncRunAdmin"]
