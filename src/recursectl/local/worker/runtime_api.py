"""The Lambda Runtime API (server side), one instance per execution environment.

awslambdaric long-polls `GET /2018-06-01/runtime/invocation/next`, then posts the result to
`/invocation/{id}/response` or `/invocation/{id}/error` (or `/init/error` when the handler
cannot be loaded). The environment behind it decides what `next` returns.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Protocol

from recursectl.local.frontdoor import access
from recursectl.local.frontdoor.http11 import Reply, Request
from recursectl.local.frontdoor.netserver import Connection, LoopbackServer

PREFIX = "/2018-06-01/runtime"
_NEXT = f"{PREFIX}/invocation/next"
_INIT_ERROR = f"{PREFIX}/init/error"
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


_ACCEPTED = b'{"status":"OK"}'
_NOT_FOUND = b'{"errorType":"NotFound"}'
_JSON = {"Content-Type": "application/json"}


class _Handler(Connection):
    """The runtime client keeps its connection open: one loop per worker.

    No idle timeout: the connection is quiet while the handler runs (up to its timeout).
    """

    server: RuntimeApiServer
    idle_timeout = None

    def body_limit(self, method: str, target: str) -> int:
        # A response over 6 MB must reach the engine, which answers AWS's
        # Function.ResponseSizeTooLarge; the runtime client dies on a bare 413.
        return 64 * 1024 * 1024

    def respond(self, request: Request) -> Reply:
        backend = self.server.backend
        method, target, headers = request.method, request.target, request.headers
        refused = access.refusal(headers, self.server.hosts)
        if refused is not None:
            return 403, {}, json.dumps({"errorType": "Forbidden", "errorMessage": refused}).encode()
        if method == "GET":
            if target != _NEXT:
                return 404, {}, _NOT_FOUND
            nxt = backend.next_invocation()
            if nxt is None:  # the environment is shutting down
                self.close_connection = True
                return 500, {}, b'{"errorType":"EnvironmentShutdown"}'
            return 200, {**_JSON, **nxt.runtime_headers()}, nxt.payload
        if method != "POST":
            return 404, {}, _NOT_FOUND
        error_type = headers.get("lambda-runtime-function-error-type")
        if target == _INIT_ERROR:
            backend.init_error(request.body, error_type)
            return 202, {}, _ACCEPTED
        match = _RESULT.match(target)
        if not match:
            return 404, {}, _NOT_FOUND
        # Hand the result over before answering: the waiting caller is the latency that counts.
        is_error = match["kind"] == "error"
        if backend.invocation_result(match["id"], request.body, error_type, is_error):
            return 202, {}, _ACCEPTED
        return (
            400,
            {},
            json.dumps(
                {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
            ).encode(),
        )


class RuntimeApiServer(LoopbackServer):
    backend: Backend
    hosts: frozenset[str]
    max_connections = 16  # one runtime client per environment


class RuntimeApi:
    """A Runtime API server on 127.0.0.1 (ephemeral port) serving one environment."""

    def __init__(self, backend: Backend) -> None:
        self.server = RuntimeApiServer(("127.0.0.1", 0), _Handler)
        self.server.backend = backend
        self.server.hosts = access.loopback_hosts(self.server.port)
        self.address = f"127.0.0.1:{self.server.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            name=f"runtime-api-{self.address}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
