"""What a sync reports: its summary, its progress, and each failure (frozen results)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SyncFailure:
    """One page, list record or detail that could not be read or stored."""

    what: str  # "page", "task" (a list record) or "detail"
    key: str  # the window and page number, or the task key
    message: str

    def __str__(self) -> str:
        return f"{self.what} {self.key}: {self.message}"


@dataclass(frozen=True)
class SyncProgress:
    """Where a running sync is, reported after each page and each detail received.

    ``pages_total`` counts only the windows already opened; ``details_total`` grows as
    pages reveal tasks to read.
    """

    windows_done: int
    windows_total: int
    pages_done: int
    pages_total: int
    details_done: int
    details_total: int


@dataclass(frozen=True)
class SyncSummary:
    tasks_seen: int = 0
    tasks_created: int = 0
    tasks_updated: int = 0
    nodes_created: int = 0
    nodes_updated: int = 0
    nodes_removed: int = 0
    details_fetched: int = 0
    pages_fetched: int = 0
    windows: int = 0
    failures: tuple[SyncFailure, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def changed(self) -> bool:
        return any(
            (
                self.tasks_created,
                self.tasks_updated,
                self.nodes_created,
                self.nodes_updated,
                self.nodes_removed,
            )
        )
