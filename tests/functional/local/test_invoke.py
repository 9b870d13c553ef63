"""Invoke against the local cloud with plain boto3: real front door, real awslambdaric workers."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from recursectl.local.engine.executor import Limits
from recursectl.local.frontdoor.server import serve_in_thread, stop_server
from recursectl.local.worker.frames import MAX_EVENT_BYTES
from tests.support.localcloud import (
    NO_RETRY,
    Deploy,
    control,
    local_status,
    make_zip,
    wait_active,
    wait_for_events,
)

ECHO = """
import logging
import os

logging.getLogger().setLevel(logging.INFO)

def handler(event, context):
    print("got", event.get("n"))
    logging.info("first line\\nsecond line")
    keys = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_ENDPOINT_URL", "MY_VAR", "LAMBDA_TASK_ROOT",
            "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_LOG_GROUP_NAME", "_HANDLER",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION"]
    return {"event": event, "env": {k: os.environ.get(k) for k in keys},
            "request_id": context.aws_request_id, "pid": os.getpid()}
"""

REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: \d+\.\d\d ms\t"
    r"Billed Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: (?P<mem>\d+) MB\t"
    r"(?:Init Duration: (?P<init>\d+\.\d\d) ms\t)?(?:Status: (?P<status>\w+)\t)?"
    r"(?:Error Type: (?P<etype>[\w.]+)\t)?$"
)
STREAM = re.compile(r"^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}$")


def _messages(events: list[dict[str, Any]]) -> list[str]:
    return [e["message"] for e in events]


def _reports(events: list[dict[str, Any]]) -> list[re.Match[str]]:
    return [m for e in events if (m := REPORT.match(e["message"]))]


def test_sync_invoke_returns_the_handler_result_in_a_lambda_environment(
    endpoint: str, lam: Any, deploy: Deploy
) -> None:
    deploy("echo", {"handler.py": ECHO}, env={"MY_VAR": "mine"})
    response = lam.invoke(FunctionName="echo", Payload=json.dumps({"n": 1}))
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    result = json.loads(response["Payload"].read())
    assert result["event"] == {"n": 1}
    assert result["request_id"] == response["ResponseMetadata"]["RequestId"]
    env = result["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "echo"
    assert env["AWS_ENDPOINT_URL"] == endpoint
    assert env["MY_VAR"] == "mine"
    assert env["_HANDLER"] == "handler.handler"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/echo"
    assert STREAM.match(env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert os.path.isfile(os.path.join(env["LAMBDA_TASK_ROOT"], "handler.py"))
    # a warm environment is reused
    again = json.loads(lam.invoke(FunctionName="echo", Payload=b"{}")["Payload"].read())
    assert again["pid"] == result["pid"]


def test_async_invoke_returns_202_and_logs_in_aws_format(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    deploy("echo", {"handler.py": ECHO})
    first = lam.invoke(FunctionName="echo", Payload=json.dumps({"n": 1}))
    response = lam.invoke(FunctionName="echo", InvocationType="Event", Payload=b'{"n": 2}')
    assert response["StatusCode"] == 202
    request_id = response["ResponseMetadata"]["RequestId"]
    events = wait_for_events(endpoint, logs, "/aws/lambda/echo", lambda ev: len(_reports(ev)) >= 2)
    messages = _messages(events)
    assert f"START RequestId: {request_id} Version: $LATEST" in messages
    assert f"END RequestId: {request_id}" in messages
    assert "got 2" in messages
    reports = {m["id"]: m for m in _reports(events)}
    cold = reports[first["ResponseMetadata"]["RequestId"]]
    warm = reports[request_id]
    assert cold["init"] is not None
    assert warm["init"] is None
    assert int(warm["mem"]) > 0
    # a multi-line logging record stays one event, in awslambdaric's text format
    logged = [m for m in messages if m.startswith("[INFO]\t")]
    assert any(m.endswith(f"\t{request_id}\tfirst line\nsecond line") for m in logged)
    assert {e["logStreamName"] for e in events} == {events[0]["logStreamName"]}
    assert STREAM.match(events[0]["logStreamName"])
    assert messages[0].startswith("INIT_START Runtime Version: ")


def test_tail_log_type_returns_the_invocation_log(lam: Any, deploy: Deploy) -> None:
    deploy("echo", {"handler.py": ECHO})
    response = lam.invoke(FunctionName="echo", Payload=b'{"n": 7}', LogType="Tail")
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "got 7" in tail
    assert tail.splitlines()[-1].startswith("REPORT RequestId: ")


def test_handler_exception_gives_unhandled_with_aws_error_payload(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    code = "def handler(event, context):\n    raise ValueError('boom')\n"
    deploy("raiser", {"handler.py": code})
    response = lam.invoke(FunctionName="raiser", Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "boom"
    assert any("raise ValueError('boom')" in line for line in error["stackTrace"])
    events = wait_for_events(
        endpoint,
        logs,
        "/aws/lambda/raiser",
        lambda ev: any(m.startswith("[ERROR] ValueError: boom") for m in _messages(ev)),
    )
    error_event = next(m for m in _messages(events) if m.startswith("[ERROR]"))
    assert "\nTraceback (most recent call last):\n" in error_event  # one event, many lines


def test_import_failure_gives_runtime_import_module_error(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    deploy("broken", {"handler.py": "import module_that_does_not_exist\n"})
    response = lam.invoke(FunctionName="broken", Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "module_that_does_not_exist" in error["errorMessage"]
    events = wait_for_events(endpoint, logs, "/aws/lambda/broken", lambda ev: bool(_reports(ev)))
    report = _reports(events)[0]
    assert report["status"] == "error"
    assert report["etype"] == "Runtime.ImportModuleError"
    assert any(m.startswith("INIT_REPORT Init Duration: ") for m in _messages(events))


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_timeout_kills_the_environment_and_reports_status_timeout(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    code = (
        "import os, time\n"
        "def handler(event, context):\n"
        "    print('pid', os.getpid())\n"
        "    time.sleep(30)\n"
    )
    deploy("sleepy", {"handler.py": code}, timeout=1)
    response = lam.invoke(FunctionName="sleepy", Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]
    events = wait_for_events(endpoint, logs, "/aws/lambda/sleepy", lambda ev: bool(_reports(ev)))
    assert _reports(events)[0]["status"] == "timeout"
    pid = int(next(m for m in _messages(events) if m.startswith("pid "))[4:])
    assert _gone(pid)
    assert local_status(endpoint)["worker_pids"] == []


def test_reserved_concurrency_zero_throttles_sync_invokes(lam: Any, deploy: Deploy) -> None:
    deploy("echo", {"handler.py": ECHO})
    lam.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException) as info:
        lam.invoke(FunctionName="echo", Payload=b"{}")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_kill_switch_holds_async_events_until_lifted(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    deploy("echo", {"handler.py": ECHO})
    lam.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=0)
    response = lam.invoke(FunctionName="echo", InvocationType="Event", Payload=b'{"n": 3}')
    assert response["StatusCode"] == 202
    (function,) = local_status(endpoint)["functions"]
    assert function["queued"] == 1
    assert function["invocations"] == 0
    lam.delete_function_concurrency(FunctionName="echo")
    events = wait_for_events(endpoint, logs, "/aws/lambda/echo", lambda ev: bool(_reports(ev)))
    assert _reports(events)[0]["id"] == response["ResponseMetadata"]["RequestId"]


def test_async_failures_are_retried_with_the_same_request_id(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    deploy("raiser", {"handler.py": "def handler(e, c):\n    raise RuntimeError('x')\n"})
    deploy("once", {"handler.py": "def handler(e, c):\n    raise RuntimeError('y')\n"})
    lam.put_function_event_invoke_config(FunctionName="once", MaximumRetryAttempts=0)
    retried = lam.invoke(FunctionName="raiser", InvocationType="Event", Payload=b"{}")
    single = lam.invoke(FunctionName="once", InvocationType="Event", Payload=b"{}")
    events = wait_for_events(
        endpoint, logs, "/aws/lambda/raiser", lambda ev: len(_reports(ev)) >= 3
    )
    request_id = retried["ResponseMetadata"]["RequestId"]
    assert [m["id"] for m in _reports(events)] == [request_id] * 3  # 1 + AWS's default 2
    once = wait_for_events(endpoint, logs, "/aws/lambda/once", lambda ev: bool(_reports(ev)))
    assert [m["id"] for m in _reports(once)] == [single["ResponseMetadata"]["RequestId"]]
    (status,) = [f for f in local_status(endpoint)["functions"] if f["name"] == "once"]
    assert status["invocations"] == 1


def test_missing_function_is_resource_not_found(lam: Any) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="nope", Payload=b"{}")


def test_oversized_payloads_are_request_too_large(lam: Any, deploy: Deploy) -> None:
    deploy("echo", {"handler.py": ECHO})
    big = json.dumps({"x": "a" * (1024 * 1024)}).encode()  # > 1 MB: too large for Event only
    # AWS answers RequestEntityTooLargeException (413), a name botocore's model lacks.
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName="echo", InvocationType="Event", Payload=big)
    assert info.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    huge = json.dumps({"x": "a" * (6 * 1024 * 1024)}).encode()
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName="echo", Payload=huge)
    assert info.value.response["Error"]["Code"] == "RequestEntityTooLargeException"


def test_invalid_json_payload_is_invalid_request_content(lam: Any, deploy: Deploy) -> None:
    deploy("echo", {"handler.py": ECHO})
    with pytest.raises(lam.exceptions.InvalidRequestContentException):
        lam.invoke(FunctionName="echo", Payload=b"{not json")


def test_dry_run_validates_without_running(endpoint: str, lam: Any, deploy: Deploy) -> None:
    deploy("echo", {"handler.py": ECHO})
    assert lam.invoke(FunctionName="echo", InvocationType="DryRun")["StatusCode"] == 204
    (function,) = local_status(endpoint)["functions"]
    assert function["invocations"] == 0


def test_updated_code_runs_in_a_new_environment(lam: Any, deploy: Deploy) -> None:
    from tests.support.localcloud import make_zip

    deploy("v", {"handler.py": "def handler(e, c):\n    return 1\n"})
    assert json.loads(lam.invoke(FunctionName="v")["Payload"].read()) == 1
    lam.update_function_code(
        FunctionName="v", ZipFile=make_zip({"handler.py": "def handler(e, c):\n    return 2\n"})
    )
    assert json.loads(lam.invoke(FunctionName="v")["Payload"].read()) == 2


# containment and limits (issue 12, items 7 and 11) ----------------------------------------
ESCAPER = """
import os
import subprocess

