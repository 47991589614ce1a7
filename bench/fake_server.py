"""A loopback stand-in for LAAFFIC's recall-flow API, for benchmarks.

Serves N tasks with M nodes each, created over the ``--days`` before ``--end``, through
``queryPage`` and ``queryDetail`` of both product families, with the vendor's signature
check and an injected latency per call. ``GET /__stats`` returns the calls counted so far.
Standalone (no Django): ``python bench/fake_server.py --port 0`` prints ``PORT <n>``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import threading
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
PREFIXES = ("/voice/recallFlow/", "/v3/voice/recallFlow/")


class Dataset:
    """The remote state: list records sorted by creation time, and each task's detail."""

    def __init__(self, tasks: int, nodes: int, end: datetime, days: float):
        start = end - timedelta(days=days)
        span = (end - start).total_seconds()
        self.records: list[dict] = []
        self.details: dict[int, dict] = {}
        for i in range(tasks):
            created = start + timedelta(seconds=int(span * (i + 0.5) / tasks))
            key, status = 100000 + i, i % 5
            self.records.append(
                {
                    "keyId": key,
                    "taskId": 2024051800000 + i,
                    "taskName": f"Campaign {i // 10}",
                    "createTime": created.strftime(TIME_FORMAT),
                    "recallType": i % 2,
                    "recallInterval": 30,
                    "recallNum": nodes,
                    "finishNum": min(nodes, i % (nodes + 1)),
                    "status": status,
                }
            )
            self.details[key] = {
                "keyId": key,
                "recallInterval": 30,
                "recallNum": nodes,
                "recallType": i % 2,
                "status": status,
                "nodeList": [
                    {
                        "keyId": key * 100 + n,
                        "taskId": 3024051800000 + key * 100 + n,
                        "nodeStatus": 2 if n < i % (nodes + 1) else 0,
                        "scriptId": str(1700 + n),
                    }
                    for n in range(nodes)
                ],
            }
        self.times = [r["createTime"] for r in self.records]  # ascending

    def page(self, str_time: str, end_time: str, current: int, size: int, name: str | None):
        matching = self.records[
            bisect_left(self.times, str_time) : bisect_right(self.times, end_time)
        ][::-1]  # newest first
        if name:
            matching = [r for r in matching if name in r["taskName"] or name == str(r["taskId"])]
        return {
            "total": len(matching),
            "size": size,
            "current": current,
            "pages": math.ceil(len(matching) / size),
            "records": matching[(current - 1) * size : current * size],
        }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the vendor's HTTPS front does
    # http.server writes the headers and the body separately; with Nagle's algorithm the
    # body then waits for the client's delayed ACK (~40 ms), which is not LAAFFIC's latency.
    disable_nagle_algorithm = True
    server: Server

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        if self.path == "/__stats":
            with self.server.lock:
                self.send_json(dict(self.server.calls))
        else:
            self.send_error(404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.server.latency)
        prefix = next((p for p in PREFIXES if self.path.startswith(p)), None)
        call = self.path[len(prefix) :] if prefix else ""
        with self.server.lock:
            self.server.calls[call or "unknown"] += 1
        if call not in ("queryPage", "queryDetail"):
            self.send_error(404)
            return
        timestamp = self.headers.get("Timestamp", "")
        expected = hashlib.md5(
            f"{self.server.api_key}{self.server.api_secret}{timestamp}".encode(),
            usedforsecurity=False,
        ).hexdigest()
        if (
            self.headers.get("Api-Key") != self.server.api_key
            or self.headers.get("Sign") != expected
        ):
            self.send_json({"code": -1, "msg": "authentication error", "data": None})
            return
        try:
            request = json.loads(body)
            if call == "queryPage":
                params = request["params"]
                data = self.server.dataset.page(
                    params["strTime"],
                    params["endTime"],
                    int(request["current"]),
                    int(request["size"]),
                    params.get("taskName"),
                )
            else:
                data = self.server.dataset.details.get(int(request["keyId"]))
                if data is None:
                    raise KeyError(request["keyId"])
        except (KeyError, TypeError, ValueError):
            self.send_json({"code": -22, "msg": "parameter exception", "data": None})
            return
        self.send_json({"code": 0, "msg": "success", "data": data})

    def send_json(self, payload) -> None:
        raw = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, dataset: Dataset, latency: float, api_key: str, api_secret: str):
        super().__init__(address, Handler)
        self.dataset = dataset
        self.latency = latency
        self.api_key = api_key
        self.api_secret = api_secret
        self.calls: Counter = Counter()
        self.lock = threading.Lock()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.020, help="seconds per call")
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--end", help="YYYY-MM-DD HH:MM:SS (default: now, UTC)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="bench-key")
    parser.add_argument("--api-secret", default="bench-secret")
    args = parser.parse_args()
    end = (
        datetime.strptime(args.end, TIME_FORMAT)
        if args.end
        else datetime.utcnow().replace(microsecond=0)  # naive, as a remote time is
    )
    dataset = Dataset(args.tasks, args.nodes, end, args.days)
    server = Server(("127.0.0.1", args.port), dataset, args.latency, args.api_key, args.api_secret)
    print(f"PORT {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
