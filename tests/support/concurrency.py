"""Real threads with their own database connections, for the ``postgres``-marked tests
(PostgreSQL's concurrent writers and row locks)."""

from __future__ import annotations

import threading
import time

from django.db import connection, connections

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


def wait_for_a_lock() -> bool:
    """True once a connection to this test database waits for a lock (within WAIT)."""
    deadline = time.monotonic() + WAIT
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.01)
    return False
