"""Django admin for the mirror (read-only), the cancel actions, and the audit log.

Importing it registers the four model admins on ``admin.site``; a host project's own
admin site can register the same classes (see the docs: Customising the admin).
"""

from .attempts import CancelAttemptAdmin
from .syncruns import SyncRunAdmin
from .tasks import RecallNodeAdmin, RecallTaskAdmin

__all__ = ["CancelAttemptAdmin", "RecallNodeAdmin", "RecallTaskAdmin", "SyncRunAdmin"]
