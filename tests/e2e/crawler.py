"""A user's self-invoking crawler (Python and Node), and the helpers the guard's e2e tests share:
deploy it, count its invocations with `recursectl local status --json`, follow a chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Cli, wait_until

# A crawler's shape: each page links to `width` more, down to `levels` below the start.
CRAWLER_PY = """\
import json
import time

import boto3

lam = boto3.client("lambda")


def handler(event, context):
    time.sleep(event.get("work_s", 0))
    level = event.get("level", 0)
    if event.get("forever") or level < event["levels"]:
        for _ in range(event["width"]):
            lam.invoke(
                FunctionName=context.function_name,
                InvocationType="Event",
                Payload=json.dumps({**event, "level": level + 1}),
            )
    return level
"""

CRAWLER_JS = """\
const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');

const lambda = new LambdaClient({});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

exports.handler = async (event, context) => {
  await sleep((event.work_s || 0) * 1000);
  const level = event.level || 0;
  if (event.forever || level < event.levels) {
    for (let i = 0; i < event.width; i++) {
      await lambda.send(new InvokeCommand({
        FunctionName: context.functionName,
        InvocationType: 'Event',
        Payload: JSON.stringify({ ...event, level: level + 1 }),
      }));
    }
  }
  return level;
};
"""


def deploy_crawler(cli: Cli, name: str, tmp_path: Path, language: str, *flags: str) -> None:
    if language == "node":
        handler = tmp_path / "crawler.js"
        handler.write_text(CRAWLER_JS)
    else:
        handler = tmp_path / "crawler.py"
        handler.write_text(CRAWLER_PY)
    out = cli.run("deploy", "--name", name, "--handler", str(handler), *flags)
    assert out.returncode == 0, out.stderr
    assert "budget     exact" in out.stdout  # deploy says which budget mode runs


def invocation_count(cli: Cli, name: str) -> int:
    status = json.loads(cli.ok("local", "status", "--json"))
    for fn in status.get("functions", []):
        if fn["name"] == name:
            return int(fn["invocations"])
    return 0


def settled(cli: Cli, name: str, timeout: float = 120) -> int:
    """The function's invocation count once it has stopped growing (and nothing is queued)."""
    seen: list[int] = []

    def quiet() -> bool:
        status = json.loads(cli.ok("local", "status", "--json"))
        fn = next((f for f in status.get("functions", []) if f["name"] == name), None)
        if fn is None:
            return False
        seen.append(int(fn["invocations"]))
        idle = fn["queued"] == 0 and fn["busy"] == 0
        # Idle (nothing queued or running) and the same count three reads in a row (each
        # read is a CLI process, ~0.5 s apart): no hop is still on its way.
        return idle and len(seen) >= 3 and len(set(seen[-3:])) == 1

    wait_until(f"{name}'s invocations to settle", quiet, timeout=timeout)
    return seen[-1]


def follow(cli: Cli, name: str, event: dict[str, Any], *flags: str) -> dict[str, Any]:
    proc = cli.run(
        "invoke", "--name", name, "--data", json.dumps(event), *flags,
        "--follow", "--timeout", "90", "--json",
        timeout=150,
    )  # fmt: skip
    assert proc.stdout.strip(), proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


LANGUAGES = ["python", "node"]


def ready(request: pytest.FixtureRequest, language: str) -> None:
    if language == "node":
        request.getfixturevalue("node_ready")  # skips where node or npm is missing
