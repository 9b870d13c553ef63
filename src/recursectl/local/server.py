"""The front door: one HTTP server on 127.0.0.1 for every AWS service of the local cloud.

Lambda's data plane (Invoke) and what moto lacks (recursion config) are answered here;
everything else is handed to moto's WSGI application in the same process.
"""

from __future__ import annotations

import io
import json
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RECURSION = re.compile(r"^/2024-08-31/functions/(?P<name>[^/]+)/recursion-config$")


def _function_name(raw: str) -> str:
    """A function name from a name, a partial ARN or a full ARN (URL-decoded)."""
    from urllib.parse import unquote

    raw = unquote(raw)
    if ":function:" in raw:
        raw = raw.split(":function:", 1)[1]
    return raw.split(":", 1)[0]


class FrontDoor:
    """Routing and the state the front door owns itself."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.moto = DomainDispatcherApplication(create_backend_app)
        self.recursion: dict[str, str] = {}
        self.lock = threading.Lock()

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        match = _RECURSION.match(path)
        if match:
            return self._recursion_config(method, _function_name(match["name"]), body)
        return self._moto(method, path, query, headers, body)

    # recursion config (moto has none) -----------------------------------------------------
    def _recursion_config(
        self, method: str, name: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if method == "PUT":
            value = json.loads(body or b"{}").get("RecursiveLoop")
            if value not in ("Allow", "Terminate"):
                return _error(
                    400,
                    "InvalidParameterValueException",
                    "RecursiveLoop must be Allow or Terminate",
                )
            with self.lock:
                self.recursion[name] = value
            return (
                200,
                {"Content-Type": "application/json"},
                json.dumps({"RecursiveLoop": value}).encode(),
            )
        with self.lock:
            value = self.recursion.get(name, "Terminate")
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps({"RecursiveLoop": value}).encode(),
        )

    # everything else ----------------------------------------------------------------------
    def _moto(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "0",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for key, value in headers.items():
            name = key.upper().replace("-", "_")
            if name == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif name != "CONTENT_LENGTH":
                environ[f"HTTP_{name}"] = value
        status: list[Any] = []

        def start_response(s: str, h: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[:] = [s, h]
            return lambda data: None

        chunks = self.moto(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        code = int(status[0].split(" ", 1)[0])
        out = {
            k: v for k, v in status[1] if k.lower() not in ("content-length", "transfer-encoding")
        }
        return code, out, payload


def _error(code: int, type_: str, message: str) -> tuple[int, dict[str, str], bytes]:
    # The JSON error shape botocore maps to modelled exceptions (X-Amzn-ErrorType wins).
    headers = {"Content-Type": "application/json", "X-Amzn-ErrorType": type_}
    return code, headers, json.dumps({"Type": "User", "message": message}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses connections
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Without this every response waits for the peer's delayed ACK (~40 ms on loopback).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        code, headers, payload = self.server.door.handle(
            self.command, path, query, dict(self.headers.items()), body
        )
        head = [f"HTTP/1.1 {code} {_reason(code)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"Content-Length: {len(payload)}")
        # Headers and body in one send: two small writes would stall on Nagle/delayed ACK.
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


def _reason(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    door: FrontDoor


def make_server(port: int = 0, door: FrontDoor | None = None) -> _Server:
    """A front-door server bound to 127.0.0.1 (never another interface); port 0 picks one."""
    server = _Server(("127.0.0.1", port), _Handler)
    server.door = door or FrontDoor()
    return server


def serve_in_thread(port: int = 0) -> tuple[str, _Server]:
    """Start a server in a daemon thread; returns its endpoint URL and the server (shutdown())."""
    server = make_server(port)
    thread = threading.Thread(target=server.serve_forever, name="front-door", daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_address[1]}", server
