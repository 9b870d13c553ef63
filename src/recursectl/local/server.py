"""The front door: one HTTP server on 127.0.0.1 for every AWS service of the local cloud.

Lambda's data plane (Invoke) and what moto lacks (recursion config) are answered here by the
engine; everything else is handed to moto's WSGI application in the same process. Code zips
are captured on their way to moto (CreateFunction / UpdateFunctionCode), and any Lambda
control-plane write tells the engine to re-read the function's configuration.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from recursectl.local.engine import Engine, Limits, ServiceError, function_name
from recursectl.local.http11 import Connection, Reply
from recursectl.local.logsink import LogSink
from recursectl.local.motowire import Moto, Response
from recursectl.local.workers import CodeStore

SERVICE_ID = "recursectl-local"
_RECURSION = re.compile(r"^/2024-08-31/functions/(?P<name>[^/]+)/recursion-config/?$")
_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
_CREATE = re.compile(r"^/2015-03-31/functions/?$")
_CODE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/code/?$")
_EVENT_INVOKE_CONFIG = re.compile(r"^/2019-09-25/functions/[^/]+/event-invoke-config/?$")
_LAMBDA_PATH = re.compile(r"^/20\d\d-\d\d-\d\d/(functions|event-source-mappings)")
_JSON = {"Content-Type": "application/json"}


def _is_lambda(headers: dict[str, str]) -> bool:
    auth = headers.get("authorization", "")
    return "/lambda/aws4_request" in auth or headers.get("host", "").startswith("lambda.")


class FrontDoor:
    """Routing, plus the engine and the state the front door owns."""

    def __init__(
        self,
        region: str = "us-east-1",
        limits: Limits | None = None,
        work_dir: Path | None = None,
    ) -> None:
        self.moto = Moto()
        self.sink = LogSink(self.moto, region)
        self._tmp = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="recursectl-local-")
            work_dir = Path(self._tmp.name)
        self.code = CodeStore(work_dir / "code")
        self.engine = Engine(self.moto, self.sink, self.code, region=region, limits=limits)
        self.on_shutdown: Callable[[], None] | None = None

    def close(self) -> None:
        self.engine.close()
        self.sink.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        lower = {k.lower(): v for k, v in headers.items()}
        if path.startswith("/_recursectl/"):
            return self._internal(method, path)
        match = _INVOKE.match(path)
        if match and method == "POST" and _is_lambda(lower):
            qualifiers = parse_qs(query).get("Qualifier")
            qualifier = qualifiers[0] if qualifiers else None
            return self.engine.invoke(
                match["name"],
                qualifier,
                lower.get("x-amz-invocation-type", "RequestResponse"),
                body,
                lower.get("x-amzn-trace-id"),
                lower.get("x-amz-log-type"),
            )
        match = _RECURSION.match(path)
        if match:
            return self._recursion_config(method, function_name(match["name"]), body)
        if path.rstrip("/") == "/moto-api/reset":
            self.engine.reset()
            return self.moto.call(method, path, query, headers, body)
        lambda_write = method != "GET" and bool(_LAMBDA_PATH.match(path)) and _is_lambda(lower)
        if lambda_write:
            self._capture_code(method, path, body)
            if method == "PUT" and _EVENT_INVOKE_CONFIG.match(path):
                # PutFunctionEventInvokeConfig replaces the configuration; moto appends a
                # second one and keeps answering the first. Delete it first (404 if none).
                self.moto.call("DELETE", path, query, headers, b"")
        response = self.moto.call(method, path, query, headers, body)
        if lambda_write and response[0] < 300:
            self.engine.invalidate()
        return response

    # code capture -------------------------------------------------------------------------
    def _capture_code(self, method: str, path: str, body: bytes) -> None:
        """Keep the zip of CreateFunction / UpdateFunctionCode (moto keeps only its hash)."""
        zipped = None
        try:
            if method == "POST" and _CREATE.match(path):
                zipped = (json.loads(body).get("Code") or {}).get("ZipFile")
            elif method == "PUT" and _CODE.match(path):
                zipped = json.loads(body).get("ZipFile")
        except (ValueError, AttributeError):
            return
        if isinstance(zipped, str) and zipped:
            try:
                self.code.add(base64.b64decode(zipped))
            except (binascii.Error, ValueError):
                return

    # recursion config (moto has none) -----------------------------------------------------
    def _recursion_config(self, method: str, name: str, body: bytes) -> Response:
        if method == "PUT":
            try:
                value = json.loads(body or b"{}").get("RecursiveLoop")
            except (ValueError, AttributeError):
                value = None
            if value not in ("Allow", "Terminate"):
                return ServiceError(
                    400,
                    "InvalidParameterValueException",
                    "RecursiveLoop must be Allow or Terminate",
                ).response()
            self.engine.put_recursion(name, value)
        value = self.engine.get_recursion(name)
        return 200, dict(_JSON), json.dumps({"RecursiveLoop": value}).encode()

    # /_recursectl/ ------------------------------------------------------------------------
    def _internal(self, method: str, path: str) -> Response:
        route = path[len("/_recursectl/") :].rstrip("/")
        if route == "health":
            info = {"service": SERVICE_ID, "pid": os.getpid(), "endpoint": self.engine.endpoint}
            return 200, dict(_JSON), json.dumps(info).encode()
        if route == "status":
            self.sink.flush(timeout=2.0)
            status = {"service": SERVICE_ID, "pid": os.getpid(), **self.engine.status()}
            return 200, dict(_JSON), json.dumps(status).encode()
        if route == "flush" and method == "POST":
            self.sink.flush()
            return 200, dict(_JSON), b'{"flushed":true}'
        if route == "shutdown" and method == "POST":
            if self.on_shutdown is None:
                return 409, dict(_JSON), b'{"message":"this server cannot be shut down remotely"}'
            threading.Thread(target=self.on_shutdown, name="shutdown", daemon=True).start()
            return 202, dict(_JSON), b'{"stopping":true}'
        return 404, dict(_JSON), b'{"message":"unknown internal endpoint"}'


class _Handler(Connection):
    """Keep-alive connections (botocore reuses them), parsed by the lean HTTP/1.1 loop."""

    server: FrontDoorServer

    def respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        path, _, query = target.partition("?")
        try:
            return self.server.door.handle(method, path, query, headers, body)
        except ServiceError as exc:
            return exc.response()
        except Exception as exc:  # answer like AWS would, keep serving
            return ServiceError(500, "ServiceException", f"local cloud error: {exc!r}").response()


class FrontDoorServer(ThreadingHTTPServer):
    daemon_threads = True
    door: FrontDoor

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def make_server(
    port: int = 0, door: FrontDoor | None = None, limits: Limits | None = None
) -> FrontDoorServer:
    """A front-door server bound to 127.0.0.1 (never another interface); port 0 picks one."""
    server = FrontDoorServer(("127.0.0.1", port), _Handler)
    server.door = door or FrontDoor(limits=limits)
    server.door.engine.endpoint = server.endpoint
    return server


def serve_in_thread(port: int = 0, limits: Limits | None = None) -> tuple[str, FrontDoorServer]:
    """Start a server in a daemon thread; returns its endpoint URL and the server.

    Stop it with `stop_server(server)` (kills every worker).
    """
    server = make_server(port, limits=limits)
    thread = threading.Thread(target=server.serve_forever, name="front-door", daemon=True)
    thread.start()
    return server.endpoint, server


def stop_server(server: FrontDoorServer) -> None:
    server.shutdown()
    server.server_close()
    server.door.close()
