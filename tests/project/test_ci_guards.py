"""The CI guards, under pytest-xdist as CI runs them: with LAAFFIC_POSTGRES_REQUIRED=1 a run
that is not on PostgreSQL fails, and a ``postgres``-marked test that skips fails."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.db import connection

pytestmark = pytest.mark.slow  # each test runs pytest in a fresh interpreter

ROOT = Path(__file__).resolve().parents[2]


def run_pytest(*args: str, **env: str) -> subprocess.CompletedProcess:
    """pytest in a fresh interpreter, with two xdist workers, as configured in pyproject."""
    environment = {k: v for k, v in os.environ.items() if k != POSTGRES_REQUIRED} | env
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


POSTGRES_REQUIRED = "LAAFFIC_POSTGRES_REQUIRED"
on_sqlite = pytest.mark.skipif(
    connection.vendor == "postgresql", reason="the guard is about SQLite runs"
)


@on_sqlite
def test_requiring_postgres_fails_a_run_on_sqlite():
    result = run_pytest("tests/client/test_fips.py", LAAFFIC_POSTGRES_REQUIRED="1")
    assert result.returncode != 0
    assert (
        "LAAFFIC_POSTGRES_REQUIRED=1 but the tests run on sqlite" in result.stdout + result.stderr
    )


@on_sqlite
def test_without_the_variable_the_postgres_tests_skip_on_sqlite():
    result = run_pytest("tests/cancel/test_concurrency.py", "-m", "postgres")
    assert result.returncode == 0, result.stdout[-2000:]
    assert "skipped" in result.stdout and "failed" not in result.stdout


@pytest.mark.postgres
def test_a_postgres_test_that_skips_fails_when_postgres_is_required(tmp_path):
    (tmp_path / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    (tmp_path / "test_skipping.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.postgres
            def test_skips_on_postgres_too():
                pytest.skip("something missing")

            def test_runs():
                pass
            """
        )
    )
    result = run_pytest("-c", "pyproject.toml", str(tmp_path), LAAFFIC_POSTGRES_REQUIRED="1")
    assert result.returncode == 1, result.stdout[-2000:]
    assert "1 failed, 1 passed" in result.stdout
    assert "skipped although LAAFFIC_POSTGRES_REQUIRED=1: " in result.stdout
    assert "something missing" in result.stdout
