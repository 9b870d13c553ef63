"""LoggingConfig LogFormat JSON on the local cloud, through real boto3 clients: Lambda's
platform records in AWS's JSON shape, the runtime clients' JSON application records, and
ApplicationLogLevel / SystemLogLevel filtering (issue 11 row 7, docs/fidelity.md)."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.support.localcloud import make_zip, wait_active, wait_for_events

ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}

PYTHON = (
    "import json\n"
    "import logging\n\n"
    "log = logging.getLogger()\n\n"
    "def handler(event, context):\n"
    "    log.debug('a debug record')\n"
    "    log.info('an info record')\n"
    "    log.warning('a warning record')\n"
    "    print('a plain print')\n"
    "    print(json.dumps({'level': 'DEBUG', 'message': 'a printed debug object'}))\n"
    "    print(json.dumps({'level': 'ERROR', 'message': 'a printed error object'}))\n"
    "    if event.get('fail'):\n"
    "        raise ValueError('boom')\n"
    "    return 1\n"
)


def _create(
    lam: Any,
    name: str,
    files: dict[str, str],
    logging_config: dict[str, str],
    runtime: str = "python3.11",
    handler: str = "handler.handler",
) -> None:
    iam = boto3.client("iam", endpoint_url=lam.meta.endpoint_url)
    try:
        role = iam.get_role(RoleName="logfmt-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(
            RoleName="logfmt-role", AssumeRolePolicyDocument=json.dumps(ROLE_POLICY)
        )["Role"]["Arn"]
    lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=role,
        Handler=handler,
        Code={"ZipFile": make_zip(files)},
        Timeout=30,
        LoggingConfig=logging_config,
    )
    wait_active(lam, name)


def _rid(response: dict[str, Any]) -> str:
    return str(response["ResponseMetadata"]["RequestId"])


def _records(events: list[dict[str, Any]]) -> list[Any]:
    """Each event's message, decoded when it is a JSON object, else the text."""
    out: list[Any] = []
    for event in events:
        message = event["message"]
        out.append(json.loads(message) if message.startswith("{") else message)
    return out


def _of(records: list[Any], rtype: str) -> list[dict[str, Any]]:
    return [r for r in records if isinstance(r, dict) and r.get("type") == rtype]


def _reports(n: int) -> Any:
    return lambda ev: sum('"platform.report"' in e["message"] for e in ev) >= n


def test_json_platform_records_have_aws_shape(endpoint: str, lam: Any, logs: Any) -> None:
    _create(lam, "jsonfmt", {"handler.py": PYTHON}, {"LogFormat": "JSON"})
    cold = _rid(lam.invoke(FunctionName="jsonfmt"))
    warm = _rid(lam.invoke(FunctionName="jsonfmt"))
    failed = lam.invoke(FunctionName="jsonfmt", Payload=b'{"fail": true}', LogType="Tail")
    assert failed["FunctionError"] == "Unhandled"
    events = wait_for_events(endpoint, logs, "/aws/lambda/jsonfmt", _reports(3))
    records = _records(events)

    # No text platform lines at all; every record is {"time", "type", "record"}, compact.
    assert not [r for r in records if isinstance(r, str) and r.startswith(("START", "END", "REP"))]
    platform = [r for r in records if isinstance(r, dict) and "type" in r]
    assert all(list(r) == ["time", "type", "record"] for r in platform)
    assert all(r["time"].endswith("Z") and len(r["time"]) == 24 for r in platform)
    assert all(", " not in e["message"][:40] for e in events if e["message"].startswith('{"time"'))
    (init,) = _of(records, "platform.initStart")
    assert set(init["record"]) == {
        "initializationType",
        "phase",
        "runtimeVersion",
        "runtimeVersionArn",
        "functionName",
        "functionVersion",
    }
    assert init["record"]["initializationType"] == "on-demand"
    assert init["record"]["phase"] == "init"
    assert init["record"]["functionName"] == "jsonfmt"
    starts = [r["record"] for r in _of(records, "platform.start")]
    assert starts[:2] == [
        {"requestId": cold, "version": "$LATEST"},
        {"requestId": warm, "version": "$LATEST"},
    ]
    reports = {r["record"]["requestId"]: r["record"] for r in _of(records, "platform.report")}
    first, second = reports[cold], reports[warm]
    assert first["status"] == "success"
    assert list(first["metrics"]) == [
        "durationMs",
        "billedDurationMs",
        "memorySizeMB",
        "maxMemoryUsedMB",
        "initDurationMs",
    ]
    assert "initDurationMs" not in second["metrics"]  # a warm start
    metrics = first["metrics"]
    assert metrics["memorySizeMB"] == 128
    assert metrics["billedDurationMs"] >= metrics["durationMs"] + metrics["initDurationMs"]
    assert isinstance(metrics["billedDurationMs"], int)
    # platform.runtimeDone (JSON's END) is DEBUG: not at the default system level INFO.
    assert not _of(records, "platform.runtimeDone")

    # Application records: awslambdaric's JSON formatter; print() stays plain text.
    app = [r for r in records if isinstance(r, dict) and "type" not in r]
    info = next(r for r in app if r.get("message") == "an info record")
    assert {"timestamp", "level", "message", "logger", "requestId"} <= set(info)
    assert info["level"] == "INFO"
    assert info["requestId"] in (cold, warm, _rid(failed))
    assert "a plain print" in records
    messages = [r.get("message") for r in app]
    assert "a debug record" not in messages  # ApplicationLogLevel INFO (the default)
    assert "a printed debug object" not in messages  # a printed object's level counts too
    assert "a printed error object" in messages
    error = next(r for r in app if r.get("errorType") == "ValueError")
    assert error["errorMessage"] == "boom"
    # LogType=Tail: the same JSON records, START to REPORT.
    import base64

    tail = base64.b64decode(failed["LogResult"]).decode().splitlines()
    assert json.loads(tail[0])["type"] == "platform.start"
    assert json.loads(tail[-1])["type"] == "platform.report"


