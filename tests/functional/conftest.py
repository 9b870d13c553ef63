"""A real front door (real HTTP on loopback, moto and real workers behind it) for functional
tests, plus helpers to deploy small handlers and wait for their logs."""

from __future__ import annotations

import io
import json
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from recursectl.local.engine.executor import Limits
from recursectl.local.frontdoor.server import FrontDoorServer, serve_in_thread, stop_server

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "python"
# The control token of each front door these tests started, by endpoint.
TOKENS: dict[str, str] = {}
# What the test role of `deploy` may do: invoke any function, write logs.
INVOKE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*",
            }
        ],
    }
)
# The servers themselves, by endpoint: only for a test that must move a clock (event age).
SERVERS: dict[str, FrontDoorServer] = {}
# No client-side retries: a throttle or error must reach the test as it was answered.
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30)


@pytest.fixture(scope="session")
def _front_door() -> Iterator[str]:
    # Short retry delays keep async-retry tests fast (AWS waits minutes).
    url, server = serve_in_thread(limits=Limits(retry_delays=(0.05, 0.05), idle_timeout=60))
    TOKENS[url] = server.door.token
    SERVERS[url] = server
    yield url
    stop_server(server)


@pytest.fixture
def endpoint(_front_door: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The endpoint URL of a fresh local cloud (state and workers are reset before and after
    each test: moto's backends are process globals, which a test's own front door, such as
    the persistence tests', shares)."""
    control(_front_door, "/moto-api/reset", method="POST")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield _front_door
    control(_front_door, "/moto-api/reset", method="POST")


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


Deploy = Callable[..., str]


@pytest.fixture
def lam(endpoint: str) -> Any:
    return boto3.client("lambda", endpoint_url=endpoint, config=NO_RETRY)


@pytest.fixture
def logs(endpoint: str) -> Any:
    return boto3.client("logs", endpoint_url=endpoint)


@pytest.fixture
def deploy(endpoint: str, lam: Any) -> Deploy:
    """deploy(name, files, handler=..., timeout=..., env=...) -> function ARN."""
    iam = boto3.client("iam", endpoint_url=endpoint)
    role = iam.create_role(
        RoleName="fn-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    # Handlers run with this role's credentials and the local cloud enforces its policy,
    # as AWS does: these tests' handlers invoke functions (themselves and others).
    iam.put_role_policy(RoleName="fn-role", PolicyName="invoke", PolicyDocument=INVOKE_POLICY)

    def _deploy(
        name: str,
        files: dict[str, str],
        handler: str = "handler.handler",
        timeout: int = 10,
        env: dict[str, str] | None = None,
        runtime: str = "python3.11",
    ) -> str:
        response = lam.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=role,
            Handler=handler,
            Code={"ZipFile": make_zip(files)},
            Timeout=timeout,
            Environment={"Variables": env or {}},
        )
        wait_active(lam, name)
        return str(response["FunctionArn"])

    return _deploy


def wait_active(lam: Any, name: str) -> None:
    """What boto3's function_active_v2 waiter does, polled every 20 ms instead of every 1 s
    (a new function is Pending for `Limits.state_delay`, as on AWS)."""
    deadline = time.monotonic() + 10
    while lam.get_function(FunctionName=name)["Configuration"].get("State") != "Active":
        assert time.monotonic() < deadline, f"{name} never became Active"
        time.sleep(0.02)


def wait_updated(lam: Any, name: str) -> None:
    """function_updated_v2, polled every 20 ms."""
    deadline = time.monotonic() + 10
    while lam.get_function(FunctionName=name)["Configuration"].get("LastUpdateStatus") == (
        "InProgress"
    ):
        assert time.monotonic() < deadline, f"{name} never finished updating"
        time.sleep(0.02)


def control(endpoint: str, path: str, method: str = "GET") -> Any:
    """A request to a control endpoint, with the front door's token; the decoded JSON."""
    request = urllib.request.Request(
        f"{endpoint}{path}",
        method=method,
        data=b"" if method == "POST" else None,
        headers={"X-Recursectl-Token": TOKENS[endpoint]},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def flush(endpoint: str) -> None:
    control(endpoint, "/_recursectl/flush", method="POST")


def local_status(endpoint: str) -> dict[str, Any]:
    result: dict[str, Any] = control(endpoint, "/_recursectl/status")
    return result


def wait_for_events(
    endpoint: str,
    logs: Any,
    group: str,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 20.0,
) -> list[dict[str, Any]]:
    """FilterLogEvents (all pages) until `until(events)` holds; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    events: list[dict[str, Any]] = []
    while True:
        flush(endpoint)
        events = []
        try:
            paginator = logs.get_paginator("filter_log_events")
            for page in paginator.paginate(logGroupName=group):
                events += page["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        if until(events):
            return events
        if time.monotonic() > deadline:
            messages = "\n".join(e["message"] for e in events)
            raise AssertionError(f"condition not met within {timeout} s; events:\n{messages}")
        time.sleep(0.1)
