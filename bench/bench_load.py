"""Benchmark the bundled site under load: many agents cancelling at once, on PostgreSQL.

Starts a throwaway PostgreSQL cluster (``scripts/throwaway-postgres``; or uses
``--database-url``, whose database it empties), seeds the LAAFFIC sandbox with Pending
tasks and mirrors them with ``laaffic_sync``, then serves the site with gunicorn
(``gthread``, W workers x T threads) and, in a second gunicorn on another port, the
sandbox, which answers every call after ``--latency`` seconds (a sandbox latency fault).
The sandbox runs apart from the site, as LAAFFIC would: served by the site's own workers,
its answers would wait for the very threads that wait for them.

K agents (threads, each with its own ``requests.Session``, logged in through the login
page as its own staff user with the cancel permission) each loop for S seconds: open the
task list filtered to Pending, pick one of its first ``--pick-from`` rows at random (so
agents sometimes pick the same task), open the cancel confirmation (the action's POST),
confirm (POST ``post=yes``). Then it prints flows per second, p50/p95 of the flow and of
each step (and the site's CPU per request), the HTTP statuses, the cancels that reached
the sandbox per task (duplicates: more than one for a task), audit rows against sandbox
calls (lost), attempts left in flight, the CPU per flow of each process group, and the
app's own time per confirm: the site's time for the request minus its time in HTTP calls
to LAAFFIC (``bench/load_wsgi.py`` times both inside the workers).

Each request opens its own connection (``--connections per-request``, the default), as a
proxy in front of gunicorn does by default (nginx speaks HTTP/1.0 to its upstream, without
keep-alive), and whichever worker accepts first serves it. With ``--connections kept``
each agent keeps one connection open, and with it one gunicorn worker, for the whole run:
a worker that drew more agents serves each of them more slowly, while another may idle.

Run from the repository root::

    .venv/bin/python bench/bench_load.py [--agents 50] [--seconds 60] [--latency 0.1]
        [--workers 4] [--threads 8] [--tasks 2000] [--pick-from 100] [--database-url postgres://...]
        [--connections per-request|kept]
"""

from __future__ import annotations

import argparse
import html
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load-agent-password"
TASKS_URL = "/admin/laaffic_recall/recalltask/?status__exact=0"
STEPS = ("list", "confirmation", "confirm")
CHECKBOX = re.compile(r'name="_selected_action" value="(\d+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--latency", type=float, default=0.1, help="Sandbox answer delay (s).")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers of the site.")
    parser.add_argument("--threads", type=int, default=8, help="Threads per site worker.")
    parser.add_argument("--sandbox-workers", type=int, default=2)
    parser.add_argument("--sandbox-threads", type=int, default=32)
    parser.add_argument("--tasks", type=int, default=2000, help="Pending tasks to seed.")
    parser.add_argument(
        "--pick-from", type=int, default=100, help="Agents pick among the first N Pending rows."
    )
    parser.add_argument(
        "--connections",
        choices=["per-request", "kept"],
        default="per-request",
        help="A new connection per request (as behind a proxy), or one kept per agent.",
    )
    parser.add_argument("--database-url", help="A PostgreSQL database to use (emptied first).")
    parser.add_argument("--pg-port", type=int, default=54340, help="Port of the throwaway cluster.")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


# --------------------------------------------------------------------------- the servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_postgres(port: int) -> tuple[str, str]:
    directory = tempfile.mkdtemp(prefix="laaffic-load-pg-")
    script = ROOT / "scripts" / "throwaway-postgres"
    started = subprocess.run(
        [str(script), "start", directory, str(port)], capture_output=True, text=True
    )
    if started.returncode:
        stop_postgres(directory)
        raise SystemExit(f"PostgreSQL did not start on port {port} (in use?): {started.stderr}")
    url = started.stdout.strip()
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE laaffic")
    return url, directory


def stop_postgres(directory: str) -> None:
    script = ROOT / "scripts" / "throwaway-postgres"
    subprocess.run([str(script), "stop", directory], check=False)


def wait_until_up(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=30, allow_redirects=False)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def gunicorn(app: str, port: int, workers: int, threads: int, env: dict, log: Path):
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        app,
        "--pythonpath",
        f"{ROOT},{ROOT / 'bench'}",
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--timeout",
        "120",
        "--backlog",
        "2048",
        # With --connections kept: an agent's next request must not meet a connection the
        # server has just closed (gunicorn's default is 2 s).
        "--keep-alive",
        "75",
    ]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()


