"""A function deployed with LogFormat JSON, through the real CLI on the local cloud: Lambda's
platform records and the runtime client's log records are JSON, and `invoke --follow` still
draws the whole linked tree (durations, cold start, the error at its node)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.cli import Cli

pytestmark = pytest.mark.e2e


def _client(cli: Cli, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=cli.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def test_a_json_format_function_is_followed_as_a_linked_tree(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text(
        "import logging\n"
        "import recursectl_chain\n\n"
        "log = logging.getLogger()\n\n"
        "def handler(event, context):\n"
        "    chain = recursectl_chain.begin(event, context)\n"
        "    calls = int(event.get('numberOfCalls', 0))\n"
        "    log.info('hop with %d to go', calls)\n"
        "    if calls == 1:\n"
        "        raise ValueError('boom at depth 2')\n"
        "    if calls > 0:\n"
        "        chain.invoke_self({'numberOfCalls': calls - 1})\n"
        "    return calls\n"
    )
    local_cloud.ok("deploy", "--name", fn_name, "--handler", str(handler), "--log-format", "json")
    lam = _client(local_cloud, "lambda")
    config = lam.get_function_configuration(FunctionName=fn_name)["LoggingConfig"]
    assert config["LogFormat"] == "JSON"

    proc = local_cloud.run(
        "invoke", "--name", fn_name, "--calls", "3", "--follow", "--timeout", "60", "--json",
        "--lines",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # the chain failed at depth 2
    doc = json.loads(proc.stdout)
    invocations = doc["invocations"]
    statuses = {i["depth"]: i["status"] for i in invocations}
    assert statuses == {0: "ok", 1: "ok", 2: "error"}
    by_id = {i["request_id"]: i for i in invocations}
    for inv in invocations:
        if inv["depth"]:
            assert by_id[inv["parent_id"]]["depth"] == inv["depth"] - 1
        assert inv["duration_ms"] is not None
        assert inv["billed_ms"] >= inv["duration_ms"]
        assert inv["memory_mb"] == 128
    root = by_id[doc["chain_id"]]
    assert root["init_ms"] is not None  # a cold start, from platform.report's initDurationMs
    failed = next(i for i in invocations if i["status"] == "error")
    assert "ValueError" in json.dumps(failed["error"])
    assert "boom at depth 2" in json.dumps(failed["error"])
    assert doc["summary"]["cold_starts"] >= 1

    # The log group holds JSON records only (the markers are the guard's plain lines).
    logs = _client(local_cloud, "logs")
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{fn_name}")["events"]
    types = [json.loads(e["message"]).get("type") for e in events if e["message"][0] == "{"]
    assert "platform.start" in types
    assert "platform.report" in types
    assert not [e for e in events if e["message"].startswith(("START ", "REPORT ", "END "))]

    lines = {i["request_id"]: i.get("lines") or [] for i in invocations}
    # Each hop's own logging line, read from the JSON record's message.
    for inv in invocations:
        mine = [(ln["level"], ln["text"]) for ln in lines[inv["request_id"]]]
        assert ("INFO", f"hop with {3 - inv['depth']} to go") in mine, mine
