"""The local cloud's HTTP/1.1 socket loop on loopback: keep-alive, 100-continue, bad requests,
slow and idle connections, the connection limit (the parser:
tests/unit/local/frontdoor/test_http11.py)."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from recursectl.local.frontdoor.http11 import Reply, Request
from recursectl.local.frontdoor.netserver import Connection, LoopbackServer


class _Echo(Connection):
    request_timeout = 0.2
    idle_timeout = 0.3

    def respond(self, request: Request) -> Reply:
        return 200, {"X-Target": request.target}, request.body


class _Server(LoopbackServer):
    max_connections = 3
    first_byte_timeout = 0.3
    slot_wait = 0.5


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)
    assert not thread.is_alive()


def _connect(server: _Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def _read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def test_the_loop_answers_keep_alive_and_100_continue(server: _Server) -> None:
    with _connect(server) as sock:
        sock.sendall(
            b"PUT /o HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abc")
        sock.sendall(b"GET /two HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        replies = _read_all(sock)
    assert replies.count(b"HTTP/1.1 200 OK") == 2
    assert replies.endswith(b"X-Target: /two\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def test_a_bad_request_gets_its_status_and_the_connection_closes(server: _Server) -> None:
    with _connect(server) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
        )
        assert _read_all(sock).startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_slow_and_idle_connections_are_closed(server: _Server) -> None:
    with _connect(server) as slow, _connect(server) as idle:
        slow.sendall(b"GET / HTTP/1.1\r\n")  # ... and never the rest
        assert _read_all(slow).startswith(b"HTTP/1.1 408 ")
        assert _read_all(idle) == b""  # closed, without a reply


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class _KeepAlive(_Echo):
    idle_timeout = 10.0
    request_timeout = 10.0


def test_past_the_limit_the_longest_idle_makes_room_and_busy_ones_get_503() -> None:
    server = _Server(("127.0.0.1", 0), _KeepAlive)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    held = [_connect(server) for _ in range(3)]
    try:
        for sock in held:  # each is being served (a request answered) before the next
            sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200 OK")
        time.sleep(0.25)  # all three idle between requests, past the 0.2 s minimum
        with _connect(server) as extra:
            extra.sendall(b"GET /new HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            assert _read_all(extra).startswith(b"HTTP/1.1 200 OK")  # served
        # The longest idle (held[0], unless the machine reordered the threads) was closed.
        readable, _, _ = select.select(held, [], [], 2.0)
        closed = [sock for sock in readable if sock.recv(100) == b""]
        assert len(closed) == 1
        _wait_for(lambda: server.open_connections() == 2)  # the served ones have ended
        # Every slot busy in a request (each sent half of one): a new connection gets 503.
        busy = [sock for sock in held if sock not in closed] + [_connect(server)]
        held.append(busy[-1])
        for sock in busy:
            sock.sendall(b"GET / HTTP/1.1\r\n")
        # Each one's half request read (none idle, so none may be evicted): what the 503 needs.
        _wait_for(lambda: server.open_connections() == 3 and server.idle_connections() == 0)
        with _connect(server) as extra:
            extra.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            assert _read_all(extra).startswith(b"HTTP/1.1 503 ")
    finally:
        for sock in held:
            sock.close()
        server.shutdown()
        server.server_close()


def test_connections_that_send_nothing_are_closed_without_a_thread(server: _Server) -> None:
    silent = [_connect(server) for _ in range(20)]  # far past max_connections = 3
    try:
        with _connect(server) as client:  # answered while they wait
            client.sendall(b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            assert _read_all(client).startswith(b"HTTP/1.1 200 OK")
            assert server.open_connections() <= 1  # the silent ones hold no thread
        for sock in silent:  # and are closed after first_byte_timeout (0.3 s here)
            assert _read_all(sock) == b""
    finally:
        for sock in silent:
            sock.close()
