"""The Lambda Runtime API (server side), one instance per execution environment.

awslambdaric long-polls `GET /2018-06-01/runtime/invocation/next`, then posts the result to
`/invocation/{id}/response` or `/invocation/{id}/error` (or `/init/error` when the handler
cannot be loaded). The environment behind it decides what `next` returns.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

PREFIX = "/2018-06-01/runtime"
_RESULT = re.compile(rf"^{PREFIX}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")


class Next(Protocol):
    request_id: str
    payload: bytes

    def runtime_headers(self) -> dict[str, str]: ...


class Backend(Protocol):
    """What an execution environment offers its Runtime API."""

    def next_invocation(self) -> Next | None: ...

    def invocation_result(
        self, request_id: str, body: bytes, error_type: str | None, is_error: bool
    ) -> bool: ...

    def init_error(self, body: bytes, error_type: str | None) -> None: ...


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime client keeps its connection open
    server: RuntimeApiServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _reply(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        head = [f"HTTP/1.1 {code} {'OK' if code < 300 else 'Error'}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        head.append(f"Content-Length: {len(body)}")
        # One send: headers and body together (no Nagle / delayed-ACK stall).
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            self._reply(404, b'{"errorType":"NotFound"}')
            return
        nxt = self.server.backend.next_invocation()
        if nxt is None:  # the environment is shutting down
            self._reply(500, b'{"errorType":"EnvironmentShutdown"}')
            self.close_connection = True
            return
        headers = {"Content-Type": "application/json", **nxt.runtime_headers()}
        self._reply(200, nxt.payload, headers)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
        accepted = b'{"status":"OK"}'
        if self.path == f"{PREFIX}/init/error":
            self._reply(202, accepted)
            self.server.backend.init_error(body, error_type)
            return
        match = _RESULT.match(self.path)
        if not match:
            self._reply(404, b'{"errorType":"NotFound"}')
            return
        # Hand the result over before answering: the waiting caller is the latency that counts.
        known = self.server.backend.invocation_result(
            match["id"], body, error_type, match["kind"] == "error"
        )
        if known:
            self._reply(202, accepted)
        else:
            self._reply(
                400,
                json.dumps(
                    {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
                ).encode(),
            )

    def log_message(self, format: str, *args: Any) -> None:
        return


class RuntimeApiServer(ThreadingHTTPServer):
    daemon_threads = True
    backend: Backend


class RuntimeApi:
    """A Runtime API server on 127.0.0.1 (ephemeral port) serving one environment."""

    def __init__(self, backend: Backend) -> None:
        self.server = RuntimeApiServer(("127.0.0.1", 0), _Handler)
        self.server.backend = backend
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name=f"runtime-api-{self.address}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
