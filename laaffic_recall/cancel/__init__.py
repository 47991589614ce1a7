"""Act out: cancel LAAFFIC auto-recall tasks for a person, audited.

The public API: ``cancel``, ``blocking_attempts``, their inputs (``CancelTarget``,
``Submission``), results and errors. Inside the app every name is imported from the
module that defines it.
"""

from .audit import Submission, blocking_attempts
from .results import AttemptResult, BlockingAttempt, CancelReport, CancelTarget
from .service import BatchTooLarge, CancelInTransactionError, cancel

__all__ = [
    "AttemptResult",
    "BatchTooLarge",
    "BlockingAttempt",
    "CancelInTransactionError",
    "CancelReport",
    "CancelTarget",
    "Submission",
    "blocking_attempts",
    "cancel",
]