def test_log_levels_filter_application_and_system_records(
    endpoint: str, lam: Any, logs: Any
) -> None:
    quiet = {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "WARN"}
    _create(lam, "quiet", {"handler.py": PYTHON}, quiet)
    verbose = {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "DEBUG"}
    _create(lam, "verbose", {"handler.py": PYTHON}, verbose)
    lam.invoke(FunctionName="quiet")
    lam.invoke(FunctionName="verbose")
    loud = wait_for_events(endpoint, logs, "/aws/lambda/verbose", _reports(1))
    records = _records(loud)
    messages = {r.get("message") for r in records if isinstance(r, dict)}
    assert {"a debug record", "an info record", "a printed debug object"} <= messages
    (done,) = _of(records, "platform.runtimeDone")  # DEBUG: END's JSON counterpart
    assert done["record"]["status"] == "success"
    assert set(done["record"]["metrics"]) == {"durationMs", "producedBytes"}

    events = wait_for_events(
        endpoint, logs, "/aws/lambda/quiet", lambda ev: any("warning" in e["message"] for e in ev)
    )
    records = _records(events)
    # SystemLogLevel WARN: initStart, start and report are INFO records, none is written.
    assert not [r for r in records if isinstance(r, dict) and "type" in r]
    messages = {r.get("message") for r in records if isinstance(r, dict)}
    assert messages == {"a warning record", "a printed error object"}
    assert "a plain print" in records  # plain text has no level to filter by


def test_json_init_failure_is_a_platform_init_report(endpoint: str, lam: Any, logs: Any) -> None:
    broken = {"handler.py": "import requests_that_do_not_exist\n"}
    _create(lam, "jsonbroken", broken, {"LogFormat": "JSON"})
    response = lam.invoke(FunctionName="jsonbroken")
    assert response["FunctionError"] == "Unhandled"
    events = wait_for_events(endpoint, logs, "/aws/lambda/jsonbroken", _reports(1))
    records = _records(events)
    (report,) = _of(records, "platform.initReport")
    assert report["record"]["phase"] == "invoke"
    assert report["record"]["status"] == "error"
    assert report["record"]["errorType"] == "Runtime.ImportModuleError"
    assert report["record"]["metrics"]["durationMs"] > 0
    (final,) = _of(records, "platform.report")
    assert final["record"]["status"] == "error"
    assert final["record"]["errorType"] == "Runtime.ImportModuleError"


NODE = (
    "exports.handler = async (event) => {\n"
    "  console.debug('a debug call');\n"
    "  console.log('a log call', 42);\n"
    "  console.warn('a warn call');\n"
    "  if (event.fail) throw new TypeError('node boom');\n"
    "  return 1;\n"
    "};\n"
)


def test_node_console_writes_json_records(
    endpoint: str, lam: Any, logs: Any, node_ready: None
) -> None:
    _create(
        lam,
        "nodejson",
        {"index.js": NODE},
        {"LogFormat": "JSON", "ApplicationLogLevel": "INFO"},
        runtime="nodejs22.x",
        handler="index.handler",
    )
    ok = _rid(lam.invoke(FunctionName="nodejson"))
    assert lam.invoke(FunctionName="nodejson", Payload=b'{"fail": true}')["FunctionError"]
    events = wait_for_events(endpoint, logs, "/aws/lambda/nodejson", _reports(2))
    records = _records(events)
    assert _of(records, "platform.initStart")
    assert len(_of(records, "platform.start")) == 2
    app = [r for r in records if isinstance(r, dict) and "type" not in r]
    line = next(r for r in app if r.get("message") == "a log call 42")
    assert {"timestamp", "level", "requestId", "message"} <= set(line)
    assert (line["level"], line["requestId"]) == ("INFO", ok)
    assert any(r.get("level") == "WARN" for r in app)
    assert not [r for r in app if r.get("message") == "a debug call"]  # below INFO
    error = next(r for r in app if r.get("level") == "ERROR")
    assert error["message"]["errorType"] == "TypeError"
    assert error["message"]["errorMessage"] == "node boom"
