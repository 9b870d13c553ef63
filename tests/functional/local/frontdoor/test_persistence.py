"""A front door restored from its store has what the previous one was given: real boto3
clients over loopback against two successive front doors sharing one SQLite file."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from recursectl.local.engine.executor import Limits
from recursectl.local.frontdoor.server import FrontDoorServer, serve_in_thread, stop_server
from recursectl.local.store import Store, StoredEvent
from tests.support.localcloud import NO_RETRY, make_zip

TRUST = json.dumps(
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
)
HANDLER = "def handler(event, context):\n    print('ran', event.get('n'))\n    return event\n"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


class Door:
    """Front doors started one after the other on one store file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server: FrontDoorServer | None = None
        self.endpoint = ""

    def start(self) -> Door:
        limits = Limits(state_delay=0.0, retry_delays=(0.05, 0.05))
        self.endpoint, self.server = serve_in_thread(limits=limits, store=Store(self.path))
        return self

    def stop(self) -> None:
        if self.server is not None:
            stop_server(self.server)
            self.server = None

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, config=NO_RETRY)

    def flush(self) -> None:
        assert self.server is not None
        request = urllib.request.Request(
            f"{self.endpoint}/_recursectl/flush",
            method="POST",
            data=b"",
            headers={"X-Recursectl-Token": self.server.door.token},
        )
        with urllib.request.urlopen(request, timeout=30):
            pass


@pytest.fixture
def door(tmp_path: Path, aws_env: None) -> Iterator[Door]:
    d = Door(tmp_path / "local.sqlite3")
    try:
        yield d
    finally:
        d.stop()


def _when(last_modified: str) -> float:
    return datetime.strptime(last_modified[:26], "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def _events(logs: Any, group: str) -> list[dict[str, Any]]:
    return list(logs.filter_log_events(logGroupName=group)["events"])


def test_a_restart_keeps_functions_settings_code_and_logs(door: Door) -> None:
    door.start()
    iam, lam, logs = door.client("iam"), door.client("lambda"), door.client("logs")
    role = iam.create_role(RoleName="kept-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    zipped = make_zip({"handler.py": HANDLER})
    lam.create_function(
        FunctionName="kept",
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": zipped},
        LoggingConfig={"LogFormat": "JSON"},
    )
    lam.put_function_concurrency(FunctionName="kept", ReservedConcurrentExecutions=3)
    lam.put_function_recursion_config(FunctionName="kept", RecursiveLoop="Allow")
    lam.publish_version(FunctionName="kept")
    lam.create_alias(FunctionName="kept", Name="live", FunctionVersion="1")
    answer = lam.invoke(FunctionName="kept", Payload=b'{"n": 1}')
    assert json.loads(answer["Payload"].read()) == {"n": 1}
    door.flush()
    before = _events(logs, "/aws/lambda/kept")
    assert any("REPORT" in e["message"] or "platform.report" in e["message"] for e in before)
    config_before = lam.get_function_configuration(FunctionName="kept")
    door.stop()

    door.start()
    lam, logs = door.client("lambda"), door.client("logs")
    config = lam.get_function_configuration(FunctionName="kept")
    assert config["LoggingConfig"]["LogFormat"] == "JSON"
    assert config["CodeSha256"] == config_before["CodeSha256"]
    # moto's clock is replayed: the time the request that set it arrived (moto read its
    # clock later the first time, after importing its Lambda backend: ~1 s on a loaded machine)
    assert abs(_when(config["LastModified"]) - _when(config_before["LastModified"])) < 5.0
    got = lam.get_function(FunctionName="kept")
    assert got["Concurrency"] == {"ReservedConcurrentExecutions": 3}
    with urllib.request.urlopen(got["Code"]["Location"], timeout=10) as response:
        assert response.read() == zipped  # the zip was kept
    assert lam.get_function_recursion_config(FunctionName="kept")["RecursiveLoop"] == "Allow"
    assert lam.get_alias(FunctionName="kept", Name="live")["FunctionVersion"] == "1"
    after = _events(logs, "/aws/lambda/kept")
    keep = ("timestamp", "message", "logStreamName")
    assert [{k: e[k] for k in keep} for e in after] == [{k: e[k] for k in keep} for e in before]
    # ingestionTime is when the PutLogEvents arrived (moto's own reading came a moment later)
    lags = [a["ingestionTime"] - b["ingestionTime"] for a, b in zip(after, before, strict=True)]
    assert all(abs(lag) < 5000 for lag in lags), lags
    # and it runs, from the kept code, without a redeploy
    answer = lam.invoke(FunctionName="kept", Qualifier="live", Payload=b'{"n": 2}')
    assert json.loads(answer["Payload"].read()) == {"n": 2}


def test_a_queued_event_survives_a_stop_and_runs_after_the_start(door: Door) -> None:
    door.start()
    iam, lam = door.client("iam"), door.client("lambda")
    role = iam.create_role(RoleName="q-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    lam.create_function(
        FunctionName="queued",
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": make_zip({"handler.py": HANDLER})},
    )
    # Reserved concurrency 0: the event is accepted (202) and waits, as AWS throttles it.
    lam.put_function_concurrency(FunctionName="queued", ReservedConcurrentExecutions=0)
    accepted = lam.invoke(FunctionName="queued", InvocationType="Event", Payload=b'{"n": 7}')
    assert accepted["StatusCode"] == 202
    request_id = accepted["ResponseMetadata"]["RequestId"]
    door.stop()

    door.start()
    lam, logs = door.client("lambda"), door.client("logs")
    lam.delete_function_concurrency(FunctionName="queued")
    deadline = time.monotonic() + 60
    found: list[str] = []
    while time.monotonic() < deadline and not found:
        door.flush()
        try:
            events = _events(logs, "/aws/lambda/queued")
        except logs.exceptions.ResourceNotFoundException:
            events = []
        found = [e["message"] for e in events if e["message"].startswith("REPORT")]
        time.sleep(0.1)
    assert found, "the queued event never ran after the restart"
    assert request_id in found[0]
    assert door.server is not None
    store = door.server.door.store
    assert store is not None
    deadline = time.monotonic() + 10
    while store.events() and time.monotonic() < deadline:  # deleted once its logs are in
        time.sleep(0.05)
    assert store.events() == []


def test_an_event_older_than_its_maximum_age_is_dropped_after_the_start(door: Door) -> None:
    door.start()
    iam, lam = door.client("iam"), door.client("lambda")
    role = iam.create_role(RoleName="old-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    arn = lam.create_function(
        FunctionName="old",
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": make_zip({"handler.py": HANDLER})},
    )["FunctionArn"]
    door.stop()
    # An event accepted 7 hours ago (the local cloud was down since): AWS keeps events 6 h.
    store = Store(door.path)
    store.put_event(
        StoredEvent("old-request", "old", None, b'{"n": 1}', "Root=1-0-0", arn,
                    time.time() - 7 * 3600, 0, 0, 0.0)
    )  # fmt: skip
    store.close()

    door.start()
    logs = door.client("logs")
    deadline = time.monotonic() + 30
    drops: list[str] = []
    while time.monotonic() < deadline and not drops:
        door.flush()
        try:
            events = _events(logs, "/aws/lambda/old")
        except logs.exceptions.ResourceNotFoundException:
            events = []
        drops = [e["message"] for e in events if "old-request" in e["message"]]
        time.sleep(0.1)
    assert drops, "the expired event left no trace"
    assert '"reason":"EventAgeExceeded"' in drops[0]
    assert not any(e["message"].startswith("START") for e in events)  # it never ran
