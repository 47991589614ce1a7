"""queryDetail calls on a bounded thread pool, handed back to the calling thread.

Each worker thread builds its own client (a ``requests.Session`` is not shared between
threads) and never touches the database: results go to a queue that the caller drains
and writes from its own thread, so no database connection is opened in a worker.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, overload

from django.utils import timezone

from ..client.http import LaafficClient
from .mirror import FetchedDetail

ClientFactory = Callable[[], LaafficClient]
# (task key, the detail or None, the error or None)
Result = tuple[int, FetchedDetail | None, Exception | None]


class DetailFetcher:
    """Submit task keys (each at most once); take results as they arrive; close."""

    def __init__(self, factory: ClientFactory, workers: int):
        self._factory = factory
        self._local = threading.local()
        self._clients: list[LaafficClient] = []
        self._lock = threading.Lock()
        self._results: queue.SimpleQueue[Result] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="laaffic-sync")
        self.submitted: set[int] = set()
        self.outstanding = 0

    def submit(self, key_id: int) -> None:
        if key_id in self.submitted:
            return
        self.submitted.add(key_id)
        self.outstanding += 1
        self._pool.submit(self._fetch, key_id)

    def _client(self) -> LaafficClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._factory()
            with self._lock:
                self._clients.append(client)
        return client

    def _fetch(self, key_id: int) -> None:
        requested_at = timezone.now()
        try:
            detail = self._client().query_detail(key_id)
        except Exception as exc:  # every submitted key must report back, whatever happens
            # The caller counts it and logs it (with the worker's traceback, kept on exc).
            self._results.put((key_id, None, exc))
        else:
            self._results.put((key_id, FetchedDetail(detail, requested_at, timezone.now()), None))

    @overload
    def take(self, block: Literal[True]) -> Result: ...
    @overload
    def take(self, block: Literal[False]) -> Result | None: ...

    def take(self, block: bool) -> Result | None:
        """The next result; without ``block``, ``None`` when none has arrived yet."""
        try:
            result = self._results.get(block=block)
        except queue.Empty:
            return None
        self.outstanding -= 1
        return result

    def close(self) -> None:
        """Wait for running calls, drop queued ones, close every worker's client."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        for client in self._clients:
            client.close()
