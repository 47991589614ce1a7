"""Mirror in: LAAFFIC's recall tasks and node lists into the local models.

The public API: ``sync_tasks``, ``sync_task_details``, ``sync_recent`` and what they
return. Inside the app every name is imported from the module that defines it.
"""

from .results import SyncFailure, SyncProgress, SyncSummary
from .service import sync_recent, sync_task_details, sync_tasks

__all__ = [
    "SyncFailure",
    "SyncProgress",
    "SyncSummary",
    "sync_recent",
    "sync_task_details",
    "sync_tasks",
]
