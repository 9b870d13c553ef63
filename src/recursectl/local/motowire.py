"""moto's server application, called in-process over the AWS wire protocol (no sockets).

The local cloud never imports moto's models: everything it needs from moto (function
configuration, log writes) goes through the same HTTP API boto3 would use.
"""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from recursectl.local.store import mutates

Response = tuple[int, dict[str, str], bytes]

ACCOUNT_ID = "123456789012"  # moto's default account


def _dispatcher() -> Any:
    """moto's host -> backend dispatcher, with its backend lookup memoized per host.

    moto resolves the backend of every request by listing its package directory and
    stat()ing each entry (~180 system calls), twice per request; that was half the cost of a
    PutLogEvents and kept the log writer holding the GIL while invocations waited. The answer
    depends only on the host name, so it is computed once per host.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    class Dispatcher(DomainDispatcherApplication):
        def __init__(self) -> None:
            super().__init__(create_backend_app)
            self._backend_by_host: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            try:
                return self._backend_by_host[host]
            except KeyError:
                backend = super().get_backend_for_host(host)
                self._backend_by_host[host] = backend
                return backend

    return Dispatcher()


class Moto:
    """moto's WSGI application plus helpers to speak to it like an AWS SDK would."""

    def __init__(self) -> None:
        from moto import settings

        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")  # checked only when asked
        self._settings: Any = settings
        self.app = _dispatcher()
        # moto's backends are plain dicts and lists: one request at a time keeps them sane
        # when handlers, the log writer and the CLI hit moto concurrently.
        self._lock = threading.Lock()
        # Told of each request moto accepted that may have changed its state, under the
        # lock (so in moto's order) and before the caller is answered: the store's journal.
        # Given the wall-clock time moto took the request (its clock when it did).
        self.journal: Callable[[float, str, str, str, dict[str, str], bytes], None] | None = None

    def call(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        enforce: bool = False,
        journal: bool = True,
    ) -> Response:
        """One HTTP request through moto's WSGI app; `enforce`: with moto's IAM access
        control on for this request only (its signature and the signer's policies);
        `journal=False`: a write whose own request is journaled already (the counter's
        write-back, `frontdoor/counter.py`)."""
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

        settings = self._settings
        with self._lock:
            # moto checks access when its request count reaches this setting (inf: never);
            # set per request, under the lock, so only this request is checked.
            if enforce:
                settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
            at = time.time()
            try:
                chunks = self.app(environ, start_response)
                try:
                    payload = b"".join(chunks)
                finally:
                    close = getattr(chunks, "close", None)
                    if close:
                        close()
            finally:
                if enforce:
                    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
            code = int(status[0].split(" ", 1)[0])
            if (
                code < 300
                and journal
                and self.journal is not None
                and mutates(method, path, query, headers, body)
            ):
                self.journal(at, method, path, query, headers, body)
        out = {
            k: v for k, v in status[1] if k.lower() not in ("content-length", "transfer-encoding")
        }
        return code, out, payload

    def aws(
        self,
        service: str,
        method: str,
        path: str,
        *,
        region: str,
        body: Any = None,
        query: str = "",
        target: str | None = None,
    ) -> tuple[int, Any]:
        """A signed-looking JSON request to `service`; returns (status, decoded JSON or None)."""
        # moto picks the backend and region from the SigV4 credential scope.
        headers = {
            "Host": f"{service}.{region}.amazonaws.com",
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential=test/20240101/{region}/{service}/aws4_request, "
                "SignedHeaders=host, Signature=0"
            ),
        }
        raw = b"" if body is None else json.dumps(body).encode()
        if target:
            headers["X-Amz-Target"] = target
            headers["Content-Type"] = "application/x-amz-json-1.1"
        elif raw:
            headers["Content-Type"] = "application/json"
        code, _, payload = self.call(method, path, query, headers, raw)
        try:
            decoded = json.loads(payload) if payload else None
        except ValueError:
            decoded = None
        return code, decoded
