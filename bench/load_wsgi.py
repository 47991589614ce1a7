"""The bundled site's WSGI application, timed for ``bench_load.py``.

Each response carries three headers: ``X-Bench-App-Ms`` (the time the site took for the
request, from the call of the WSGI application to its return), ``X-Bench-Laaffic-Ms`` (the
part of it spent in HTTP calls to LAAFFIC, i.e. ``requests.adapters.HTTPAdapter.send``
(which every request of ``requests`` goes through, whether or not via a session), including
waiting for the answer), ``X-Bench-Laaffic-Calls``, and ``X-Bench-App-Cpu-Ms``: the CPU
time of the request's thread outside those calls (steadier than wall time on a busy
machine). The app's own time of a request is the first minus the second. Only the
benchmark serves this module; the site is unchanged.
"""

from __future__ import annotations

import threading
import time

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


def application(environ, start_response):
    _local.active, _local.waited, _local.send_cpu, _local.calls = True, 0.0, 0.0, 0
    started, cpu = time.perf_counter(), time.thread_time()
    captured = {}

    def capture(status, headers, exc_info=None):
        captured["args"] = (status, list(headers), exc_info)
        return lambda data: None  # the site never uses write()

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
