"""The local cloud's lean HTTP/1.1 loop, over a real loopback socket."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from recursectl.local.http11 import Connection, Reply


class _Echo(Connection):
    def respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        names = ",".join(headers)
        return 200, {"X-Method": method, "X-Target": target, "X-Names": names}, body


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True


@pytest.fixture
def conn() -> Iterator[socket.socket]:
    server = _Server(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sock = socket.create_connection(server.server_address, timeout=5)
    try:
        yield sock
    finally:
        sock.close()
        server.shutdown()
        server.server_close()


def _read_reply(sock: socket.socket, buf: bytearray) -> tuple[str, dict[str, str], bytes]:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    end = buf.index(b"\r\n\r\n")
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    del buf[: end + 4]
    headers = dict(line.split(": ", 1) for line in lines[1:])
    length = int(headers.get("Content-Length", "0"))
    while len(buf) < length:
        buf += sock.recv(65536)
    body = bytes(buf[:length])
    del buf[:length]
    return lines[0], headers, body


def test_pipelined_keep_alive_requests_are_answered_in_order(conn: socket.socket) -> None:
    conn.sendall(
        b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /b HTTP/1.1\r\nX-Amz-Target: T\r\n\r\n"
    )
    buf = bytearray()
    status, headers, body = _read_reply(conn, buf)
    assert status == "HTTP/1.1 200 OK"
    assert (headers["X-Method"], headers["X-Target"], body) == ("POST", "/a?x=1", b"hello")
    assert headers["X-Names"] == "Host,Content-Length"  # names keep the client's spelling
    status, headers, body = _read_reply(conn, buf)
    assert (headers["X-Method"], headers["X-Target"], body) == ("GET", "/b", b"")


def test_expect_100_continue_gets_an_interim_reply(conn: socket.socket) -> None:
    conn.sendall(b"PUT /o HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    buf = bytearray()
    status, _, _ = _read_reply(conn, buf)
    assert status == "HTTP/1.1 100 Continue"
    conn.sendall(b"abc")
    status, _, body = _read_reply(conn, buf)
    assert (status, body) == ("HTTP/1.1 200 OK", b"abc")


def test_connection_close_is_honoured(conn: socket.socket) -> None:
    conn.sendall(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    buf = bytearray()
    _, headers, _ = _read_reply(conn, buf)
    assert headers["Connection"] == "close"
    assert conn.recv(10) == b""


@pytest.mark.parametrize(
    "raw",
    [b"NONSENSE\r\n\r\n", b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
     b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"],
)  # fmt: skip
def test_malformed_requests_get_400_and_close(conn: socket.socket, raw: bytes) -> None:
    conn.sendall(raw)
    buf = bytearray()
    status, _, _ = _read_reply(conn, buf)
    assert status == "HTTP/1.1 400 Bad Request"
    assert conn.recv(10) == b""
