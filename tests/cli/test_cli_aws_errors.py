"""AWS and environment errors: one line, one hint, a documented exit code, no traceback.

Where moto cannot produce the error (access denied, expired token), a tiny loopback server
answers every request with the error exactly as Lambda's REST-JSON protocol sends it.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from recursectl.cli import cli


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


class _ErrorServer(ThreadingHTTPServer):
    daemon_threads = True
    error: tuple[int, str, str] = (500, "ServiceException", "")
    requests: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: _ErrorServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.requests.append(f"{self.command} {self.path}")
        status, type_, message = self.server.error
        body = json.dumps({"Type": "User", "message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-ErrorType", type_)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def error_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_ErrorServer]:
    server = _ErrorServer(("127.0.0.1", 0), _Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    yield server
    server.shutdown()
    server.server_close()


def _url(server: _ErrorServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_access_denied_names_action_and_resource(error_server: _ErrorServer) -> None:
    error_server.error = (
        403,
        "AccessDeniedException",
        "User: arn:aws:iam::1:user/dev is not authorized to perform: lambda:GetFunction",
    )
    result = run("--endpoint-url", _url(error_server), "info", "--name", "demo")
    assert result.exit_code == 3
    assert "Access denied: lambda:GetFunction on demo" in result.stderr
    assert "grant lambda:GetFunction on demo" in result.stderr
    assert "Traceback" not in result.output


def test_access_denied_during_deploy(error_server: _ErrorServer) -> None:
    error_server.error = (403, "AccessDeniedException", "not authorized")
    result = run("--endpoint-url", _url(error_server), "deploy", "--name", "demo")
    assert result.exit_code == 3
    assert "Access denied: lambda:GetFunction on demo" in result.stderr


def test_expired_token(error_server: _ErrorServer) -> None:
    error_server.error = (403, "ExpiredTokenException", "The security token has expired.")
    result = run("--endpoint-url", _url(error_server), "stop", "--name", "demo")
    assert result.exit_code == 3
    assert "credentials have expired" in result.stderr
    assert "aws sso login" in result.stderr


def test_no_credentials(error_server: _ErrorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = run("--endpoint-url", _url(error_server), "info", "--name", "demo")
    assert result.exit_code == 3
    assert "No AWS credentials found" in result.stderr
    assert "--local" in result.stderr
    assert error_server.requests == []  # failed before sending anything


def test_unknown_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    result = run("--region", "mars-north-1", "info", "--name", "demo")
    assert result.exit_code == 2
    assert "Unknown AWS region 'mars-north-1'" in result.stderr


def test_endpoint_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run("--endpoint-url", f"http://127.0.0.1:{port}", "info", "--name", "demo")
    assert result.exit_code == 3
    assert f"Cannot reach http://127.0.0.1:{port}" in result.stderr
    assert "--endpoint-url" in result.stderr
