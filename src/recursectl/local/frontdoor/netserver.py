"""The socket side of the local cloud's HTTP servers: accept, read, write, time out.

A new connection costs no thread until it sends its first byte: it waits in the accept
loop's selector, and one that sends nothing within `first_byte_timeout` (5 s) is closed (as
are the oldest waiting ones past `max_waiting`). Then one thread per connection
(`ThreadingMixIn`), bounded by `max_connections`: when all are taken, the connection idle
the longest between requests is closed to make room, and only when every one is busy with a
request does a new one get `503`. So silent connections (a port scanner, a handler leaking
clients) never lock the CLI or the chains' Invokes out. The listen queue holds 1,024
connections (socketserver's default of 5 reset 43 of 200 simultaneous clients; Invoke is
never retried, so a reset is a lost invocation). A connection idle between requests is
closed after `idle_timeout`; a request must arrive whole within `request_timeout` of its
first byte (slowloris). `serve_forever` wakes on a pipe when stopped, so `shutdown()`
returns at once instead of after socketserver's poll interval.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import socketserver
import threading
import time
from typing import Any

from recursectl.local.frontdoor.http11 import (
    CONTINUE,
    MAX_BODY,
    ProtocolError,
    Reply,
    Request,
    RequestParser,
    Streamed,
    encode_chunk,
    encode_reply,
    encode_stream_head,
)

_RECV = 65536
_MIN_IDLE = 0.2  # seconds idle before a connection may be closed to make room


class Connection(socketserver.BaseRequestHandler):
    """One client connection: requests are read and answered in order until it closes.

    Subclasses implement `respond`; setting `self.close_connection` closes the connection
    after the current response.
    """

    request: socket.socket
    server: LoopbackServer
    close_connection = False
    idle_timeout: float | None = 60.0  # between requests
    request_timeout: float | None = 30.0  # first byte of a request to its last

    def respond(self, request: Request) -> Reply | Streamed:
        raise NotImplementedError

    def body_limit(self, method: str, target: str) -> int:
        return MAX_BODY

    def handle(self) -> None:
        sock = self.request
        # Without this every response waits for the peer's delayed ACK (~40 ms on loopback).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(ConnectionError, TimeoutError, OSError):
            self._serve(sock, RequestParser(body_limit=self.body_limit))

    # C901 (listed in pyproject.toml): the connection loop: read, parse, answer, keep-alive
    # and timeout cases.
    def _serve(self, sock: socket.socket, parser: RequestParser) -> None:  # noqa: C901
        timeout: float | None = self.idle_timeout
        sock.settimeout(timeout)
        deadline = 0.0
        while True:
            try:
                request = parser.next()
            except ProtocolError as exc:
                body = f'{{"message":"{exc.message}"}}'.encode()
                # A body over the limit is AWS's RequestEntityTooLargeException (413).
                named = {"X-Amzn-ErrorType": "RequestEntityTooLargeException"}
                headers = named if exc.status == 413 else {}
                sock.sendall(encode_reply(exc.status, headers, body, close=True))
                return
            if request is not None:
                reply = self.respond(request)
                if isinstance(reply, Streamed):
                    _stream(sock, reply)
                    return
                close = self.close_connection or not request.keep_alive
                sock.sendall(encode_reply(*reply, close=close))
                if close:
                    return
                deadline = 0.0
                continue
            if parser.wants_continue():
                sock.sendall(CONTINUE)
            if parser.pending and self.request_timeout is not None:
                # A request has begun: it must be whole by its deadline.
                now = time.monotonic()
                if not deadline:
                    deadline = now + self.request_timeout
                elif now >= deadline:
                    sock.sendall(encode_reply(408, {}, b"", close=True))
                    return
                timeout = deadline - now
                sock.settimeout(timeout)
            elif timeout != self.idle_timeout:
                timeout = self.idle_timeout
                sock.settimeout(timeout)
            idle = not parser.pending
            if idle:  # between requests: the first to go when connections run out
                self.server.idle_since(sock)
            try:
                data = sock.recv(_RECV)
            except TimeoutError:
                if parser.pending:
                    sock.sendall(encode_reply(408, {}, b"", close=True))
                return
            finally:
                if idle:
                    self.server.busy(sock)
            if not data:
                return
            parser.feed(data)


def _stream(sock: socket.socket, reply: Streamed) -> None:
    """Send a streamed reply in this connection's own thread (other connections go on), then
    close; a client that hangs up ends the producer (its `finally` blocks run)."""
    try:
        sock.sendall(encode_stream_head(reply.code, reply.headers))
        for data in reply.chunks:
            if data:
                sock.sendall(encode_chunk(data))
        sock.sendall(encode_chunk(b""))
    finally:
        close = getattr(reply.chunks, "close", None)
        if close is not None:
            close()


class LoopbackServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A threaded TCP server with a bounded number of connections and a prompt shutdown."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    max_connections = 512  # connections with a thread (they have sent a byte)
    max_waiting = 4096  # connections that have sent nothing yet (no thread: a file each)
    first_byte_timeout: float | None = 5.0
    slot_wait = 1.0  # seconds a new connection waits for an evicted one's slot

    def __init__(self, address: tuple[str, int], handler: Any) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._open = 0  # connections being served now
        self._open_lock = threading.Lock()
        self._idle: dict[socket.socket, float] = {}  # served connections between requests
        self._waiting: dict[socket.socket, tuple[Any, float]] = {}  # no byte yet (insertion order)
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = threading.Event()
        self._running = threading.Event()
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._running.set()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._wake_r, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    for key, _ in selector.select(self._next_expiry()):
                        if self._stopping.is_set():
                            break
                        if key.fileobj is self:
                            self._accept(selector)
                        elif key.fileobj in self._waiting:
                            self._first_byte(selector, key.fileobj)
                    self._expire(selector)
        finally:
            for sock in list(self._waiting):
                self.shutdown_request(sock)
            self._waiting.clear()
            self._stopped.set()

    def _accept(self, selector: selectors.BaseSelector) -> None:
        """A new connection waits in the selector, without a thread, for its first byte."""
        try:
            request, client_address = self.get_request()
        except OSError:
            return
        self._waiting[request] = (client_address, time.monotonic())
        selector.register(request, selectors.EVENT_READ)
        while len(self._waiting) > self.max_waiting:  # the oldest silent one goes
            self._drop_waiting(selector, next(iter(self._waiting)))

    def _first_byte(self, selector: selectors.BaseSelector, sock: socket.socket) -> None:
        client_address, _ = self._waiting.pop(sock)
        selector.unregister(sock)
        try:
            self.process_request(sock, client_address)
        except Exception:
            self.handle_error(sock, client_address)
            self.shutdown_request(sock)

    def _drop_waiting(self, selector: selectors.BaseSelector, sock: socket.socket) -> None:
        self._waiting.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(sock)
        self.shutdown_request(sock)

    def _next_expiry(self) -> float | None:
        if not self._waiting or self.first_byte_timeout is None:
            return None
        _, oldest = next(iter(self._waiting.values()))
        return max(0.0, oldest + self.first_byte_timeout - time.monotonic())

    def _expire(self, selector: selectors.BaseSelector) -> None:
        """Close the connections that sent nothing within `first_byte_timeout`."""
        if self.first_byte_timeout is None:
            return
        cutoff = time.monotonic() - self.first_byte_timeout
        while self._waiting:
            sock, (_, since) = next(iter(self._waiting.items()))
            if since > cutoff:
                return
            self._drop_waiting(selector, sock)

    # idle connections (served, between requests) ------------------------------------------
    def idle_since(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._idle[sock] = time.monotonic()

    def busy(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._idle.pop(sock, None)

    def _evict_idle(self) -> bool:
        """Close the connection idle the longest (its thread ends, its slot frees)."""
        with self._open_lock:
            if not self._idle:
                return False
            sock = min(self._idle, key=self._idle.__getitem__)
            if time.monotonic() - self._idle[sock] < _MIN_IDLE:
                return False  # its client may be sending a request right now
            del self._idle[sock]
        with contextlib.suppress(OSError):
            # The read side only: its blocked recv returns b"" and the thread ends, while a
            # request it read a moment ago can still be answered.
            sock.shutdown(socket.SHUT_RD)
        return True

    def shutdown(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._running.is_set():
            self._stopped.wait()

    def server_close(self) -> None:
        super().server_close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False) and not (
            self._evict_idle() and self._slots.acquire(timeout=self.slot_wait)
        ):
            with contextlib.suppress(OSError):
                request.sendall(encode_reply(503, {}, b'{"message":"too many connections"}', True))
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open += 1
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open -= 1
                self._idle.pop(request, None)
            self._slots.release()

    def open_connections(self) -> int:
        """Connections being served now (for status and tests)."""
        return self._open

    def idle_connections(self) -> int:
        """Served connections between two requests: the ones that may be evicted."""
        with self._open_lock:
            return len(self._idle)