def handler(event, context):
    # A session leader of its own (escapes a process-group kill) ...
    leader = subprocess.Popen(["sleep", "300"], start_new_session=True)
    # ... and a classic double-fork daemon, whose parent exits at once.
    read, write = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write, str(os.getpid()).encode())
            os.execvp("sleep", ["sleep", "300"])
        os._exit(0)
    os.close(write)
    daemon = int(os.read(read, 32))
    return {"pids": [leader.pid, daemon], "worker": os.getpid()}
"""


def _wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    """The pids still alive (not zombies) after waiting up to `timeout` seconds."""
    import psutil

    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [pid for pid in pids if alive(pid)]
        if not left:
            return []
        time.sleep(0.05)
    return left


def test_processes_a_handler_starts_die_with_its_environment(
    endpoint: str, lam: Any, deploy: Deploy
) -> None:
    deploy("escaper", {"handler.py": ESCAPER})
    result = json.loads(lam.invoke(FunctionName="escaper")["Payload"].read())
    pids = [*result["pids"], result["worker"]]
    assert _wait_gone(pids, timeout=0.5) == pids  # running while the environment is warm
    control(endpoint, "/moto-api/reset", method="POST")  # kills every environment
    assert _wait_gone(pids) == []


def test_workers_of_a_deleted_function_are_retired_at_once(lam: Any, deploy: Deploy) -> None:
    deploy("doomed", {"handler.py": "import os\ndef handler(e, c):\n    return os.getpid()\n"})
    worker = int(lam.invoke(FunctionName="doomed")["Payload"].read())
    lam.delete_function(FunctionName="doomed")
    assert _wait_gone([worker]) == []


def test_idle_workers_count_towards_the_total_cap(endpoint: str) -> None:
    # `endpoint` only for its credentials and region; this test has a front door of its own.
    url, server = serve_in_thread(limits=Limits(total_concurrency=2))
    try:
        import boto3

        lam = boto3.client("lambda", endpoint_url=url, config=NO_RETRY)  # the cap is 2
        iam = boto3.client("iam", endpoint_url=url)
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = make_zip({"handler.py": "import os\ndef handler(e, c):\n    return os.getpid()\n"})
        for name in ("a", "b", "c", "a"):
            with contextlib.suppress(lam.exceptions.ResourceConflictException):
                lam.create_function(
                    FunctionName=name,
                    Runtime="python3.11",
                    Role=role,
                    Handler="handler.handler",
                    Code={"ZipFile": code},
                )
                wait_active(lam, name)
            response = lam.invoke(FunctionName=name)
            assert "FunctionError" not in response
            status = server.door.engine.status()
            assert status["totals"]["environments"] <= 2
            assert len(status["worker_pids"]) <= 2
    finally:
        stop_server(server)


def test_a_long_line_is_stored_whole_as_256_kb_events(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    size = 3 * MAX_EVENT_BYTES + 1000
    handler = f"def handler(e, c):\n    print('L' * {size})\n    return 1\n"
    deploy("longline", {"handler.py": handler})
    assert "FunctionError" not in lam.invoke(FunctionName="longline")
    events = wait_for_events(
        endpoint, logs, "/aws/lambda/longline", lambda es: any("REPORT" in e["message"] for e in es)
    )
    pieces = [e["message"] for e in events if e["message"].startswith("L")]
    assert [len(p) for p in pieces] == [MAX_EVENT_BYTES] * 3 + [1000]
