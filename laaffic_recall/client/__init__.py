"""A small, Django-free client for the LAAFFIC auto-recall API.

The public API: ``LaafficClient``, what its calls return, and its errors. Inside the app
every name is imported from the module that defines it.
"""

from .errors import (
    ApiError,
    ConfigurationError,
    LaafficError,
    OutcomeUnknownError,
    ProtocolError,
    TransportError,
)
from .http import LaafficClient
from .wire import CancelResult, NodeRecord, Page, TaskDetail, TaskRecord

__all__ = [
    "ApiError",
    "CancelResult",
    "ConfigurationError",
    "LaafficClient",
    "LaafficError",
    "NodeRecord",
    "OutcomeUnknownError",
    "Page",
    "ProtocolError",
    "TaskDetail",
    "TaskRecord",
    "TransportError",
]
