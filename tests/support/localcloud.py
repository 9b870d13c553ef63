"""Helpers for tests against a real front door (the functional, CLI and reliability tiers):
deploy small handlers through real clients and wait for their state and logs."""

from __future__ import annotations

import io
import json
import time
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.config import Config

if TYPE_CHECKING:
    from recursectl.local.frontdoor.server import FrontDoorServer

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
# The prefix of the recursion guard's log records.
CHAIN_MARKER = "RECURSECTL_CHAIN "
# No client-side retries: a throttle or error must reach the test as it was answered.
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30)


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


Deploy = Callable[..., str]


def function_role(iam: Any, name: str = "fn-role") -> str:
    """The ARN of the role test functions run with (created once per local cloud state): Lambda
    may assume it; it may invoke functions and write logs (the local cloud enforces it, as AWS
    does, and these tests' handlers invoke functions)."""
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        pass
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=name, PolicyName="invoke", PolicyDocument=INVOKE_POLICY)
    return str(role["Role"]["Arn"])


def deploy_function(
    lam: Any,
    role: str,
    name: str,
    files: dict[str, str],
    handler: str = "handler.handler",
    timeout: int = 10,
    env: dict[str, str] | None = None,
    runtime: str = "python3.11",
) -> str:
    """CreateFunction from `files` (zipped), then wait until it is Active; the function ARN."""
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


def chain_records(events: list[dict[str, Any]], ev: str) -> list[dict[str, Any]]:
    """The recursion guard's records of kind `ev` ("hop", "child", "capped", ...) in log events."""
    out = []
    for event in events:
        message = event["message"].rstrip("\n")
        if message.startswith(CHAIN_MARKER):
            record = json.loads(message[len(CHAIN_MARKER) :])
            if record.get("ev") == ev:
                out.append(record)
    return out


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


def counter_table(endpoint: str, name: str) -> Any:
    """A chain counter's table as deploy makes it (key `chain`, on demand); the client."""
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint)
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "chain", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "chain", "KeyType": "HASH"}],
    )
    return client
