"""What the chain helper's unit tests run against: the helper as Lambda loads it, and a tiny
Lambda Invoke endpoint on loopback (real HTTP, so botocore's retries, parsers and connection
handling are the real ones) that answers from a script and records every request."""

from __future__ import annotations

import json
import socket
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import botocore.client

from tests.support.helper_copy import exec_helper

# The unpatched method, captured before any copy of the helper is loaded.
ORIGINAL_MAKE_API_CALL = botocore.client.BaseClient.__dict__["_make_api_call"]

DROP = "drop"  # close the connection after reading the request: an ambiguous failure


def load_helper(name: str = "recursectl_chain") -> ModuleType:
    """A fresh copy of the packaged helper, imported by its own name as the runtime does."""
    return exec_helper(name, register=True)


def unload_helper(name: str = "recursectl_chain") -> None:
    """Take every copy's guard off botocore and its import hook off sys.meta_path."""
    sys.modules.pop(name, None)
    sys.modules.pop("recursectl_job" if name == "recursectl_chain" else f"{name}__job", None)
    sys.modules.pop("recursectl_dynamo" if name == "recursectl_chain" else f"{name}__dynamo", None)
    botocore.client.BaseClient._make_api_call = ORIGINAL_MAKE_API_CALL  # type: ignore[method-assign]
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_PatchOnImport"]


@dataclass
class Request:
    path: str
    function: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class FakeLambda:
    url: str
    requests: list[Request] = field(default_factory=list)
    script: list[Any] = field(default_factory=list)  # DROP, or (status, error code or None)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        fake = self.server.fake
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.split("/")
        function = urllib.parse.unquote(parts[3]) if len(parts) > 3 else ""
        fake.requests.append(Request(self.path, function, dict(self.headers), body))
        step = fake.script.pop(0) if fake.script else None
        if step == DROP:
            self.close_connection = True
            return
        status, code = step if step else (None, None)
        request_id = f"child-{len(fake.requests)}"
        if code is not None:
            payload = json.dumps({"__type": code, "message": f"{code} (scripted)"}).encode()
            self._send(status, {"x-amzn-ErrorType": code}, payload, request_id)
        elif "invoke-async" in self.path:
            self._send(status or 202, {}, b'{"Status": 202}', request_id)
        elif self.headers.get("X-Amz-Invocation-Type") == "Event":
            self._send(status or 202, {}, b"", request_id)
        else:
            self._send(status or 200, {}, b"null", request_id)

    def _send(self, status: int, headers: dict[str, str], body: bytes, request_id: str) -> None:
        self.send_response(status)
        self.send_header("x-amzn-RequestId", request_id)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLambda


@contextmanager
def fake_lambda() -> Iterator[FakeLambda]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeLambda(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server.fake
    finally:
        server.shutdown()
        server.server_close()


def markers(out: str) -> list[dict[str, Any]]:
    return [
        json.loads(line.split(" ", 1)[1])
        for line in out.splitlines()
        if line.startswith("RECURSECTL_CHAIN ")
    ]
