"""The background local cloud: start, reuse, status, stop, no orphans, port conflicts."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest
from click.testing import CliRunner

from recursectl.cli import cli
from recursectl.local import daemon
from tests.support.localcloud import NO_RETRY, make_zip, wait_active


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("RECURSECTL_STATE_DIR", str(tmp_path / "state"))
    chosen = _free_port()
    yield chosen
    daemon.stop(chosen)  # never leave a daemon behind, whatever the test did


def _run(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def _start_worker(endpoint: str) -> int:
    """Deploy a function and invoke it once: one warm worker process."""
    kw: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    role = boto3.client("iam", **kw).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    lam = boto3.client("lambda", config=NO_RETRY, **kw)
    lam.create_function(
        FunctionName="f",
        Runtime="python3.13",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={
            "ZipFile": make_zip(
                {"handler.py": "import os\ndef handler(e, c):\n    return os.getpid()\n"}
            )
        },
    )
    wait_active(lam, "f")
    return int(json.loads(lam.invoke(FunctionName="f")["Payload"].read()))


def _gone(pid: int) -> bool:
    # Strictly gone (reaped), not just a zombie: a zombie thread-group leader can still have
    # threads tearing down that hold its sockets. daemon.start() reaps what it starts.
    return not psutil.pid_exists(pid)


def _wait_gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_gone(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def test_start_reuse_status_and_stop_leave_no_process_behind(port: int) -> None:
    started = _run("local", "start", "--port", str(port))
    assert started.exit_code == 0, started.output
    endpoint = f"http://127.0.0.1:{port}"
    assert started.stdout.strip() == endpoint
    assert "State is kept in" in started.stderr
    info = daemon.probe(port)
    assert info is not None
    daemon_pid = int(info["pid"])

    again = _run("local", "start", "--port", str(port))
    assert again.exit_code == 0
    assert "reusing" in again.stderr
    assert int(daemon.probe(port)["pid"]) == daemon_pid  # type: ignore[index]

    worker = _start_worker(endpoint)
    assert worker in [p.pid for p in psutil.Process(daemon_pid).children(recursive=True)]

    status = _run("local", "status", "--port", str(port), "--json")
    doc = json.loads(status.stdout)
    assert doc["endpoint"] == endpoint
    assert doc["worker_pids"] == [worker]
    (function,) = doc["functions"]
    assert function["invocations"] == 1
    if sys.version_info[:2] == (3, 13):
        assert function["runtime_note"] is None
    else:  # the declared runtime is not the interpreter that runs it: say so
        assert "declared runtime python3.13" in function["runtime_note"]

    stopped = _run("local", "stop", "--port", str(port))
    assert stopped.exit_code == 0
    assert _wait_gone([daemon_pid, worker])
    assert daemon.probe(port) is None
    assert _run("local", "stop", "--port", str(port)).exit_code == 0  # idempotent


def test_the_control_token_is_only_the_users_and_is_what_the_cli_uses(port: int) -> None:
    endpoint, started, _ = daemon.start(port)
    assert started
    token_path = daemon.token_file(port)
    assert token_path.stat().st_mode & 0o777 == 0o600
    assert daemon.state_dir().stat().st_mode & 0o077 == 0  # the folder too (created here)
    request = urllib.request.Request(f"{endpoint}/_recursectl/status")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 403
    assert daemon.status(port) is not None  # daemon.py reads the token file
    daemon.stop(port)
    assert not token_path.exists()


ESCAPE_AND_MAYBE_EXIT = """
import os, subprocess
def handler(event, context):
    leader = subprocess.Popen(["sleep", "300"], start_new_session=True)
    if event.get("crash"):
        print(leader.pid, flush=True)
        os._exit(3)  # the worker dies: its orphan goes to the daemon (a subreaper)
    return leader.pid
"""


def _deploy_escaper(endpoint: str) -> Any:
    kw: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    role = boto3.client("iam", **kw).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    lam = boto3.client("lambda", config=NO_RETRY, **kw)
    lam.create_function(
        FunctionName="esc",
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": make_zip({"handler.py": ESCAPE_AND_MAYBE_EXIT})},
    )
    wait_active(lam, "esc")
    return lam


def test_local_stop_kills_a_session_leader_a_handler_started(port: int) -> None:
    endpoint, _, daemon_pid = daemon.start(port)
    lam = _deploy_escaper(endpoint)
    leader = int(json.loads(lam.invoke(FunctionName="esc")["Payload"].read()))
    assert psutil.pid_exists(leader)
    daemon.stop(port)
    assert _wait_gone([daemon_pid, leader])


def test_orphans_of_a_crashed_worker_are_killed_by_the_daemon(port: int) -> None:
    endpoint, _, daemon_pid = daemon.start(port)
    lam = _deploy_escaper(endpoint)
    response = lam.invoke(FunctionName="esc", Payload=b'{"crash": true}', LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    tail = base64.b64decode(response["LogResult"]).decode()
    leader = int(next(line for line in tail.splitlines() if line.strip().isdigit()))
    assert _wait_gone([leader])  # the daemon's reaper, within a second or two
    assert psutil.pid_exists(daemon_pid)


def test_workers_die_when_the_local_cloud_is_killed(port: int) -> None:
    endpoint, started, daemon_pid = daemon.start(port)
    assert started
    worker = _start_worker(endpoint)
    os.kill(daemon_pid, signal.SIGKILL)
    assert _wait_gone([daemon_pid, worker])


def test_ensure_running_starts_once_and_says_so(port: int) -> None:
    messages: list[str] = []
    endpoint = daemon.ensure_running(port, on_start=messages.append)
    assert endpoint == f"http://127.0.0.1:{port}"
    assert daemon.ensure_running(port, on_start=messages.append) == endpoint
    assert len(messages) == 1
    assert str(daemon.store_file(port)) in messages[0]  # says where the state is kept


def test_port_taken_by_another_program_is_a_clear_error(port: int) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = _run("local", "start", "--port", str(port))
    assert result.exit_code == 3
    assert f"Port {port}" in result.stderr
    assert "another program" in result.stderr
    assert "Traceback" not in result.output
