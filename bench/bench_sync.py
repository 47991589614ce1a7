"""Benchmark a full sync against a loopback LAAFFIC with an injected per-call latency.

Starts ``bench/fake_server.py`` (N tasks x M nodes created over the last 7 days) in its
own process, then runs ``sync_tasks`` over the last 7 days into a throwaway SQLite
database, once with the default number of workers and once with one worker, and prints
wall time, calls made, database queries and the lower bound ``calls x latency / workers``,
and the CPU the sync used, in all and in its calling thread (list pages and every database
write; the workers' share is the detail calls).

Run from the repository root::

    .venv/bin/python bench/bench_sync.py [--tasks 5000] [--nodes 5] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_KEY, API_SECRET = "bench-key", "bench-secret"
TARGET_BOUND_RATIO = 1.5
TARGET_SPEEDUP = 5.0


@dataclass(frozen=True)
class Result:
    workers: int
    wall: float
    pages: int
    details: int
    queries: int
    latency: float
    cpu: float  # seconds of CPU used by this process (the sync) during the run
    main_cpu: float  # of which by the calling thread: list pages and every database write
    server_cpu: float | None  # and by the fake server (Linux only)

    @property
    def calls(self) -> int:
        return self.pages + self.details

    @property
    def bound(self) -> float:
        return self.calls * self.latency / self.workers


def start_server(args, end: datetime) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("fake_server.py")),
            f"--tasks={args.tasks}",
            f"--nodes={args.nodes}",
            f"--latency={args.latency}",
            f"--end={end:%Y-%m-%d %H:%M:%S}",
            f"--api-key={API_KEY}",
            f"--api-secret={API_SECRET}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise SystemExit(f"the fake server did not start: {line!r}")
    return process, f"http://127.0.0.1:{int(line.split()[1])}"


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_calls(base_url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base_url}/__stats", timeout=10) as response:
        return json.load(response)


def configure_django(database: Path, base_url: str) -> None:
    import django
    from django.conf import settings

    sys.path.insert(0, str(ROOT))
    settings.configure(
        SECRET_KEY="bench-only",
        USE_TZ=True,
        TIME_ZONE="UTC",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "laaffic_recall",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        LAAFFIC_RECALL={"API_KEY": API_KEY, "API_SECRET": API_SECRET, "BASE_URL": base_url},
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def run_sync(
    server: subprocess.Popen, base_url: str, start: datetime, end: datetime, workers: int, args
) -> Result:
    from django.db import connection

    from laaffic_recall.models import RecallNode, RecallTask
    from laaffic_recall.sync import sync_tasks

    with connection.cursor() as cursor:  # an empty mirror: a full sync
        cursor.execute(f"DELETE FROM {RecallNode._meta.db_table}")
        cursor.execute(f"DELETE FROM {RecallTask._meta.db_table}")
    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    before, cpu_before, server_before = (
        server_calls(base_url),
        process_cpu(),
        server_cpu(server.pid),
    )
    with connection.execute_wrapper(count):
        began, main_began = time.perf_counter(), time.thread_time()
        summary = sync_tasks(start, end, workers=workers)
        wall, main_cpu = time.perf_counter() - began, time.thread_time() - main_began
    after, cpu_after, server_after = server_calls(base_url), process_cpu(), server_cpu(server.pid)
    if not summary.ok or summary.tasks_created != args.tasks:
        raise SystemExit(f"the sync did not mirror everything: {summary}")
    if RecallNode.objects.count() != args.tasks * args.nodes:
        raise SystemExit("the sync did not store every node")
    return Result(
        workers=workers,
        wall=wall,
        pages=after.get("queryPage", 0) - before.get("queryPage", 0),
        details=after.get("queryDetail", 0) - before.get("queryDetail", 0),
        queries=queries,
        latency=args.latency,
        cpu=cpu_after - cpu_before,
        main_cpu=main_cpu,
        server_cpu=None if server_before is None else server_after - server_before,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.020, help="seconds per call")
    parser.add_argument("--workers", type=int, help="the parallel run (default: SYNC_WORKERS)")
    parser.add_argument("--no-serial", action="store_true", help="skip the one-worker run")
    args = parser.parse_args()

    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=7)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the server
    server, base_url = start_server(args, end)
    try:
        with tempfile.TemporaryDirectory(prefix="laaffic-bench-") as tmp:
            configure_django(Path(tmp) / "bench.sqlite3", base_url)
            from laaffic_recall.conf import app_settings

            workers = args.workers or app_settings.SYNC_WORKERS
            runs = [workers] + ([] if args.no_serial or workers == 1 else [1])
            print(
                f"Full sync of {args.tasks} tasks x {args.nodes} nodes over 7 days, "
                f"{args.latency * 1000:g} ms per call, loopback server, throwaway SQLite"
            )
            print(
                f"{'workers':>7} {'wall s':>8} {'calls':>6} {'pages':>6} {'details':>7} "
                f"{'db queries':>10} {'bound s':>8} {'wall/bound':>10} "
                f"{'sync cpu s':>10} {'main thread':>11} {'server cpu s':>12}"
            )
            results = []
            for count in runs:
                result = run_sync(server, base_url, start, end, count, args)
                results.append(result)
                print(
                    f"{result.workers:>7} {result.wall:>8.2f} {result.calls:>6} "
                    f"{result.pages:>6} {result.details:>7} {result.queries:>10} "
                    f"{result.bound:>8.2f} {result.wall / result.bound:>10.2f} "
                    f"{result.cpu:>10.2f} {result.main_cpu:>11.2f} "
                    f"{result.server_cpu or 0:>12.2f}",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end "
        "(the sync's Python runs on one core at a time: the GIL)"
    )
    parallel = results[0]
    ratio = parallel.wall / parallel.bound
    verdict = "met" if ratio <= TARGET_BOUND_RATIO else "MISSED"
    print(
        f"{parallel.workers} workers: {ratio:.2f}x the bound "
        f"(target <= {TARGET_BOUND_RATIO}x: {verdict})"
    )
    if len(results) > 1:
        speedup = results[1].wall / parallel.wall
        verdict = "met" if speedup >= TARGET_SPEEDUP else "MISSED"
        print(f"speed-up over 1 worker: {speedup:.1f}x (target >= {TARGET_SPEEDUP:g}x: {verdict})")


if __name__ == "__main__":
    main()
