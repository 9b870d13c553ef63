"""A lean HTTP/1.1 connection loop for the local cloud's servers (front door, Runtime API).

`http.server.BaseHTTPRequestHandler` parses every request's headers with the `email`
package and reads through buffered file objects: ~0.1-0.2 ms of CPU per request, paid on
every Invoke and twice per invocation on the Runtime API. This loop reads the socket
directly and splits the header block itself. It keeps what the local cloud's clients
(botocore, awslambdaric, urllib) rely on: keep-alive, `Content-Length` bodies, `Expect:
100-continue`, `Connection: close`, and one send per response (headers and body together,
so no Nagle / delayed-ACK stall).
"""

from __future__ import annotations

import socket
import socketserver
from http import HTTPStatus

Reply = tuple[int, dict[str, str], bytes]

MAX_HEAD = 64 * 1024  # bytes of request line + headers
_RECV = 65536


def reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def encode_reply(code: int, headers: dict[str, str], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {code} {reason(code)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class BadRequest(Exception):
    pass


class Connection(socketserver.BaseRequestHandler):
    """One client connection: requests are read and answered in order until it closes.

    Subclasses implement `respond`; setting `self.close_connection` closes the connection
    after the current response.
    """

    request: socket.socket
    close_connection = False

    def respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        raise NotImplementedError

    def handle(self) -> None:
        sock = self.request
        # Without this every response waits for the peer's delayed ACK (~40 ms on loopback).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""
        try:
            while not self.close_connection:
                if not self._one(sock):
                    return
        except (ConnectionError, TimeoutError, OSError):
            return

    def _one(self, sock: socket.socket) -> bool:
        """Read and answer one request; False when the connection is done."""
        buf = self._buf.lstrip(b"\r\n")  # RFC 9112: ignore empty lines before a request
        end = buf.find(b"\r\n\r\n")
        while end < 0:
            if len(buf) > MAX_HEAD:
                sock.sendall(encode_reply(431, {"Connection": "close"}, b""))
                return False
            chunk = sock.recv(_RECV)
            if not chunk:
                return False
            buf = (buf + chunk).lstrip(b"\r\n")
            end = buf.find(b"\r\n\r\n")
        head, buf = buf[:end].decode("latin-1"), buf[end + 4 :]
        try:
            method, target, version, headers, length, expect, conn = _parse_head(head)
        except BadRequest:
            sock.sendall(encode_reply(400, {"Connection": "close"}, b""))
            return False
        if version == "HTTP/1.0":
            self.close_connection = conn != "keep-alive"
        elif conn == "close":
            self.close_connection = True
        if length and expect == "100-continue" and len(buf) < length:
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        while len(buf) < length:
            chunk = sock.recv(max(_RECV, length - len(buf)))
            if not chunk:
                return False
            buf += chunk
        body, self._buf = buf[:length], buf[length:]
        code, out, payload = self.respond(method, target, headers, body)
        if self.close_connection:
            out = {**out, "Connection": "close"}
        sock.sendall(encode_reply(code, out, payload))
        return True


def _parse_head(head: str) -> tuple[str, str, str, dict[str, str], int, str, str]:
    """Request line and headers; header names keep their case (last one of a name wins)."""
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise BadRequest(lines[0])
    method, target, version = parts
    headers: dict[str, str] = {}
    length, expect, conn = 0, "", ""
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(line)
        value = value.strip()
        headers[name] = value
        lower = name.lower()
        if lower == "content-length":
            try:
                length = int(value)
            except ValueError:
                raise BadRequest(line) from None
            if length < 0:
                raise BadRequest(line)
        elif lower == "expect":
            expect = value.lower()
        elif lower == "connection":
            conn = value.lower()
    return method, target, version, headers, length, expect, conn
