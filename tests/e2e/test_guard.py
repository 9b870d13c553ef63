"""The guard for handlers that know nothing of recursectl: plain boto3 self-invokers, deployed
with `recursectl deploy`, stopped by the cap and by the budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import Cli

pytestmark = [
    pytest.mark.e2e,
]

# Knows nothing of recursectl: invokes itself `fanout` times, forever.
RUNAWAY = """\
import json

import boto3

lam = boto3.client("lambda")


def handler(event, context):
    for _ in range(event.get("fanout", 1)):
        lam.invoke(
            FunctionName=context.function_name,
            InvocationType="Event",
            Payload=json.dumps({"fanout": event.get("fanout", 1)}),
        )
    return "again"
"""


def _deploy_runaway(cli: Cli, name: str, tmp_path: Path, *flags: str) -> None:
    handler = tmp_path / "runaway.py"
    handler.write_text(RUNAWAY)
    cli.ok("deploy", "--name", name, "--handler", str(handler), *flags)


def _follow(cli: Cli, name: str, data: str) -> dict[str, object]:
    proc = cli.run(
        "invoke", "--name", name, "--data", data, "--follow", "--timeout", "60", "--json"
    )
    try:
        doc: dict[str, object] = json.loads(proc.stdout)
    finally:
        cli.run("stop", "--name", name)  # whatever happened, nothing keeps running
    return doc


def test_a_plain_self_invoker_is_stopped_at_the_cap(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    _deploy_runaway(local_cloud, fn_name, tmp_path, "--max-calls", "20")
    info = local_cloud.json("info", "--name", fn_name)
    assert info["guard"]["active"] is True
    assert info["recursion"] == "Allow"  # our guard, not AWS's loop detection, is the limit
    doc = _follow(local_cloud, fn_name, "{}")
    invocations = doc["invocations"]
    assert isinstance(invocations, list)
    depths = sorted(i["depth"] for i in invocations)
    assert depths == list(range(21))  # one chain, linked, depth 0..20: past 16, cut at 20
    capped = [i for i in invocations if i["capped"] is not None]
    assert [i["depth"] for i in capped] == [20]


def test_a_plain_fan_out_is_stopped_at_the_budget(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    _deploy_runaway(local_cloud, fn_name, tmp_path, "--max-invocations", "40")
    doc = _follow(local_cloud, fn_name, '{"fanout": 2}')
    invocations = doc["invocations"]
    assert isinstance(invocations, list)
    assert 1 < len(invocations) <= 40
    assert any(i["capped"] is not None for i in invocations)
