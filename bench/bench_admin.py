"""Benchmark the task list, a task page and the audit log at production size.

Fills a throwaway database the way ``bench_overview.py`` does (SQLite in a temporary
directory, or the PostgreSQL database named by ``--database-url``, which it empties first)
with N tasks x 5 nodes and M audit rows, plus one task with 50 nodes and 200 attempts;
then loads each admin page below as a logged-in support agent (``DEBUG=False``, two
warm-ups, R timed loads) and prints a table: page, rows shown, p50, p95, the median CPU
time of this process (on SQLite all the work; on PostgreSQL all but the server's, so it
varies less than wall time on a busy machine) and queries.

Run from the repository root::

    .venv/bin/python bench/bench_admin.py [--tasks 100000] [--attempts 1000000]
        [--requests 10] [--database-url postgres://...] [--no-fill] [--only "audit, CSV"]
"""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta
from urllib.parse import urlencode

from bench_overview import agent_client, fill, parse_args, settle, setup

BIG_TASK_KEY = 900_000_000
BIG_TASK_NODES = 50
BIG_TASK_ATTEMPTS = 200
CSV_ROWS = 10_000


def fill_big_task() -> None:
    """The task page's worst case: a task with 50 nodes and 200 attempts."""
    from django.utils import timezone

    from laaffic_recall.models import CancelAttempt, CancelType, Outcome, RecallNode, RecallTask

    now = timezone.now()
    task = RecallTask.objects.create(
        key_id=BIG_TASK_KEY,
        parent_task_id=BIG_TASK_KEY + 1,
        task_name="Campaign with fifty rounds",
        created_at_remote=now - timedelta(days=40),
        status=2,
        recall_num=BIG_TASK_NODES,
        finish_num=20,
    )
    RecallNode.objects.bulk_create(
        RecallNode(key_id=BIG_TASK_KEY * 100 + i, task=task, position=i, status=2)
        for i in range(BIG_TASK_NODES)
    )
    CancelAttempt.objects.bulk_create(
        CancelAttempt(
            cancel_type=CancelType.TASK,
            target_id=BIG_TASK_KEY,
            task_key_id=BIG_TASK_KEY,
            task=task,
            username=f"agent{i % 40}",
            started_at=now - timedelta(days=39, minutes=i),
            finished_at=now - timedelta(days=39, minutes=i, seconds=-1),
            outcome=Outcome.REFUSED,
            response_code=-22,
        )
        for i in range(BIG_TASK_ATTEMPTS)
    )


def pages(args) -> list[tuple[str, str, dict | None]]:
    """(label, url, POST data or None) for every page the benchmark loads."""
    from django.utils import timezone

    from laaffic_recall.models import CancelAttempt, RecallTask

    tasks = "/admin/laaffic_recall/recalltask/"
    audit = "/admin/laaffic_recall/cancelattempt/"
    task = RecallTask.objects.order_by().only("pk", "key_id", "parent_task_id")
    some = task.get(key_id=args.tasks // 2)
    big = task.get(key_id=BIG_TASK_KEY)
    target = CancelAttempt.objects.order_by("id").values_list("target_id", flat=True)[
        args.attempts // 2
    ]
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    week = urlencode({"started_at__gte": (midnight - timedelta(days=7)).isoformat()})
    # The oldest 10,000 rows: an export of a filtered selection, all of it selected.
    first = CancelAttempt.objects.order_by("started_at", "id").values_list("started_at", flat=True)
    until = urlencode({"started_at__lt": first[CSV_ROWS].isoformat()})
    # A hostile search: 2,600 words (the search keeps its first words and says so).
    flood = urlencode({"q": " ".join(f"agent{n % 40}" for n in range(2600))})
    return [
        ("task list", tasks, None),
        ("task list, search by key", f"{tasks}?q=%23{some.key_id}", None),
        ("task list, search by parent id", f"{tasks}?q={some.parent_task_id}", None),
        ("task list, search part of a name", f"{tasks}?q=paign+{args.tasks // 3}", None),
        ("task list, status filter", f"{tasks}?status__exact=1", None),
        ("task list, show counts", f"{tasks}?_facets=True", None),
        ("task page, 50 nodes, 200 attempts", f"{tasks}{big.pk}/change/", None),
        ("audit list", audit, None),
        ("audit, search by username", f"{audit}?q=agent7", None),
        ("audit, search by id", f"{audit}?q={target}", None),
        ("audit, search of 2,600 words", f"{audit}?{flood}", None),
        ("task list, search of 2,600 words", f"{tasks}?{flood}", None),
        ("audit, outcome filter", f"{audit}?outcome=refused", None),
        ("audit, code filter", f"{audit}?response_code=-16", None),
        ("audit, user filter", f"{audit}?username=agent7", None),
        ("audit, date filter (7 days)", f"{audit}?{week}", None),
        ("audit, show counts", f"{audit}?_facets=True", None),
        (
            f"audit, CSV export of {CSV_ROWS:,} rows",
            f"{audit}?{until}",
            {"action": "download_csv", "select_across": "1", "index": "0", "_selected_action": "0"},
        ),
    ]


def rows_shown(content: bytes, csv: bool) -> str:
    if csv:
        lines = content.count(b"\n") - 1  # the header
        return f"{lines:,}"
    return str(len(re.findall(rb'<tr[^>]*>\s*<td class="action-checkbox">', content)) or "-")


def load(client, url: str, data: dict | None):
    response = client.post(url, data) if data else client.get(url)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, (url, response.status_code)
    return content


def measure(args) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    client = agent_client()
    print(
        f"{connection.vendor}: {args.tasks:,} tasks x {args.nodes} nodes, "
        f"{args.attempts:,} audit rows; {args.requests} loads per page after 2 warm-ups"
    )
    print("| page | rows | p50 | p95 | CPU p50 | queries |\n|---|---|---|---|---|---|")
    with override_settings(ALLOWED_HOSTS=["*"], DEBUG=False):
        for label, url, data in pages(args):
            if args.only and not any(word in label for word in args.only):
                continue
            for _ in range(2):
                load(client, url, data)
            times, cpu = [], []
            for _ in range(args.requests):
                began, began_cpu = time.perf_counter(), time.process_time()
                content = load(client, url, data)
                times.append(time.perf_counter() - began)
                cpu.append(time.process_time() - began_cpu)
            with CaptureQueriesContext(connection) as queries:
                load(client, url, data)
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(
                f"| {label} | {rows_shown(content, data is not None)} "
                f"| {statistics.median(times) * 1000:.0f} ms | {p95 * 1000:.0f} ms "
                f"| {statistics.median(cpu) * 1000:.0f} ms | {len(queries)} |",
                flush=True,
            )
            if args.verbose:
                for query in queries:
                    print(f"    {query['time']}s {query['sql'][:160]}")


def main() -> None:
    args = parse_args(nodes=5, requests=10, only=True, description=__doc__.split("\n\n")[0])
    setup(args)
    if not args.no_fill:
        began = time.perf_counter()
        fill(args)
        fill_big_task()
        settle()
        print(f"filled in {time.perf_counter() - began:.0f} s")
    measure(args)


if __name__ == "__main__":
    main()