def cpu_seconds(root: int) -> float:
    """CPU time of a process and its children (live ones, and those it reaped), Linux."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat(int(entry))
        except OSError:
            continue
        if int(entry) == root or int(fields[1]) == root:
            # utime, stime; and cutime, cstime (reaped children) of the root itself
            used = fields[11:13] + (fields[13:15] if int(entry) == root else [])
            total += sum(int(value) for value in used) / tick
    return total


def postmaster_pid(directory: str | None) -> int | None:
    try:
        return int(Path(directory, "data", "postmaster.pid").read_text().split()[0])
    except (OSError, TypeError, ValueError, IndexError):
        return None


def cpu_sample(roots: dict[str, int | None]) -> dict[str, float]:
    sample = {name: cpu_seconds(pid) for name, pid in roots.items() if pid}
    times = os.times()
    sample["load generator (agents)"] = times.user + times.system
    return sample


# --------------------------------------------------------------------------- the data


def prepare(args, database_url: str, sandbox_url: str) -> None:
    """Migrate, empty, seed the sandbox with Pending tasks, mirror them, create the agents."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["LAAFFIC_SANDBOX_URL"] = sandbox_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command
    from django.db import connection

    from laaffic_recall.guards import guards_lifted
    from laaffic_recall.sandbox.models import Status
    from laaffic_recall.sandbox.seed import seed

    call_command("migrate", verbosity=0)
    with guards_lifted(connection):  # the owner empties the audit log too
        call_command("flush", interactive=False, verbosity=0)
    seed(args.tasks, seed=args.seed, days=1, status=Status.PENDING)
    started = time.perf_counter()
    call_command("laaffic_sync", days=2, verbosity=0)
    print(f"{args.tasks} Pending tasks seeded and synced in {time.perf_counter() - started:.0f} s")
    permissions = Permission.objects.filter(
        content_type__app_label="laaffic_recall",
        codename__in=[
            "view_recalltask",
            "view_recallnode",
            "view_cancelattempt",
            "cancel_recalltask",
        ],
    )
    password = make_password(PASSWORD)
    for i in range(args.agents):
        user = User.objects.create(username=f"agent{i:03d}", is_staff=True, password=password)
        user.user_permissions.set(permissions)


def set_latency(seconds: float) -> None:
    from laaffic_recall.sandbox.models import SandboxCall, SandboxFault

    SandboxFault.objects.all().delete()
    SandboxCall.objects.all().delete()  # the sync's calls: only the cancels' are counted
    if seconds > 0:
        SandboxFault.objects.create(kind="latency", seconds=seconds)


# --------------------------------------------------------------------------- the agents


@dataclass
class Figures:
    lock: threading.Lock = field(default_factory=threading.Lock)
    flows: list[float] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    # Of each confirm POST: (client-side s, site's time ms, LAAFFIC ms, LAAFFIC calls).
    confirms: list[tuple[float, float, float, int]] = field(default_factory=list)
    # The CPU of the site's thread per request outside LAAFFIC calls (ms), by step.
    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    empty_lists: int = 0
    # Confirmation pages with nothing to confirm: the task picked was cancelled meanwhile.
    gone: int = 0


def log_in(base: str, username: str, connections: str) -> requests.Session:
    session = requests.Session()
    if connections == "per-request":
        session.headers["Connection"] = "close"
    page = session.get(f"{base}/admin/login/", timeout=60)
    token = CSRF.search(page.text).group(1)
    answer = session.post(
        f"{base}/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": token,
            "username": username,
            "password": PASSWORD,
            "next": "/admin/",
        },
        headers={"Referer": f"{base}/admin/login/"},
        timeout=60,
        allow_redirects=False,
    )
    if answer.status_code != 302:
        raise SystemExit(f"login of {username} failed: HTTP {answer.status_code}")
    return session


