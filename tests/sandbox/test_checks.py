"""The sandbox's system check: SQLite without write locks that wait is flagged."""

from __future__ import annotations

import pytest
from django.db import connection

from laaffic_recall.sandbox.checks import sqlite_lock_problem
from tests.support.checks import checks_without_database


@pytest.mark.parametrize(
    "options",
    [{}, {"timeout": 20}, {"transaction_mode": "DEFERRED"}, {"transaction_mode": None}],
    ids=["defaults", "timeout only", "deferred", "none"],
)
def test_sqlite_with_deferred_transactions_is_a_warning_with_the_options_to_set(options):
    [warning] = sqlite_lock_problem("sqlite", options)

    assert warning.id == "laaffic_sandbox.W001"
    assert warning.is_serious() is False  # a warning: migrate still runs
    assert "database is locked" in warning.msg
    assert '"transaction_mode": "IMMEDIATE"' in warning.hint


@pytest.mark.parametrize(
    ("vendor", "options"),
    [
        ("sqlite", {"transaction_mode": "IMMEDIATE", "timeout": 20}),
        ("sqlite", {"transaction_mode": "immediate"}),
        ("postgresql", {}),
        ("mysql", {}),
    ],
)
def test_immediate_sqlite_and_other_databases_pass(vendor, options):
    assert sqlite_lock_problem(vendor, options) == []


def test_the_check_reads_the_sandbox_database_settings(monkeypatch):
    def sandbox_warnings():
        return [m.id for m in checks_without_database("laaffic_sandbox.")]

    # The bundled site (SQLite with IMMEDIATE, or PostgreSQL) is fine as configured.
    assert sandbox_warnings() == []

    monkeypatch.setattr(connection, "vendor", "sqlite")
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", {"timeout": 5})
    assert sandbox_warnings() == ["laaffic_sandbox.W001"]
