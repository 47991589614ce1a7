"""Act out: cancel LAAFFIC auto-recall tasks for a person, audited (see the README).

The public API: ``cancel``, ``cancel_blockers``, their inputs (``CancelTarget``,
``Submission``), results and errors. Inside the app every name is imported from the
module that defines it.
"""

from .audit import Submission
from .results import AttemptResult, CancelBlocker, CancelReport, CancelTarget
from .service import BatchTooLarge, CancelInTransactionError, cancel, cancel_blockers

__all__ = [
    "AttemptResult",
    "BatchTooLarge",
    "CancelBlocker",
    "CancelInTransactionError",
    "CancelReport",
    "CancelTarget",
    "Submission",
    "cancel",
    "cancel_blockers",
]