def agent(base: str, session: requests.Session, until: float, pick_from: int, rng, figures):
    url = base + TASKS_URL
    headers = {"Referer": url}
    while time.monotonic() < until:
        flow_started = time.perf_counter()
        step = "list"
        try:
            timings = {}
            started = time.perf_counter()
            page = session.get(url, timeout=120)
            timings["list"] = time.perf_counter() - started
            _count(figures, "list", page)
            keys = CHECKBOX.findall(page.text)[:pick_from]
            if page.status_code != 200 or not keys:
                with figures.lock:
                    figures.empty_lists += not keys
                time.sleep(0.5)
                continue
            chosen = rng.choice(keys)
            step = "confirmation"
            started = time.perf_counter()
            page = session.post(
                url,
                data={
                    "csrfmiddlewaretoken": CSRF.search(page.text).group(1),
                    "action": "cancel_tasks",
                    "index": "0",
                    "select_across": "0",
                    "_selected_action": chosen,
                },
                headers=headers,
                timeout=120,
                allow_redirects=False,
            )
            timings["confirmation"] = time.perf_counter() - started
            _count(figures, "confirmation", page)
            form = page.text.partition("laaffic-confirm-form")[2]
            if page.status_code != 200 or not form:
                with figures.lock:
                    figures.gone += page.status_code == 200
                continue
            fields = [(name, html.unescape(value)) for name, value in HIDDEN.findall(form)]
            fields.append(("reason", "load test"))
            step = "confirm"
            started = time.perf_counter()
            answer = session.post(
                url, data=fields, headers=headers, timeout=120, allow_redirects=False
            )
            timings["confirm"] = time.perf_counter() - started
            _count(figures, "confirm", answer)
        except requests.RequestException as exc:
            with figures.lock:
                figures.errors[f"{step} {type(exc).__name__}"] += 1
            continue
        flow = time.perf_counter() - flow_started
        with figures.lock:
            figures.flows.append(flow)
            for step, seconds in timings.items():
                figures.steps[step].append(seconds)
            if "X-Bench-App-Ms" in answer.headers:
                figures.confirms.append(
                    (
                        timings["confirm"],
                        float(answer.headers["X-Bench-App-Ms"]),
                        float(answer.headers["X-Bench-Laaffic-Ms"]),
                        int(answer.headers["X-Bench-Laaffic-Calls"]),
                    )
                )


def _count(figures: Figures, step: str, response: requests.Response) -> None:
    with figures.lock:
        figures.statuses[(step, response.status_code)] += 1
        if "X-Bench-App-Cpu-Ms" in response.headers:
            figures.cpu[step].append(float(response.headers["X-Bench-App-Cpu-Ms"]) / 1000)


# --------------------------------------------------------------------------- the report


