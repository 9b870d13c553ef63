"""The Node guard's lean DynamoDB caller over real HTTP: a loopback server answers canned
responses, `node` runs the guard's own `dynamoCall`; what it returns or throws, and how many
requests (and connections) the server saw."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.certs import certificate

GUARD = Path(__file__).resolve().parents[2] / "templates" / "node" / "recursectl_chain.guard.cjs"
# Runs the calls of argv[2] one after another; prints one JSON line: each call's answer or error.
_DRIVER = """
const g = require(process.argv[1]).internals;
(async () => {
  const out = [];
  for (const [target, input] of JSON.parse(process.argv[2])) {
    try {
      out.push({ ok: await g.dynamoCall(target, input) });
    } catch (err) {
      const { name, message, code, Item, $metadata } = err;
      out.push({ error: { name, message, code, Item, $metadata } });
    }
  }
  console.log(JSON.stringify(out));
})();
"""
CCF = {
    "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
    "message": "The conditional request failed",
    "Item": {"chain": {"S": "c-1"}, "n": {"N": "999"}},
}
THROTTLED = {
    "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
    "message": "Rate of requests exceeds the allowed throughput.",
}
UPDATE = {
    "TableName": "counter",
    "Key": {"chain": {"S": "c-1"}},
    "UpdateExpression": "ADD #n :one",
    "ExpressionAttributeNames": {"#n": "n"},
    "ExpressionAttributeValues": {":one": {"N": "1"}},
    "ReturnValues": "UPDATED_NEW",
}
Script = list[tuple[int, bytes] | tuple[float, int, bytes] | None]
OK = (200, json.dumps({"Attributes": {"n": {"N": "7"}}}).encode())


class Canned(ThreadingHTTPServer):
    """Answers each request with the next of `script`: (status, body), (seconds, status, body)
    after that long, or None to close the connection without answering; counts requests and
    connections."""

    daemon_threads = True

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = list(script)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.connections = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as DynamoDB's front end
    server: Canned

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
        step = self.server.script.pop(0) if self.server.script else OK
        if step is None:
            self.close_connection = True  # the request read, no answer: a closed keep-alive
            return
        if len(step) == 3:  # (seconds, status, body): a slow answer
            time.sleep(step[0])
            step = step[1:]
        status, payload = step
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-amzn-RequestId", f"req-{len(self.server.requests)}")
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up on a slow answer
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not on PATH")
    return path


@contextmanager
def canned(script: Script) -> Iterator[Canned]:
    """The server, answering on a loopback port while the block runs."""
    server = Canned(script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def env(endpoint: str, **extra: str) -> dict[str, str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    return {**base, **extra}


def run(node: str, calls: list[tuple[str, dict[str, Any]]], environ: dict[str, str]) -> list[Any]:
    done = subprocess.run(
        [node, "-e", _DRIVER, str(GUARD), json.dumps(calls)],
        env={**environ, "PATH": str(Path(node).parent) + ":/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    answers: list[Any] = json.loads(done.stdout)
    return answers


def test_an_answer_is_the_json_body_and_the_request_is_the_json_protocol(node: str) -> None:
    with canned([OK]) as server:
        (answer,) = run(
            node, [("UpdateItem", UPDATE)], env(f"http://127.0.0.1:{server.server_port}")
        )
        assert answer["ok"]["Attributes"] == {"n": {"N": "7"}}
        assert answer["ok"]["$metadata"] == {
            "httpStatusCode": 200,
            "requestId": "req-1",
            "attempts": 1,
        }
        ((headers, body),) = server.requests
        assert json.loads(body) == UPDATE
        assert headers["x-amz-target"] == "DynamoDB_20120810.UpdateItem"
        assert headers["content-type"] == "application/x-amz-json-1.0"
        assert headers["host"] == f"127.0.0.1:{server.server_port}"
        assert headers["x-amz-security-token"] == "token"
        assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        assert "/us-east-1/dynamodb/aws4_request, SignedHeaders=" in headers["authorization"]


def test_a_failed_condition_throws_its_exception_with_the_item_and_is_not_retried(
    node: str,
) -> None:
    with canned([(400, json.dumps(CCF).encode())]) as server:
        (answer,) = run(
            node, [("UpdateItem", UPDATE)], env(f"http://127.0.0.1:{server.server_port}")
        )
        error = answer["error"]
        assert error["name"] == "ConditionalCheckFailedException"
        assert error["message"] == "The conditional request failed"
        assert error["Item"] == CCF["Item"]
        assert error["$metadata"]["httpStatusCode"] == 400
        assert len(server.requests) == 1


def test_a_5xx_is_retried(node: str) -> None:
    oops = json.dumps({"__type": "com.amazon.coral.service#InternalFailure", "Message": "oops"})
    with canned([(500, oops.encode()), OK]) as server:
        (answer,) = run(
            node,
            [("GetItem", {"TableName": "t", "Key": {}})],
            env(f"http://127.0.0.1:{server.server_port}"),
        )
        assert answer["ok"]["Attributes"] == {"n": {"N": "7"}}
        assert answer["ok"]["$metadata"]["attempts"] == 2
        assert len(server.requests) == 2
        assert server.requests[1][0]["x-amz-target"] == "DynamoDB_20120810.GetItem"


def test_a_throttle_is_retried_three_times_in_all_then_thrown(node: str) -> None:
    throttled = (400, json.dumps(THROTTLED).encode())
    with canned([throttled, throttled, throttled, OK]) as server:
        (answer,) = run(
            node, [("UpdateItem", UPDATE)], env(f"http://127.0.0.1:{server.server_port}")
        )
        assert answer["error"]["name"] == "ThrottlingException"
        assert answer["error"]["message"] == THROTTLED["message"]
        assert answer["error"]["$metadata"]["attempts"] == 3
        assert len(server.requests) == 3


def test_a_body_that_is_not_json_is_an_http_error(node: str) -> None:
    with canned([(502, b"<html>Bad Gateway</html>")] * 3) as server:
        (answer,) = run(
            node, [("UpdateItem", UPDATE)], env(f"http://127.0.0.1:{server.server_port}")
        )
        assert answer["error"]["name"] == "HttpError502"
        assert answer["error"]["$metadata"]["httpStatusCode"] == 502
        assert len(server.requests) == 3  # a 5xx: retried


def test_a_closed_keep_alive_socket_is_resent_at_once_not_counted(node: str) -> None:
    with canned([OK, None, OK]) as server:
        first, second = run(
            node,
            [("UpdateItem", UPDATE), ("UpdateItem", UPDATE)],
            env(f"http://127.0.0.1:{server.server_port}"),
        )
        assert first["ok"]["$metadata"]["attempts"] == 1
        assert second["ok"]["Attributes"] == {"n": {"N": "7"}}
        assert second["ok"]["$metadata"]["attempts"] == 1  # the re-send is not an attempt
        assert len(server.requests) == 3
        assert server.connections == 2  # the re-send opened a new connection


def test_an_answer_slower_than_3_s_is_a_timeout_and_retried(node: str) -> None:
    with canned([(3.6, *OK), OK]) as server:
        (answer,) = run(
            node, [("UpdateItem", UPDATE)], env(f"http://127.0.0.1:{server.server_port}")
        )
        assert answer["ok"]["$metadata"]["attempts"] == 2  # the first one timed out
        assert len(server.requests) == 2
        assert server.connections == 2  # the timed-out socket was not reused


def test_a_refused_connection_is_tried_three_times(node: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        (answer,) = run(node, [("UpdateItem", UPDATE)], env(f"http://127.0.0.1:{port}"))
    assert answer["error"]["code"] == "ECONNREFUSED"
    assert answer["error"]["$metadata"] == {"attempts": 3}


def test_an_environment_it_does_not_serve_goes_to_the_sdk(node: str, node_ready: None) -> None:
    from recursectl import nodejs

    with canned([OK]) as server:
        environ = env(f"http://127.0.0.1:{server.server_port}", HTTP_PROXY="http://127.0.0.1:9")
        environ["NODE_PATH"] = str(nodejs.ensure_sdk())
        (answer,) = run(node, [("UpdateItem", UPDATE)], environ)
        assert answer["ok"]["Attributes"] == {"n": {"N": "7"}}
        ((headers, _),) = server.requests
        assert "aws-sdk-js" in headers["user-agent"]  # the SDK's request, not the guard's


class _FirstHandshakeFails(Canned):
    """HTTPS: the first connection gets an untrusted certificate, later ones a trusted one."""

    def __init__(self, untrusted: ssl.SSLContext, trusted: ssl.SSLContext) -> None:
        super().__init__([])
        self.contexts = [untrusted, trusted]
        self.handshakes = 0

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        context = self.contexts[min(self.handshakes, 1)]
        self.handshakes += 1
        return context.wrap_socket(sock, server_side=True), address


def test_a_tls_failure_hands_the_environment_to_the_sdk(
    node: str, node_ready: None, tmp_path: Path
) -> None:
    from recursectl import nodejs

    contexts = []
    for name in ("untrusted", "trusted"):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificate(tmp_path, name))
        contexts.append(context)
    server = _FirstHandshakeFails(*contexts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        environ = env(f"https://127.0.0.1:{server.server_port}")
        environ["NODE_PATH"] = str(nodejs.ensure_sdk())
        environ["NODE_EXTRA_CA_CERTS"] = str(tmp_path / "trusted.pem")  # the SDK's too
        done = subprocess.run(
            [node, "-e", _DRIVER, str(GUARD), json.dumps([("UpdateItem", UPDATE)] * 2)],
            env={**environ, "PATH": str(Path(node).parent) + ":/usr/bin:/bin"},
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    lines = done.stdout.splitlines()
    assert [line for line in lines if "the SDK's client takes over" in line] == [
        "recursectl: DynamoDB over TLS failed (DEPTH_ZERO_SELF_SIGNED_CERT): "
        "the SDK's client takes over"
    ]
    answers = json.loads(lines[-1])
    assert [a["ok"]["Attributes"] for a in answers] == [{"n": {"N": "7"}}] * 2
    assert len(server.requests) == 2  # both calls, both by the SDK
    assert all("aws-sdk-js" in headers["user-agent"] for headers, _ in server.requests)
