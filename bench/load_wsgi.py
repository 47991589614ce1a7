"""The bundled site's WSGI application, timed for ``bench_load.py``.

Each response carries three headers: ``X-Bench-App-Ms`` (the time the site took for the
request, from the call of the WSGI application to its return), ``X-Bench-Laaffic-Ms`` (the
part of it spent in HTTP calls to LAAFFIC, i.e. ``requests.adapters.HTTPAdapter.send``
(which every request of ``requests`` goes through, whether or not via a session), including
waiting for the answer), ``X-Bench-Laaffic-Calls``, and ``X-Bench-App-Cpu-Ms``: the CPU
time of the request's thread outside those calls (steadier than wall time on a busy
machine). The app's own time of a request is the first minus the second. Only the
benchmark serves this module; the site is unchanged.

With ``BENCH_PROFILE_DIR`` set, each thread of each worker profiles its requests with
cProfile and writes the stats, one file per worker thread and request method
(``site-<pid>-<thread>-GET.prof``), every 20 requests: read them with ``pstats`` (or
``bench/profile_cancel.py``'s ``--sort``) to see where a worker's CPU goes under load.
"""

from __future__ import annotations

import cProfile
import os
import threading
import time
from pathlib import Path

import requests
import requests.adapters

from project.wsgi import application as site

_local = threading.local()
_send = requests.adapters.HTTPAdapter.send


def _timed_send(self, request, **kwargs):
    started, cpu = time.perf_counter(), time.thread_time()
    try:
        return _send(self, request, **kwargs)
    finally:
        if getattr(_local, "active", False):
            _local.waited += time.perf_counter() - started
            _local.send_cpu += time.thread_time() - cpu
            _local.calls += 1


requests.adapters.HTTPAdapter.send = _timed_send

PROFILE_DIR = os.environ.get("BENCH_PROFILE_DIR")


def _profiled(method: str):
    """This thread's profiler of ``method`` requests and its request count."""
    profiles = _local.__dict__.setdefault("profiles", {})
    if method not in profiles:
        profiles[method] = [cProfile.Profile(), 0]
    return profiles[method]


def _dump(method: str, entry) -> None:
    entry[1] += 1
    if entry[1] % 20 == 0:
        name = f"site-{os.getpid()}-{threading.get_ident()}-{method}.prof"
        entry[0].dump_stats(Path(PROFILE_DIR, name))


def application(environ, start_response):
    _local.active, _local.waited, _local.send_cpu, _local.calls = True, 0.0, 0.0, 0
    started, cpu = time.perf_counter(), time.thread_time()
    captured = {}

    def capture(status, headers, exc_info=None):
        captured["args"] = (status, list(headers), exc_info)
        return lambda data: None  # the site never uses write()

    if PROFILE_DIR:
        entry = _profiled(environ["REQUEST_METHOD"])
        body = entry[0].runcall(site, environ, capture)
        _dump(environ["REQUEST_METHOD"], entry)
    else:
        body = site(environ, capture)
    elapsed = time.perf_counter() - started
    cpu = time.thread_time() - cpu - _local.send_cpu
    _local.active = False
    status, headers, exc_info = captured["args"]
    headers += [
        ("X-Bench-App-Ms", f"{elapsed * 1000:.3f}"),
        ("X-Bench-Laaffic-Ms", f"{_local.waited * 1000:.3f}"),
        ("X-Bench-Laaffic-Calls", str(_local.calls)),
        ("X-Bench-App-Cpu-Ms", f"{cpu * 1000:.3f}"),
    ]
    start_response(status, headers, exc_info)
    return body
