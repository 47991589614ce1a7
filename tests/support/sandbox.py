"""Short names of the sandbox's task and node statuses, for tables of statuses in tests."""

from __future__ import annotations

from laaffic_recall.sandbox.testing import Status

P, R, C, X, E = (
    Status.PENDING,
    Status.IN_PROGRESS,
    Status.COMPLETED,
    Status.CANCELLED,
    Status.EXCEPTION,
)
