"""Benchmark ``laaffic_audit_verify`` over a large audit log: wall time and peak memory.

Fills a throwaway SQLite database (or the PostgreSQL database of ``--database-url``, whose
cancel attempts are replaced) with N finished, linked cancel attempts, then runs the
verifier in a fresh process and prints its wall time, CPU and peak resident memory.
Run it at two sizes to see that memory does not grow with the log.

Run from the repository root::

    .venv/bin/python bench/bench_audit_verify.py [--rows 1000000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-audit-chain-key"
BATCH = 5000


def configure_django(database: dict) -> None:
    import django
    from django.conf import settings

    sys.path.insert(0, str(ROOT))
    settings.configure(
        SECRET_KEY="bench-only",
        USE_TZ=True,
        TIME_ZONE="UTC",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "laaffic_recall"],
        DATABASES={"default": database},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        LAAFFIC_RECALL={"AUDIT_CHAIN_KEY": KEY},
    )
    django.setup()


def database_settings(url: str | None, path: Path) -> dict:
    if url is None:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    import environ

    return environ.Env.db_url_config(url)


def fill(rows: int) -> None:
    """N finished attempts, inserted in batches, then linked in one ordered pass exactly as
    ``CancelAttempt.save()`` links them (the values read back, the previous HMAC)."""
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import override_settings

    from laaffic_recall.chain import READ_FIELDS, link_mac
    from laaffic_recall.guards import guards_lifted
    from laaffic_recall.models import CancelAttempt, CancelType, Outcome

    call_command("migrate", verbosity=0)
    table = CancelAttempt._meta.db_table
    with guards_lifted(connection):  # the owner empties the audit log too
        call_command("flush", interactive=False, verbosity=0)
    began = datetime(2025, 1, 1, tzinfo=UTC)
    outcomes = [Outcome.SUCCEEDED, Outcome.REFUSED, Outcome.FAILED, Outcome.SKIPPED]
    for first in range(0, rows, BATCH):
        batch = []
        for i in range(first, min(first + BATCH, rows)):
            started = began + timedelta(seconds=i)
            batch.append(
                CancelAttempt(
                    correlation_id=uuid.uuid4(),
                    username=f"agent{i % 40}",
                    started_at=started,
                    finished_at=started + timedelta(milliseconds=350),
                    duration=timedelta(milliseconds=350),
                    cancel_type=CancelType.TASK,
                    target_id=100_000 + i,
                    task_key_id=100_000 + i,
                    request_body={"type": 1, "id": 100_000 + i},
                    http_status=200,
                    response_code=0 if i % 4 == 0 else -22,
                    response_message="success" if i % 4 == 0 else "Parameter exception",
                    outcome=outcomes[i % 4],
                    reason=f"ticket {i}",
                    client_ip="10.0.0.7",
                    mirror_confirmed=True,
                )
            )
        with override_settings(LAAFFIC_RECALL={}):  # no key: linked below, in one pass
            CancelAttempt.objects.bulk_create(batch)
    key, prev, updates = KEY.encode(), "", []
    values = (
        CancelAttempt._base_manager.order_by("id").values(*READ_FIELDS).iterator(chunk_size=BATCH)
    )
    with transaction.atomic(), connection.cursor() as cursor:
        for seq, row in enumerate(values, start=1):
            prev = link_mac(key, row, seq, prev)
            updates.append((seq, prev, row["id"]))
            if len(updates) == BATCH:
                cursor.executemany(
                    f"UPDATE {table} SET chain_seq = %s, chain_mac = %s WHERE id = %s", updates
                )
                updates = []
        if updates:
            cursor.executemany(
                f"UPDATE {table} SET chain_seq = %s, chain_mac = %s WHERE id = %s", updates
            )


def verify_in_this_process() -> None:
    from django.core.management import call_command

    began, cpu = time.perf_counter(), time.process_time()
    call_command("laaffic_audit_verify", "--no-record")
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    print(json.dumps({"wall": wall, "cpu": cpu, "peak_rss_mib": peak_rss_kib() / 1024}))


def peak_rss_kib() -> int:
    """This process's peak resident memory (Linux ``VmHWM``; ``ru_maxrss`` would carry the
    parent's peak over ``fork`` and ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: throwaway SQLite)")
    parser.add_argument("--verify-only", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.verify_only:
        configure_django(json.loads(args.verify_only))
        verify_in_this_process()
        return
    with tempfile.TemporaryDirectory(prefix="laaffic-bench-") as tmp:
        database = database_settings(args.database_url, Path(tmp) / "bench.sqlite3")
        configure_django(database)
        began = time.perf_counter()
        fill(args.rows)
        print(
            f"{args.rows} finished, linked attempts written in "
            f"{time.perf_counter() - began:.1f} s ({database['ENGINE'].rsplit('.', 1)[-1]})"
        )
        from django.db import connections

        connections.close_all()
        run = subprocess.run(
            [sys.executable, __file__, "--verify-only", json.dumps(database)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if run.returncode != 0:
            raise SystemExit(f"the verifier failed: {run.stderr.strip()}")
        lines = run.stdout.strip().splitlines()
        figures = json.loads(lines[-1])
        print("\n".join(lines[:-1]))
        print(
            f"laaffic_audit_verify: {figures['wall']:.1f} s wall, {figures['cpu']:.1f} s CPU, "
            f"peak RSS {figures['peak_rss_mib']:.0f} MiB (the whole process)"
        )


if __name__ == "__main__":
    main()
