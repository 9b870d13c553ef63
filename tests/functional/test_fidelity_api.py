"""Control-plane fidelity (issue 11, items 5-11): real boto3 against a real local cloud,
on functions made by plain CreateFunction. Each test is a row of docs/fidelity.md."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from recursectl.local.engine.executor import Limits
from recursectl.local.frontdoor.server import serve_in_thread, stop_server
from tests.support.localcloud import (
    NO_RETRY,
    Deploy,
    make_zip,
    wait_for_events,
    wait_updated,
)

WHO = """
import json
def handler(event, context):
    print("hello from version", context.function_version)
    return {"v": VERSION, "arn": context.invoked_function_arn,
            "version": context.function_version, "stream": context.log_stream_name}
"""


def _code(version: int) -> dict[str, str]:
    return {"handler.py": WHO.replace("VERSION", str(version))}


def _payload(response: dict[str, Any]) -> Any:
    return json.loads(response["Payload"].read())


def _code_of(lam: Any, name: str, version: int) -> None:
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(_code(version)))
    wait_updated(lam, name)


# 5. versions and aliases ----------------------------------------------------------------
def test_versions_and_aliases_run_their_own_code(lam: Any, deploy: Deploy) -> None:
    deploy("vers", _code(1))
    assert lam.publish_version(FunctionName="vers")["Version"] == "1"
    _code_of(lam, "vers", 2)
    lam.create_alias(FunctionName="vers", Name="live", FunctionVersion="1")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:vers"
    cases = {
        "vers:1": (1, "1", f"{arn}:1"),
        "vers:live": (1, "1", f"{arn}:live"),
        f"{arn}:live": (1, "1", f"{arn}:live"),
        "123456789012:function:vers:1": (1, "1", f"{arn}:1"),
        "vers": (2, "$LATEST", arn),
    }
    for name, (code, version, invoked) in cases.items():
        response = lam.invoke(FunctionName=name)
        body = _payload(response)
        assert (body["v"], response["ExecutedVersion"], body["arn"]) == (code, version, invoked)
        assert body["version"] == version
    by_qualifier = lam.invoke(FunctionName="vers", Qualifier="live")
    assert _payload(by_qualifier)["v"] == 1
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.invoke(FunctionName="vers:live", Qualifier="1")


def test_a_published_version_logs_its_version_and_keeps_its_own_environment(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    deploy("verlog", _code(1))
    lam.publish_version(FunctionName="verlog")
    one = _payload(lam.invoke(FunctionName="verlog:1"))
    latest = _payload(lam.invoke(FunctionName="verlog"))
    assert "/[1]" in one["stream"]
    assert "/[$LATEST]" in latest["stream"]
    assert one["stream"] != latest["stream"]  # each version its own environment
    events = wait_for_events(
        endpoint,
        logs,
        "/aws/lambda/verlog",
        lambda ev: sum("REPORT" in e["message"] for e in ev) >= 2,
    )
    starts = {e["logStreamName"]: e["message"] for e in events if e["message"].startswith("START")}
    assert starts[one["stream"]].rstrip().endswith("Version: 1")
    assert starts[latest["stream"]].rstrip().endswith("Version: $LATEST")


# 6. concurrency as AWS counts it --------------------------------------------------------
def test_parallel_sync_invokes_are_not_throttled_by_an_invented_cap(
    lam: Any, deploy: Deploy
) -> None:
    deploy(
        "wide",
        {"handler.py": "import time\ndef handler(e, c):\n    time.sleep(0.3)\n    return 1\n"},
    )
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: lam.invoke(FunctionName="wide"), range(12)))
    assert all(_payload(r) == 1 and "FunctionError" not in r for r in results)


def test_account_settings_and_the_unreserved_minimum(lam: Any, deploy: Deploy) -> None:
    deploy("acct", {"handler.py": "def handler(e, c):\n    return 1\n"})
    settings = lam.get_account_settings()["AccountLimit"]
    assert settings["ConcurrentExecutions"] == 1000
    assert settings["UnreservedConcurrentExecutions"] == 1000
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as info:
        lam.put_function_concurrency(FunctionName="acct", ReservedConcurrentExecutions=901)
    assert "minimum value of [100]" in str(info.value)
    lam.put_function_concurrency(FunctionName="acct", ReservedConcurrentExecutions=900)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100
    lam.put_function_concurrency(FunctionName="acct", ReservedConcurrentExecutions=0)
    assert lam.get_function(FunctionName="acct")["Concurrency"] == {
        "ReservedConcurrentExecutions": 0
    }
    with pytest.raises(lam.exceptions.TooManyRequestsException) as throttled:
        lam.invoke(FunctionName="acct")
    assert throttled.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_invocations_wait_for_a_worker_when_the_machine_is_full(endpoint: str) -> None:
    # `endpoint` only for credentials; a front door with room for one worker process.
    url, server = serve_in_thread(limits=Limits(total_concurrency=1, state_delay=0))
    try:
        lam = boto3.client("lambda", endpoint_url=url, config=NO_RETRY)
        role = boto3.client("iam", endpoint_url=url).create_role(
            RoleName="r", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        code = "import time\ndef handler(e, c):\n    time.sleep(0.3)\n    return 1\n"
        lam.create_function(
            FunctionName="one",
            Runtime="python3.11",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": make_zip({"handler.py": code})},
        )
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda _: lam.invoke(FunctionName="one"), range(3)))
        assert [_payload(r) for r in results] == [1, 1, 1]
        assert server.door.engine.status()["totals"]["throttles"] == 0
    finally:
        stop_server(server)


def test_a_sync_self_invoking_chain_reaches_loop_detection(lam: Any, deploy: Deploy) -> None:
    code = (
        "import boto3, json, os\n"
        "def handler(e, c):\n"
        "    n = e.get('n', 0)\n"
        "    try:\n"
        "        r = boto3.client('lambda', endpoint_url=os.environ['EP']).invoke(\n"
        "            FunctionName=c.function_name, Payload=json.dumps({'n': n + 1}))\n"
        "    except Exception as exc:\n"
        "        return {'stopped_at': n + 1, 'error': type(exc).__name__ + str(exc)[:80]}\n"
        "    return json.loads(r['Payload'].read())\n"
    )
    deploy("deep", {"handler.py": code}, timeout=60, env={"EP": lam.meta.endpoint_url})
    result = _payload(lam.invoke(FunctionName="deep"))
    assert result["stopped_at"] == 16, result  # the 17th is refused, as on AWS
    assert "RecursiveInvocationException" in result["error"]


# 7. LoggingConfig -----------------------------------------------------------------------
def test_logging_config_is_stored_returned_and_applied(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    role = lam.get_function_configuration  # noqa: F841 (keeps the fixture order obvious)
    deploy("logcfg", _code(1))
    lam.update_function_configuration(
        FunctionName="logcfg",
        LoggingConfig={
            "LogFormat": "JSON",
            "LogGroup": "/custom/logcfg",
            "ApplicationLogLevel": "WARN",
        },
    )
    wait_updated(lam, "logcfg")
    config = lam.get_function(FunctionName="logcfg")["Configuration"]["LoggingConfig"]
    assert config == {
        "LogFormat": "JSON",
        "LogGroup": "/custom/logcfg",
        "ApplicationLogLevel": "WARN",
        "SystemLogLevel": "INFO",
    }
    assert lam.get_function_configuration(FunctionName="logcfg")["LoggingConfig"] == config
    lam.invoke(FunctionName="logcfg")
    wait_for_events(
        endpoint,
        logs,
        "/custom/logcfg",
        lambda ev: any('"type":"platform.report"' in e["message"] for e in ev),
    )
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_function_configuration(
            FunctionName="logcfg", LoggingConfig={"LogFormat": "Text", "SystemLogLevel": "WARN"}
        )


# 9. limits and error names --------------------------------------------------------------
def test_a_response_over_6_mb_is_response_size_too_large(lam: Any, deploy: Deploy) -> None:
    deploy("bigout", {"handler.py": "def handler(e, c):\n    return 'A' * 7_000_000\n"})
    response = lam.invoke(FunctionName="bigout")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert _payload(response)["errorType"] == "Function.ResponseSizeTooLarge"


def test_nan_is_not_json(lam: Any, deploy: Deploy) -> None:
    deploy("strict", {"handler.py": "def handler(e, c):\n    return 1\n"})
    for bad in (b'{"x": NaN}', b"Infinity"):
        with pytest.raises(lam.exceptions.InvalidRequestContentException):
            lam.invoke(FunctionName="strict", Payload=bad)


def test_reserved_environment_keys_are_refused(lam: Any, deploy: Deploy) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as info:
        deploy(
            "envres",
            {"handler.py": "def handler(e, c):\n    return 1\n"},
            env={"AWS_REGION": "eu-west-1"},
        )
    assert "Reserved keys used in this request: AWS_REGION" in str(info.value)
    deploy("envres", {"handler.py": "def handler(e, c):\n    return 1\n"}, env={"MINE": "1"})
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_function_configuration(
            FunctionName="envres", Environment={"Variables": {"LAMBDA_TASK_ROOT": "/x"}}
        )
    # `_HANDLER` does not match the model's key pattern: the model's check answers first.
    with pytest.raises(ClientError) as info:
        lam.update_function_configuration(
            FunctionName="envres", Environment={"Variables": {"_HANDLER": "x.y"}}
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_recursion_config_belongs_to_an_existing_function(lam: Any, deploy: Deploy) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.put_function_recursion_config(FunctionName="ghost", RecursiveLoop="Allow")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_recursion_config(FunctionName="ghost")
    deploy("rec", {"handler.py": "def handler(e, c):\n    return 1\n"})
    lam.put_function_recursion_config(FunctionName="rec", RecursiveLoop="Allow")
    lam.delete_function(FunctionName="rec")
    deploy("rec", {"handler.py": "def handler(e, c):\n    return 1\n"})
    assert lam.get_function_recursion_config(FunctionName="rec")["RecursiveLoop"] == "Terminate"


def test_recursion_config_is_refused_for_a_version_an_alias_or_a_qualified_arn(
    lam: Any, deploy: Deploy
) -> None:
    deploy("recq", {"handler.py": "def handler(e, c):\n    return 1\n"})
    arn = lam.get_function(FunctionName="recq")["Configuration"]["FunctionArn"]
    version = lam.publish_version(FunctionName="recq")["Version"]
    lam.create_alias(FunctionName="recq", Name="live", FunctionVersion=version)
    for qualified in (f"recq:{version}", "recq:live", f"{arn}:live", "recq:$LATEST"):
        with pytest.raises(lam.exceptions.InvalidParameterValueException, match="unqualified"):
            lam.put_function_recursion_config(FunctionName=qualified, RecursiveLoop="Allow")
    # Nothing was switched off by the refused calls: the function keeps Terminate.
    assert lam.get_function_recursion_config(FunctionName="recq")["RecursiveLoop"] == "Terminate"
    lam.put_function_recursion_config(FunctionName=arn, RecursiveLoop="Allow")
    assert lam.get_function_recursion_config(FunctionName="recq")["RecursiveLoop"] == "Allow"


# 10. function states --------------------------------------------------------------------
def test_a_new_function_is_pending_and_cannot_be_invoked_yet(lam: Any, endpoint: str) -> None:
    role = boto3.client("iam", endpoint_url=endpoint).create_role(
        RoleName="r", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    created = lam.create_function(
        FunctionName="fresh",
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": make_zip({"handler.py": "def handler(e, c):\n    return 1\n"})},
    )
    assert created["State"] == "Pending"
    with pytest.raises(lam.exceptions.ResourceConflictException) as info:
        lam.invoke(FunctionName="fresh")
    assert "currently in the following state: Pending" in str(info.value)
    lam.get_waiter("function_active_v2").wait(FunctionName="fresh")
    assert _payload(lam.invoke(FunctionName="fresh")) == 1
    lam.update_function_configuration(FunctionName="fresh", Timeout=9)
    assert lam.get_function(FunctionName="fresh")["Configuration"]["LastUpdateStatus"] == (
        "InProgress"
    )
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.update_function_configuration(FunctionName="fresh", Timeout=10)
    lam.get_waiter("function_updated_v2").wait(FunctionName="fresh")
    lam.update_function_configuration(FunctionName="fresh", Timeout=10)


# 11. Logs API ---------------------------------------------------------------------------
def test_filter_log_events_interleaves_and_follows_cloudwatch_patterns(
    endpoint: str, logs: Any
) -> None:
    logs.create_log_group(logGroupName="g")
    now = int(time.time() * 1000)
    lines = {
        "a": [(now, "ERROR disk full"), (now + 2, '{"level": "FATAL", "n": 3}')],
        "b": [(now + 1, "WARN slow retry"), (now + 3, "INFO all good")],
    }
    for stream, events in lines.items():
        logs.create_log_stream(logGroupName="g", logStreamName=stream)
        logs.put_log_events(
            logGroupName="g",
            logStreamName=stream,
            logEvents=[{"timestamp": t, "message": m} for t, m in events],
        )

    def messages(pattern: str) -> list[str]:
        found = logs.filter_log_events(logGroupName="g", filterPattern=pattern)["events"]
        return [e["message"] for e in found]

    assert [m.split()[0] for m in messages("")] == ["ERROR", "WARN", '{"level":', "INFO"]
    assert messages("?ERROR ?WARN") == ["ERROR disk full", "WARN slow retry"]
    assert messages("retry -ERROR") == ["WARN slow retry"]
    assert messages('"disk full"') == ["ERROR disk full"]
    assert messages("error") == []  # case-sensitive
    assert messages('{ $.level = "FATAL" }') == ['{"level": "FATAL", "n": 3}']
    assert messages("{ $.n > 5 }") == []
    with pytest.raises(ClientError) as info:
        logs.filter_log_events(logGroupName="g", filterPattern="{ $.level = ")
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"
    paged = logs.filter_log_events(logGroupName="g", limit=3)
    rest = logs.filter_log_events(logGroupName="g", limit=3, nextToken=paged["nextToken"])
    assert len(paged["events"]) == 3
    assert len(rest["events"]) == 1
    assert "nextToken" not in rest


def test_tail_log_result_still_works_for_a_version(lam: Any, deploy: Deploy) -> None:
    deploy("tailv", _code(1))
    lam.publish_version(FunctionName="tailv")
    response = lam.invoke(FunctionName="tailv:1", LogType="Tail")
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "Version: 1" in tail
