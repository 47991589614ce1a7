"""Real threads with their own database connections, for the ``postgres``-marked tests
(PostgreSQL's concurrent writers and row locks)."""

from __future__ import annotations

import threading

from django.db import connections

WAIT = 10  # seconds; a safety net against a hang, never a timing assertion


def in_thread(fn, *args):
    """Run fn in a thread with its own DB connection (closed at the end); return a joiner."""
    box = {}

    def run():
        try:
            box["result"] = fn(*args)
        except BaseException as exc:  # surfaced by the joiner
            box["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()

    def join():
        thread.join(WAIT)
        assert not thread.is_alive(), "worker thread hung"
        if "error" in box:
            raise box["error"]
        return box["result"]

    return join
