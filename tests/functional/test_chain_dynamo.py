"""The packaged Python helper's lean DynamoDB calls against a real loopback server with
scripted answers: errors keep botocore's shape (the guard reads them as before), retries are
bounded, and a kept-alive connection the server closed is sent again once, not retried."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.certs import certificate
from tests.support.helper_copy import helper_copy

CONDITION_FAILED = "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
THROTTLED = "com.amazonaws.dynamodb.v20120810#ThrottlingException"
PARAMS = {"TableName": "t", "Key": {"chain": {"S": "c"}}, "UpdateExpression": "ADD #n :one"}


class Script:
    """What the server answers, in order: (status, body) or "close" (drop the connection
    without an answer); every request it got."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, Any]] | str] = []
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.connections: set[int] = set()


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as DynamoDB

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            script.requests.append((headers, json.loads(body)))
            time.sleep(0.002)  # long enough for the threads' calls to overlap
            script.connections.add(id(self.connection))
            doc = json.loads(body)
            # unscripted: the item is the key asked for (each caller can check it got its own)
            answer = script.answers.pop(0) if script.answers else (200, {"Item": doc.get("Key")})
            if answer == "close":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            assert not isinstance(answer, str)
            status, doc = answer
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[Script, str]]:
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield script, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def helper() -> Iterator[ModuleType]:
    with helper_copy("recursectl_chain_dynamo_calls") as module:
        yield module


def _client(helper: ModuleType, url: str) -> Any:
    env = {
        "AWS_ACCESS_KEY_ID": "AKID",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
    }
    client = helper._dynamo()._Dynamo(env)
    assert client.lean
    return client


def test_a_call_is_one_signed_request_and_its_answer(
    helper: ModuleType, server: tuple[Script, str]
) -> None:
    script, url = server
    script.answers = [(200, {"Attributes": {"n": {"N": "3"}}})]
    got = _client(helper, url).update_item(**PARAMS)
    assert got == {"Attributes": {"n": {"N": "3"}}}
    ((headers, body),) = script.requests
    assert body == PARAMS
    assert headers["x-amz-target"] == "DynamoDB_20120810.UpdateItem"
    assert headers["x-amz-security-token"] == "token"
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")
    assert headers["host"] == url.removeprefix("http://")


def test_a_failed_condition_has_botocores_error_shape_with_the_old_item(
    helper: ModuleType, server: tuple[Script, str]
) -> None:
    script, url = server
    old = {"chain": {"S": "c"}, "n": {"N": "999"}}
    failed = {"__type": CONDITION_FAILED, "message": "The conditional request failed", "Item": old}
    script.answers = [(400, failed)]
    with pytest.raises(helper._dynamo().DynamoError) as raised:
        _client(helper, url).update_item(**PARAMS)
    response = raised.value.response
    assert response["Error"] == {
        "Code": "ConditionalCheckFailedException",
        "Message": "The conditional request failed",
    }
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Item"] == old
    assert len(script.requests) == 1  # not retried
    assert helper._error_status(raised.value) == ("ConditionalCheckFailedException", 400)


def test_a_server_error_and_a_throttle_are_retried_then_it_succeeds(
    helper: ModuleType, server: tuple[Script, str]
) -> None:
    script, url = server
    script.answers = [
        (500, {"__type": "InternalServerError"}),
        (400, {"__type": THROTTLED}),
        (200, {}),
    ]
    assert _client(helper, url).put_item(TableName="t", Item={"chain": {"S": "c"}}) == {}
    assert len(script.requests) == 3


def test_at_most_three_attempts(helper: ModuleType, server: tuple[Script, str]) -> None:
    script, url = server
    script.answers = [(400, {"__type": THROTTLED, "message": "slow down"})] * 5
    with pytest.raises(helper._dynamo().DynamoError, match="ThrottlingException: slow down"):
        _client(helper, url).update_item(**PARAMS)
    assert len(script.requests) == 3


def test_a_kept_alive_connection_the_server_dropped_is_sent_again_once(
    helper: ModuleType, server: tuple[Script, str]
) -> None:
    script, url = server
    client = _client(helper, url)
    client.get_item(TableName="t", Key={"chain": {"S": "c"}})  # the connection is kept
    script.answers = ["close", (200, {"Item": {"chain": {"S": "c"}}})]
    assert client.get_item(TableName="t", Key={"chain": {"S": "c"}}) == {
        "Item": {"chain": {"S": "c"}}
    }
    assert len(script.requests) == 3
    assert len(script.connections) == 2


def test_an_unreachable_table_raises_after_its_attempts(helper: ModuleType) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        _client(helper, f"http://127.0.0.1:{port}").update_item(**PARAMS)


def test_threads_calling_at_once_each_get_their_own_answer(
    helper: ModuleType, server: tuple[Script, str]
) -> None:
    """A handler's threads may count children at the same time: each call has a connection
    of its own, and the connections are kept for the next calls."""
    script, url = server
    client = _client(helper, url)
    wrong: list[str] = []

    def calls(thread: int) -> None:
        for i in range(20):
            key = {"chain": {"S": f"t{thread}-{i}"}}
            if client.get_item(TableName="t", Key=key) != {"Item": key}:
                wrong.append(f"t{thread}-{i}")

    threads = [threading.Thread(target=calls, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert len(script.requests) == 160
    assert 1 < len(script.connections) <= 8


def test_a_tls_failure_hands_the_environment_to_boto3(
    helper: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: Any
) -> None:
    """An endpoint whose certificate the lean path does not trust (a TLS problem of this
    environment, not ours to solve): that call and every later one go through boto3, which
    here trusts it (AWS_CA_BUNDLE, read by boto3 only)."""
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert, key = certificate(tmp_path, "ddb")
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{httpd.server_address[1]}"
        client = _client(helper, url)
        for name, value in {"AWS_ENDPOINT_URL": url, "AWS_CA_BUNDLE": str(cert)}.items():
            monkeypatch.setenv(name, value)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(name, "test")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # boto3's (Lambda sets both)
        key_of = {"chain": {"S": "c"}}
        first = client.get_item(TableName="t", Key=key_of)
        second = client.get_item(TableName="t", Key=key_of)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert first["Item"] == second["Item"] == key_of
    assert not client.lean
    assert capfd.readouterr().out.count("using boto3 from now on") == 1
    assert len(script.requests) == 2  # the lean path never got a request through
    assert all("Botocore" in headers["user-agent"] for headers, _ in script.requests)
