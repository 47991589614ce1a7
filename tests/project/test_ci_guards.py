"""The CI guard: with LAAFFIC_POSTGRES_REQUIRED=1 a run that is not on PostgreSQL fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def run_pytest(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | env
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the guard is about SQLite runs")
def test_requiring_postgres_fails_a_run_on_sqlite():
    result = run_pytest("tests/client/test_fips.py", LAAFFIC_POSTGRES_REQUIRED="1")
    assert result.returncode != 0
    assert (
        "LAAFFIC_POSTGRES_REQUIRED=1 but the tests run on sqlite" in result.stdout + result.stderr
    )


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the guard is about SQLite runs")
def test_without_the_variable_the_postgres_tests_skip_on_sqlite():
    result = run_pytest("tests/cancel/test_concurrency.py", "-m", "postgres")
    assert result.returncode == 0, result.stdout[-2000:]
    assert "skipped" in result.stdout and "failed" not in result.stdout
