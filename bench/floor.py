"""The physical floor of one async hop, measured in the same run as recursectl.

A hop cannot be cheaper than (a) botocore's Event-invoke round trip to an HTTP server that
does nothing but answer 202, plus (b) one Runtime API dispatch (hand an invocation to a warm
awslambdaric worker whose handler does nothing, receive its response). Both servers here are
minimal and loopback-only; the client of (a) runs in its own process, as a handler does.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.harness import median

CLIENT_TIMEOUT_S = 120.0


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_all(self, code: int, headers: dict[str, str], body: bytes = b"") -> None:
        head = [f"HTTP/1.1 {code} OK", *(f"{k}: {v}" for k, v in headers.items())]
        head.append(f"Content-Length: {len(body)}")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Accept202(_Quiet):
    """Lambda's Invoke (Event) answered with 202 and a request id, nothing else."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_all(202, {"x-amzn-RequestId": str(uuid.uuid4())})


@contextmanager
def noop_lambda() -> Iterator[str]:
    server = _QuietServer(("127.0.0.1", 0), _Accept202)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="noop-202")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


_CLIENT = """
import json, sys, time
import boto3
from botocore.config import Config
url, n = sys.argv[1], int(sys.argv[2])
client = boto3.client("lambda", endpoint_url=url, region_name="us-east-1",
    aws_access_key_id="test", aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1, "mode": "standard"}))
body = json.dumps({"numberOfCalls": 3, "_recursectl": {"chain": "c", "parent": "p", "depth": 1}})
out = []
for i in range(n + 5):
    t = time.perf_counter()
    client.invoke(FunctionName="f", InvocationType="Event", Payload=body.encode())["Payload"].read()
    if i >= 5:  # the first calls open the connection and warm botocore's caches
        out.append(time.perf_counter() - t)
print(json.dumps(out))
"""


def invoke_round_trips(n: int) -> list[float]:
    """Seconds per botocore Event invoke to the 202 server, from a separate process."""
    with noop_lambda() as url:
        proc = subprocess.run(
            [sys.executable, "-c", _CLIENT, url, str(n)],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT_S,
            check=True,
        )
    return [float(x) for x in json.loads(proc.stdout)]


# the Runtime API half ------------------------------------------------------------------------
class _MiniRuntime(_Quiet):
    server: _RuntimeServer

    def do_GET(self) -> None:
        payload, request_id = self.server.slot.get()
        self.send_all(
            200,
            {
                "Lambda-Runtime-Aws-Request-Id": request_id,
                "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:0:function:f",
                "Lambda-Runtime-Trace-Id": "Root=1-0-0;Sampled=0",
                "Content-Type": "application/json",
            },
            payload,
        )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.done.put(time.perf_counter())
        self.send_all(202, {}, b'{"status":"OK"}')


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a worker killed while it long-polls /next resets its connection: expected


class _RuntimeServer(_QuietServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _MiniRuntime)
        self.slot: queue.SimpleQueue[tuple[bytes, str]] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[float] = queue.SimpleQueue()


def worker_env(api: str, task_root: str, handler: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TMPDIR")}
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": api,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": task_root,
            "AWS_LAMBDA_FUNCTION_NAME": "floor",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "TZ": ":UTC",
        }
    )
    return env


def runtime_dispatches(n: int) -> list[float]:
    """Seconds from handing an invocation to a warm no-op worker to receiving its response."""
    server = _RuntimeServer()
    threading.Thread(target=server.serve_forever, daemon=True, name="mini-runtime").start()
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as root:
        Path(root, "noop.py").write_text("def handler(event, context):\n    return None\n")
        api = f"127.0.0.1:{server.server_address[1]}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", "noop.handler"],
            cwd=root,
            env=worker_env(api, root, "noop.handler"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            out = []
            payload = b'{"numberOfCalls": 3}'
            for i in range(n + 5):
                started = time.perf_counter()
                server.slot.put((payload, str(uuid.uuid4())))
                finished = server.done.get(timeout=30)
                if i >= 5:  # the first one includes the worker's cold start
                    out.append(finished - started)
            return out
        finally:
            proc.kill()
            proc.wait(timeout=10)
            server.shutdown()
            server.server_close()


@dataclass(frozen=True)
class Floor:
    invoke_s: float  # median botocore Event invoke round trip
    dispatch_s: float  # median Runtime API dispatch to a warm no-op worker

    @property
    def hop_s(self) -> float:
        return self.invoke_s + self.dispatch_s


def measure(n: int) -> Floor:
    return Floor(invoke_s=median(invoke_round_trips(n)), dispatch_s=median(runtime_dispatches(n)))
