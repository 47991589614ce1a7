"""Transactions shared by the layers."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.db import transaction


def savepoint_if_nested(using: str | None = None) -> AbstractContextManager[Any]:
    """Around writes or reads that may fail: inside a caller's transaction a savepoint, so
    that a failure leaves that transaction usable; nothing in autocommit, where each
    statement commits or fails on its own."""
    if transaction.get_connection(using).in_atomic_block:
        return transaction.atomic(using=using)
    return nullcontext()
