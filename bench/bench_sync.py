"""Benchmark a full sync against a loopback LAAFFIC with an injected per-call latency.

Starts ``bench/fake_server.py`` (N tasks x M nodes created over the last 7 days) in its
own process and runs ``sync_tasks`` over those 7 days into a throwaway SQLite database,
an empty mirror each time, once per worker count. For each run it prints the wall time
against the floor, ``(pages + detail calls) x latency / workers`` (what LAAFFIC's latency
alone costs), and the CPU the sync used per synced task; then the median CPU per task
over all runs. Each ``--rss`` size is synced in a fresh process of its own, whose peak
resident memory is printed.

Run from the repository root::

    .venv/bin/python bench/bench_sync.py                       # 2,000 tasks, 20 ms, 1/8/16
    .venv/bin/python bench/bench_sync.py --rss 2000,20000,50000 --rss-latency 0.001
    .venv/bin/python bench/bench_sync.py --profile 1           # cProfile, one worker

The sync's Python runs one thread at a time (the GIL), so the floor is reached only while
its CPU per task stays well below ``latency / workers``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import resource
import signal
import statistics
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


@dataclass(frozen=True)
class Result:
    workers: int
    wall: float
    tasks: int
    pages: int
    details: int
    queries: int
    writes: int  # statements that wrote to the tasks or nodes table
    latency: float
    cpu: float  # seconds of CPU used by this process (the sync) during the run
    main_cpu: float  # of which by the calling thread: list pages and every database write
    server_cpu: float | None  # and by the fake server (Linux only)

    @property
    def calls(self) -> int:
        return self.pages + self.details

    @property
    def floor(self) -> float:
        return self.calls * self.latency / self.workers

    @property
    def cpu_per_task_ms(self) -> float:
        return self.cpu / self.tasks * 1000


def start_server(tasks: int, nodes: int, latency: float, end: datetime):
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("fake_server.py")),
            f"--tasks={tasks}",
            f"--nodes={nodes}",
            f"--latency={latency}",
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


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=10)


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


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
        LOGGING_CONFIG=None,
        LAAFFIC_RECALL={"API_KEY": API_KEY, "API_SECRET": API_SECRET, "BASE_URL": base_url},
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def empty_mirror() -> None:
    from django.db import connection

    from laaffic_recall.models import RecallNode, RecallTask

    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {RecallNode._meta.db_table}")
        cursor.execute(f"DELETE FROM {RecallTask._meta.db_table}")


MIRROR_WRITE = re.compile(r"^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+\"laaffic_recall_recall", re.I)


def run_sync(
    server, base_url: str, start, end, workers: int, args, profiler=None, again=False
) -> Result:
    """One sync into an empty mirror (``again``: over what the last one stored)."""
    from django.db import connection

    from laaffic_recall.models import RecallNode
    from laaffic_recall.sync import sync_tasks

    if not again:
        empty_mirror()
    queries = writes = 0

    def count(execute, sql, params, many, context):
        nonlocal queries, writes
        queries += 1
        writes += bool(MIRROR_WRITE.match(sql))
        return execute(sql, params, many, context)

    before, cpu_before, server_before = (
        server_calls(base_url),
        process_cpu(),
        server_cpu(server.pid),
    )
    with connection.execute_wrapper(count):
        began, main_began = time.perf_counter(), time.thread_time()
        if profiler is not None:
            profiler.enable()
        summary = sync_tasks(start, end, workers=workers)
        if profiler is not None:
            profiler.disable()
        wall, main_cpu = time.perf_counter() - began, time.thread_time() - main_began
    after, cpu_after, server_after = server_calls(base_url), process_cpu(), server_cpu(server.pid)
    if not summary.ok or summary.tasks_seen != args.tasks:
        raise SystemExit(f"the sync did not mirror everything: {summary}")
    if not again and summary.tasks_created != args.tasks:
        raise SystemExit(f"the sync did not create every task: {summary}")
    if RecallNode.objects.count() != args.tasks * args.nodes:
        raise SystemExit("the sync did not store every node")
    return Result(
        workers=workers,
        wall=wall,
        tasks=summary.tasks_seen,
        pages=after.get("queryPage", 0) - before.get("queryPage", 0),
        details=after.get("queryDetail", 0) - before.get("queryDetail", 0),
        queries=queries,
        writes=writes,
        latency=args.latency,
        cpu=cpu_after - cpu_before,
        main_cpu=main_cpu,
        server_cpu=None if server_before is None else server_after - server_before,
    )


def print_header(args) -> None:
    print(
        f"Full sync of {args.tasks} tasks x {args.nodes} nodes over 7 days, "
        f"{args.latency * 1000:g} ms per call, loopback server, throwaway SQLite"
    )
    print(
        f"{'workers':>7} {'wall s':>7} {'floor s':>7} {'wall/floor':>10} {'pages':>5} "
        f"{'details':>7} {'queries':>7} {'cpu s':>6} {'cpu/task ms':>11} {'main cpu s':>10} "
        f"{'server cpu s':>12}"
    )


def print_result(r: Result) -> None:
    print(
        f"{r.workers:>7} {r.wall:>7.2f} {r.floor:>7.2f} {r.wall / r.floor:>10.2f} {r.pages:>5} "
        f"{r.details:>7} {r.queries:>7} {r.cpu:>6.2f} {r.cpu_per_task_ms:>11.2f} "
        f"{r.main_cpu:>10.2f} {r.server_cpu or 0:>12.2f}",
        flush=True,
    )


def profile_workers(profile_all_threads: list) -> None:
    """Profile each detail worker thread too (cProfile sees only the thread it runs in)."""
    from laaffic_recall.sync import fetcher

    original = fetcher.DetailFetcher._fetch

    def _fetch(self, key_id):
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            original(self, key_id)
        finally:
            profiler.disable()
            profile_all_threads.append(profiler)

    fetcher.DetailFetcher._fetch = _fetch


def measure(args) -> list[Result]:
    """Runs in one process: the worker counts of ``args.workers`` (or a profile)."""
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=7)
    server, base_url = start_server(args.tasks, args.nodes, args.latency, end)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="laaffic-bench-") as tmp:
            configure_django(Path(tmp) / "bench.sqlite3", base_url)
            if args.profile:
                profiles: list = []
                profile_workers(profiles)
                main = cProfile.Profile()
                result = run_sync(server, base_url, start, end, args.profile, args, main)
                print_header(args)
                print_result(result)
                stats = pstats.Stats(main, stream=(out := io.StringIO()))
                for worker in profiles:
                    stats.add(worker)
                stats.sort_stats(args.sort).print_stats(args.top)
                print(out.getvalue())
                return [result]
            if not args.quiet:
                print_header(args)
            for workers in args.workers:
                result = run_sync(server, base_url, start, end, workers, args)
                results.append(result)
                if not args.quiet:
                    print_result(result)
            if results and not args.quiet:
                again = run_sync(server, base_url, start, end, workers, args, again=True)
                print(
                    f"Again over the same data ({workers} workers): {again.details} details "
                    f"(the live tasks) and {again.pages} pages in {again.wall:.2f} s "
                    f"(floor {again.floor:.2f} s), {again.cpu / again.details * 1000:.2f} ms "
                    f"CPU per detail, {again.writes} writes to tasks or nodes",
                    flush=True,
                )
    finally:
        stop_server(server)
    return results


def rss_of(tasks: int, args) -> dict:
    """Peak RSS of a fresh process syncing ``tasks`` tasks (one run, ``--rss-workers``)."""
    command = [
        sys.executable,
        __file__,
        f"--tasks={tasks}",
        f"--nodes={args.nodes}",
        f"--latency={args.rss_latency}",
        f"--workers={args.rss_workers}",
        "--child",
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def numbers(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.020, help="seconds per call")
    parser.add_argument(
        "--workers",
        type=numbers,
        default=[1, 8, 16],
        help="comma-separated worker counts, one run each (default 1,8,16; '' for none)",
    )
    parser.add_argument(
        "--rss",
        type=numbers,
        default=[],
        help="task counts whose peak RSS to measure, each in a fresh process",
    )
    parser.add_argument("--rss-latency", type=float, default=0.001)
    parser.add_argument("--rss-workers", type=int, default=8)
    parser.add_argument("--profile", type=int, metavar="WORKERS", help="cProfile one run")
    parser.add_argument("--sort", default="tottime", help="the profile's sort key")
    parser.add_argument("--top", type=int, default=40, help="the profile's rows")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the server

    if args.child:
        args.quiet = True
        (result,) = measure(args)
        print(
            json.dumps(
                {
                    "tasks": args.tasks,
                    "wall": result.wall,
                    "cpu_per_task_ms": result.cpu_per_task_ms,
                    "peak_rss_mb": peak_rss_mb(),
                }
            )
        )
        return

    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the start"
    )
    results = measure(args) if args.workers else []
    if results and not args.profile:
        median = statistics.median(r.cpu_per_task_ms for r in results)
        print(f"CPU per synced task, median of {len(results)} runs: {median:.2f} ms")
    for tasks in args.rss:
        figures = rss_of(tasks, args)
        print(
            f"peak RSS, {tasks} tasks ({args.rss_workers} workers, "
            f"{args.rss_latency * 1000:g} ms per call): {figures['peak_rss_mb']:.0f} MB "
            f"(sync {figures['wall']:.1f} s, {figures['cpu_per_task_ms']:.2f} ms CPU per task)",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