def pct(values, q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(values, q: float) -> str:
    return f"{pct(values, q) * 1000:.0f} ms"


def audit_figures() -> dict:
    """What reached the sandbox against what the audit log says was sent."""
    from laaffic_recall.models import CancelAttempt, Outcome
    from laaffic_recall.sandbox.models import SandboxCall

    calls = Counter()
    for body in SandboxCall.objects.filter(call="cancel").values_list("body", flat=True):
        calls[int(body["id"])] += 1
    attempts = CancelAttempt.objects.all()
    sent = Counter()
    sent_rows = attempts.exclude(http_status=None) | attempts.filter(outcome=Outcome.UNKNOWN)
    for target in sent_rows.values_list("target_id", flat=True):
        sent[target] += 1
    keys = set(calls) | set(sent)
    return {
        "cancel calls": sum(calls.values()),
        "tasks cancelled at the sandbox": len(calls),
        "duplicates (tasks with >1 cancel call)": sum(1 for n in calls.values() if n > 1),
        "audit rows": attempts.count(),
        "audit rows that sent": sum(sent.values()),
        "lost (calls without a sending audit row)": sum(max(0, calls[k] - sent[k]) for k in keys),
        "audit rows that sent with no call": sum(max(0, sent[k] - calls[k]) for k in keys),
        "in flight (pending rows left)": attempts.filter(outcome=Outcome.PENDING).count(),
        "outcomes": dict(Counter(attempts.values_list("outcome", flat=True))),
    }


def report(args, figures: Figures, elapsed: float, load: tuple, cpu: dict[str, float]) -> None:
    print()
    print(
        f"{args.agents} agents, {args.workers} workers x {args.threads} threads, connections "
        f"{args.connections}, LAAFFIC "
        f"latency {args.latency * 1000:.0f} ms, {elapsed:.1f} s; load average before "
        f"{load[0]:.2f}, after {os.getloadavg()[0]:.2f}"
    )
    flows = figures.flows
    print(f"flows: {len(flows)}, {len(flows) / elapsed:.2f} per second")
    print(f"flow: p50 {ms(flows, 0.5)}, p95 {ms(flows, 0.95)}, max {ms(flows, 1.0)}")
    for step in STEPS:
        values = figures.steps[step]
        used = figures.cpu[step]
        print(
            f"  {step:13} p50 {ms(values, 0.5):>8}, p95 {ms(values, 0.95):>8} ({len(values)}); "
            f"site's CPU p50 {ms(used, 0.5)}, p95 {ms(used, 0.95)}"
        )
    statuses = ", ".join(
        f"{step} {status}: {n}" for (step, status), n in sorted(figures.statuses.items())
    )
    print(f"HTTP statuses: {statuses}")
    fives = sum(n for (_step, status), n in figures.statuses.items() if status >= 500)
    print(
        f"5xx: {fives}; client errors: {dict(figures.errors) or 0}; "
        f"empty lists: {figures.empty_lists}; picks gone by the confirmation: {figures.gone}"
    )
    for name, value in audit_figures().items():
        print(f"{name}: {value}")
    if cpu and flows:
        used = ", ".join(f"{name} {s * 1000 / len(flows):.0f} ms" for name, s in cpu.items())
        print(
            f"CPU per flow: {used}; in all {sum(cpu.values()):.1f} s of "
            f"{elapsed * (os.cpu_count() or 1):.1f} s the {os.cpu_count()} CPUs had"
        )
    confirms = figures.confirms
    if confirms:
        own = [(app - wait) / 1000 for _client, app, wait, _calls in confirms]
        site = [app / 1000 for _client, app, _wait, _calls in confirms]
        wait = [w / 1000 for _client, _app, w, _calls in confirms]
        client = [c for c, _app, _wait, _calls in confirms]
        queued = [c - app / 1000 for c, app, _wait, _calls in confirms]
        calls = Counter(n for *_rest, n in confirms)
        print("confirm POST (site's time measured inside the workers):")
        print(f"  as the agent saw it  p50 {ms(client, 0.5)}, p95 {ms(client, 0.95)}")
        print(f"  site's time          p50 {ms(site, 0.5)}, p95 {ms(site, 0.95)}")
        print(
            f"  of which LAAFFIC     p50 {ms(wait, 0.5)}, p95 {ms(wait, 0.95)}; calls {dict(calls)}"
        )
        print(f"  app's own time       p50 {ms(own, 0.5)}, p95 {ms(own, 0.95)}")
        print(
            f"  outside the site     p50 {ms(queued, 0.5)}, p95 {ms(queued, 0.95)} (queue, network)"
        )


# --------------------------------------------------------------------------- main


def main() -> None:
    args = parse_args()
    directory = None
    database_url = args.database_url
    if not database_url:
        database_url, directory = start_postgres(args.pg_port)
    database_url += ("&" if "?" in database_url else "?") + "conn_max_age=60"
    site_port, sandbox_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}/sandbox"
    logs = Path(tempfile.mkdtemp(prefix="laaffic-load-logs-"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LAAFFIC_SANDBOX_URL": sandbox_url,
        "DEBUG": "false",
        "SECRET_KEY": "bench-load-" + "x" * 50,
        "LAAFFIC_API_KEY": "",
    }
    servers = []
    try:
        servers.append(
            gunicorn(
                "project.wsgi:application",
                sandbox_port,
                args.sandbox_workers,
                args.sandbox_threads,
                env,
                logs / "sandbox.log",
            )
        )
        os.environ.update(env)
        wait_until_up(f"http://127.0.0.1:{sandbox_port}/admin/login/")
        prepare(args, database_url, sandbox_url)
        servers.append(
            gunicorn(
                "load_wsgi:application",
                site_port,
                args.workers,
                args.threads,
                env,
                logs / "site.log",
            )
        )
        base = f"http://127.0.0.1:{site_port}"
        wait_until_up(f"{base}/admin/login/")
        set_latency(args.latency)
        sessions = [log_in(base, f"agent{i:03d}", args.connections) for i in range(args.agents)]
        print(f"{args.agents} agents logged in; running for {args.seconds:.0f} s", flush=True)
        figures = Figures()
        load = os.getloadavg()
        roots = {
            "site": servers[1].pid,
            "sandbox": servers[0].pid,
            "PostgreSQL": postmaster_pid(directory),
        }
        before = cpu_sample(roots)
        started = time.monotonic()
        until = started + args.seconds
        threads = [
            threading.Thread(
                target=agent,
                args=(base, s, until, args.pick_from, random.Random(args.seed + i), figures),
            )
            for i, s in enumerate(sessions)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        after = cpu_sample(roots)
        cpu = {name: after[name] - before[name] for name in after if name in before}
        time.sleep(1)  # let the last audit rows land
        report(args, figures, elapsed, load, cpu)
        print(f"server logs: {logs}")
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if directory:
            from django.db import connections

            connections.close_all()
            stop_postgres(directory)
        elif not any(logs.iterdir()):
            shutil.rmtree(logs)


if __name__ == "__main__":
    main()
