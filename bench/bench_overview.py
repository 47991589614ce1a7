"""Benchmark the admin overview (the app's landing page) at production size.

Fills a throwaway database (SQLite in a temporary directory, or the PostgreSQL database
named by ``--database-url``, which it empties first) with N tasks created over the last
30 days (3 nodes each), M cancel attempts over the last year, and a few sync runs; then
renders ``/admin/laaffic_recall/`` as a support agent R times and prints p50/p95 and the
number of database queries per page.

Run from the repository root::

    .venv/bin/python bench/bench_overview.py [--tasks 100000] [--attempts 1000000]
        [--requests 50] [--database-url postgres://...] [--no-fill]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 5000
# LAAFFIC's answer code by outcome (none for a skipped target: nothing was sent).
RESPONSE_CODES = {"skipped": None, "succeeded": 0, "refused": -22, "failed": -16}


def parse_args(
    nodes: int = 3, requests: int = 50, only: bool = False, description: str | None = None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description or __doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--nodes", type=int, default=nodes, help="Nodes per task.")
    parser.add_argument("--requests", type=int, default=requests)
    parser.add_argument("--database-url", help="A database to fill (emptied first).")
    parser.add_argument(
        "--no-fill", action="store_true", help="Measure the database as an earlier run left it."
    )
    parser.add_argument("--verbose", action="store_true", help="Print each page's queries.")
    if only:
        parser.add_argument(
            "--only", action="append", help="Only the pages whose label contains this text."
        )
    return parser.parse_args()


def setup(args) -> None:
    sys.path.insert(0, str(ROOT))
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    else:
        directory = tempfile.mkdtemp(prefix="laaffic-bench-")
        os.environ["DATABASE_URL"] = f"sqlite:///{directory}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from laaffic_recall.guards import guards_lifted

    call_command("migrate", verbosity=0)
    if not args.no_fill:
        with guards_lifted(connection):  # the owner empties the audit log too
            call_command("flush", interactive=False, verbosity=0)


def fill(args) -> None:
    from django.conf import settings
    from django.test.utils import override_settings
    from django.utils import timezone

    from laaffic_recall.models import (
        CancelAttempt,
        CancelType,
        Outcome,
        RecallNode,
        RecallTask,
        SyncRun,
    )

    rng = random.Random(12)
    now = timezone.now()
    started = time.perf_counter()
    for first in range(0, args.tasks, BATCH):
        keys = range(first + 1, min(first + BATCH, args.tasks) + 1)
        tasks = RecallTask.objects.bulk_create(
            RecallTask(
                key_id=key,
                parent_task_id=10_000_000 + key // 3,
                task_name=f"Campaign {key}",
                created_at_remote=now - timedelta(seconds=rng.randrange(30 * 86400)),
                status=rng.choices([0, 1, 2, 3, 4], [10, 15, 60, 10, 5])[0],
                recall_num=3,
                finish_num=rng.randrange(4),
                unconfirmed=rng.random() < 0.0005,
            )
            for key in keys
        )
        RecallNode.objects.bulk_create(
            RecallNode(
                key_id=task.key_id * 10 + i,
                task=task,
                position=i,
                status=rng.choices([0, 1, 2, 3], [30, 10, 50, 10])[0],
            )
            for task in tasks
            for i in range(args.nodes)
        )
    print(f"tasks and nodes stored in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    # Settled outcomes only: the sync settles unknown ones within minutes (a few are
    # added below, as the overview would find them).
    outcomes = [Outcome.SKIPPED, Outcome.SUCCEEDED, Outcome.REFUSED, Outcome.FAILED]
    weights = [5, 82, 8, 5]
    # Unlinked: linking each row to the audit chain as it is written would take an hour.
    unchained = {**settings.LAAFFIC_RECALL, "AUDIT_CHAIN_KEY": ""}
    for first in range(0, args.attempts, BATCH):
        count = min(BATCH, args.attempts - first)
        with override_settings(LAAFFIC_RECALL=unchained):
            CancelAttempt.objects.bulk_create(
                CancelAttempt(
                    cancel_type=CancelType.TASK,
                    target_id=(key := rng.randrange(1, args.tasks + 1)),
                    task_key_id=key,
                    username=f"agent{key % 40}",
                    started_at=(at := now - timedelta(seconds=rng.randrange(365 * 86400))),
                    finished_at=at + timedelta(seconds=1),
                    outcome=(outcome := rng.choices(outcomes, weights)[0]),
                    response_code=RESPONSE_CODES[outcome],
                )
                for _ in range(count)
            )
    CancelAttempt.objects.bulk_create(
        CancelAttempt(
            cancel_type=CancelType.TASK,
            target_id=key,
            task_key_id=key,
            username="agent",
            started_at=now - timedelta(minutes=key),
            outcome=Outcome.UNKNOWN,
        )
        for key in range(1, 21)
    )
    print(f"audit rows stored in {time.perf_counter() - started:.0f} s", flush=True)
    for minutes in range(0, 600, 10):
        SyncRun.objects.create(
            trigger="schedule",
            started_at=now - timedelta(minutes=minutes, seconds=30),
            finished_at=now - timedelta(minutes=minutes),
            tasks_seen=3000,
            details_fetched=800,
            failure_count=1 if minutes == 0 else 0,
            next_due_at=now + timedelta(minutes=10 - minutes),
        )


def settle() -> None:
    """What a live database has done long before: statistics gathered (and on PostgreSQL
    the visibility map set, which index-only scans need), as autovacuum would."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def agent_client():
    """A test client logged in as a support agent (the demo's agent permissions)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from laaffic_recall.sandbox.demo import AGENT_PERMISSIONS, permissions

    agent, _created = get_user_model().objects.get_or_create(
        username="bench-agent", defaults={"is_staff": True}
    )
    agent.user_permissions.set(permissions(*AGENT_PERMISSIONS))
    client = Client()
    client.force_login(agent)
    return client


def measure(args) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    client = agent_client()
    with override_settings(ALLOWED_HOSTS=["*"], DEBUG=False):
        assert b"laaffic-overview" in client.get("/admin/laaffic_recall/").content  # warm-up
        times = []
        for _ in range(args.requests):
            began = time.perf_counter()
            response = client.get("/admin/laaffic_recall/")
            times.append(time.perf_counter() - began)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as queries:
            client.get("/admin/laaffic_recall/")
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(
        f"{connection.vendor}: {args.tasks} tasks, {args.attempts} audit rows, "
        f"{args.requests} requests: p50 {statistics.median(times) * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms, {len(queries)} queries per page"
    )
    for query in queries:
        print(f"  {query['time']}s {query['sql'][:110]}")


def main() -> None:
    args = parse_args()
    setup(args)
    if not args.no_fill:
        fill(args)
        settle()
    measure(args)


if __name__ == "__main__":
    main()
