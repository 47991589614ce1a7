"""Profile the CPU of one cancel, in-process: the task list, the confirmation, the confirm.

Fills a throwaway SQLite database (or the PostgreSQL database named by ``--database-url``,
emptied first) with N Pending tasks of 3 nodes, fakes LAAFFIC with ``responses`` (a
queryDetail answers Pending until the task's cancel was received, then Cancelled; no
latency), logs a support agent in with Django's test client (``DEBUG=False``) and runs R
flows: GET the task list filtered to Pending, POST the "Cancel selected recall tasks"
action for one task (the confirmation page), POST the confirmation (``post=yes``). It
prints each step's p50 and least time, the CPU this process used (p50) and the queries,
then the functions that took the most time (cProfile) of each step, ``--top`` lines each.

Run from the repository root::

    .venv/bin/python bench/profile_cancel.py [--tasks 1000] [--requests 30] [--top 25]
        [--database-url postgres://...] [--step confirm]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "https://laaffic.profile.test"
TASKS_URL = "/admin/laaffic_recall/recalltask/?status__exact=0"
STEPS = ("list", "confirmation", "confirm")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--database-url")
    parser.add_argument(
        "--step", choices=[*STEPS, "none"], action="append", help="Profile only these."
    )
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    parser.add_argument(
        "--verbose", action="store_true", help="Print the last queries of each step."
    )
    return parser.parse_args()


def setup(args) -> None:
    sys.path.insert(0, str(ROOT))
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    else:
        directory = tempfile.mkdtemp(prefix="laaffic-profile-")
        os.environ["DATABASE_URL"] = f"sqlite:///{directory}/profile.sqlite3"
    os.environ["DEBUG"] = "false"
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["LAAFFIC_API_KEY"] = "profile-key"
    os.environ["LAAFFIC_API_SECRET"] = "profile-secret"
    os.environ["LAAFFIC_BASE_URL"] = BASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from laaffic_recall.guards import guards_lifted

    call_command("migrate", verbosity=0)
    with guards_lifted(connection):  # the owner empties the audit log too
        call_command("flush", interactive=False, verbosity=0)


def fill(args):
    from django.contrib.auth.models import Permission, User
    from django.utils import timezone

    from laaffic_recall.models import RecallNode, RecallTask

    now = timezone.now()
    tasks = RecallTask.objects.bulk_create(
        RecallTask(
            key_id=100_000 + i,
            parent_task_id=5_000_000 + i,
            task_name=f"Campaign {i}",
            created_at_remote=now - timezone.timedelta(seconds=i),
            status=0,
            recall_num=3,
            finish_num=0,
        )
        for i in range(args.tasks)
    )
    RecallNode.objects.bulk_create(
        RecallNode(key_id=t.key_id * 10 + n, task=t, position=n, status=0)
        for t in tasks
        for n in range(3)
    )
    user = User.objects.create_user("agent", password="x", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="laaffic_recall",
            codename__in=[
                "view_recalltask",
                "view_recallnode",
                "view_cancelattempt",
                "cancel_recalltask",
            ],
        )
    )
    return user


class FakeLaaffic:
    """queryDetail answers Pending until a cancel of the task arrived; cancel answers 0."""

    def __init__(self, rsps):
        self.cancelled: set[int] = set()
        for call, callback in (("queryDetail", self.detail), ("cancel", self.cancel)):
            rsps.add_callback("POST", f"{BASE_URL}/voice/recallFlow/{call}", callback=callback)

    def answer(self, data) -> tuple:
        body = json.dumps({"code": 0, "msg": "success", "data": data})
        return 200, {"Content-Type": "application/json;charset=UTF-8"}, body

    def detail(self, request) -> tuple:
        key = json.loads(request.body)["keyId"]
        status = 3 if key in self.cancelled else 0
        nodes = [
            {"keyId": key * 10 + n, "taskId": 9000 + n, "nodeStatus": status, "scriptId": "7"}
            for n in range(3)
        ]
        return self.answer(
            {
                "keyId": key,
                "recallInterval": 30,
                "recallNum": 3,
                "recallType": 0,
                "status": status,
                "nodeList": nodes,
            }
        )

    def cancel(self, request) -> tuple:
        self.cancelled.add(json.loads(request.body)["id"])
        return self.answer(None)


HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Steps:
    """Each step's times, CPU, query counts and last queries, and its profile."""

    def __init__(self, profiled: set[str]) -> None:
        self.profiled = profiled
        self.profiles = {step: cProfile.Profile() for step in STEPS}
        self.times: dict[str, list[float]] = {step: [] for step in STEPS}
        self.cpus: dict[str, list[float]] = {step: [] for step in STEPS}
        self.queries: dict[str, list[int]] = {step: [] for step in STEPS}
        self.last_queries: dict[str, list[str]] = {}

    def timed(self, step, run, warm: bool):
        """Run one request of ``step``; a warm one is measured (and profiled if asked)."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        profile = self.profiles[step] if step in self.profiled and warm else None
        with CaptureQueriesContext(connection) as captured:
            started, cpu = time.perf_counter(), time.process_time()
            if profile:
                profile.enable()
            response = run()
            if profile:
                profile.disable()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
        if warm:
            self.times[step].append(elapsed)
            self.cpus[step].append(cpu)
            self.queries[step].append(len(captured))
            self.last_queries[step] = [q["sql"] for q in captured.captured_queries]
        return response

    def report(self, args) -> None:
        for step in STEPS:
            print(
                f"{step:13} p50 {statistics.median(self.times[step]) * 1000:6.1f} ms, "
                f"min {min(self.times[step]) * 1000:6.1f} ms, "
                f"CPU p50 {statistics.median(self.cpus[step]) * 1000:6.1f} ms, "
                f"queries {statistics.median(self.queries[step]):.0f}"
            )
        if args.verbose:
            for step in STEPS:
                print(f"\n----- queries of the last {step} -----")
                for sql in self.last_queries[step]:
                    print("  ", sql[:300])
        for step in STEPS:
            if step not in self.profiled:
                continue
            out = io.StringIO()
            stats = pstats.Stats(self.profiles[step], stream=out)
            stats.sort_stats(args.sort).print_stats(args.top)
            print(f"\n===== {step} (per {args.requests} requests) =====")
            print(out.getvalue().split("\n", 4)[-1])


def main() -> None:
    args = parse_args()
    setup(args)
    import html

    import responses
    from django.db import connection
    from django.test import Client

    from laaffic_recall.models import RecallTask

    user = fill(args)
    client = Client()
    client.force_login(user)
    steps = Steps(set(args.step or STEPS))
    keys = list(RecallTask.objects.order_by("-created_at_remote").values_list("pk", flat=True))

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        FakeLaaffic(rsps)
        for index in range(args.requests + 3):
            warm = index >= 3
            page = steps.timed("list", lambda: client.get(TASKS_URL), warm)
            assert page.status_code == 200, page.status_code
            data = {
                "action": "cancel_tasks",
                "index": "0",
                "select_across": "0",
                "_selected_action": str(keys[index]),
            }
            page = steps.timed("confirmation", lambda d=data: client.post(TASKS_URL, d), warm)
            assert page.status_code == 200, page.status_code
            form = page.content.decode().partition("laaffic-confirm-form")[2]
            fields = {name: html.unescape(value) for name, value in HIDDEN.findall(form)}
            fields["reason"] = "profile"
            answer = steps.timed("confirm", lambda f=fields: client.post(TASKS_URL, f), warm)
            assert answer.status_code == 302, answer.status_code

    print(f"{connection.vendor}, {args.tasks} Pending tasks, {args.requests} flows")
    steps.report(args)


if __name__ == "__main__":
    main()
