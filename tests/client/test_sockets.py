"""The client against a real socket on loopback that misbehaves after the request arrived.

``responses`` can only raise the exceptions we expect; these tests let urllib3 and
http.client meet the real thing (a reset, a hang-up, a body cut short, a garbled status
line, silence) and check that a cancel is then "outcome unknown", sent exactly once, and
that a read is retried within its bound.
"""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from laaffic_recall.client import LaafficClient, OutcomeUnknownError, TransportError
from tests.support.vendor import TEST_SETTINGS

WAIT = 10  # seconds; a safety net against a hang, never a timing assertion


class MisbehavingServer:
    """Accepts connections, reads one whole request from each, then does ``mode``."""

    def __init__(self, mode: str):
        self.mode = mode
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(WAIT)
        self._done = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._done.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self._done.is_set():  # the wake-up call from close()
                conn.close()
                return
            conn.settimeout(WAIT)
            try:
                self.requests.append(_read_request(conn))
                self._misbehave(conn)
            except OSError:
                conn.close()

    def _misbehave(self, conn: socket.socket) -> None:
        if self.mode == "reset":  # RST instead of an answer
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        elif self.mode == "hang-up":  # a clean close, no answer at all
            conn.close()
        elif self.mode == "truncated":  # a success whose body stops short
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b'Content-Length: 200\r\n\r\n{"code": 0, "msg": "succ'
            )
            conn.close()
        elif self.mode == "garbled":  # not HTTP at all
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            conn.close()
        elif self.mode == "silent":  # keep the connection open and say nothing
            self._held.append(conn)
        else:
            raise AssertionError(self.mode)

    def close(self) -> None:
        self._done.set()
        with socket.create_connection(self._listener.getsockname(), timeout=WAIT):
            pass  # wakes accept() up; closing the listener alone would not
        self._thread.join(WAIT)
        self._listener.close()
        for conn in self._held:
            conn.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@pytest.fixture
def serve():
    servers = []

    def start(mode: str) -> MisbehavingServer:
        server = MisbehavingServer(mode)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def client_for(server: MisbehavingServer, **kwargs) -> LaafficClient:
    options = {
        "api_key": TEST_SETTINGS["API_KEY"],
        "api_secret": TEST_SETTINGS["API_SECRET"],
        "base_url": server.url,
        "read_timeout": 0.5,
        "read_retries": 2,
        "retry_backoff": 0,
    }
    options.update(kwargs)
    return LaafficClient(**options)


@pytest.mark.parametrize("mode", ["reset", "hang-up", "truncated", "garbled", "silent"])
def test_a_cancel_that_got_no_clear_answer_is_unknown_and_sent_once(serve, mode):
    server = serve(mode)
    with client_for(server) as client, pytest.raises(OutcomeUnknownError) as info:
        client.cancel(1, 12)

    assert info.value.sent is True
    assert len(server.requests) == 1
    request = server.requests[0]
    assert request.startswith(b"POST /voice/recallFlow/cancel HTTP/1.1\r\n")
    assert request.endswith(b'{"type":1,"id":12}')
    # What the agent reads names the failure but never the secret or the signature.
    assert TEST_SETTINGS["API_SECRET"] not in str(info.value)
    assert b"Sign: " in request
    sign = request.split(b"Sign: ", 1)[1].split(b"\r\n", 1)[0].decode()
    assert sign not in str(info.value)
    assert sign not in repr(info.value)


@pytest.mark.parametrize("mode", ["reset", "hang-up", "truncated", "garbled", "silent"])
def test_a_read_that_got_no_clear_answer_is_retried_then_a_transport_error(serve, mode):
    server = serve(mode)
    with client_for(server) as client, pytest.raises(TransportError) as info:
        client.query_detail(12)

    assert not isinstance(info.value, OutcomeUnknownError)
    assert len(server.requests) == 3  # the first try and read_retries=2 more
    assert all(b"/voice/recallFlow/queryDetail " in r for r in server.requests)
    assert all(b"\r\nSign: " in r and b"\r\nTimestamp: " in r for r in server.requests)
