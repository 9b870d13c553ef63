"""The exact budget, through the real CLI and the local cloud: plain handlers that decide their
own fan-out (no `--fanout`), started by plain `recursectl invoke`, counted on the chain counter
(a DynamoDB table deploy creates; moto's DynamoDB behind the local cloud's front door)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Cli, wait_until

pytestmark = [pytest.mark.e2e]

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


def _deploy(cli: Cli, name: str, tmp_path: Path, language: str, *flags: str) -> None:
    if language == "node":
        handler = tmp_path / "crawler.js"
        handler.write_text(CRAWLER_JS)
    else:
        handler = tmp_path / "crawler.py"
        handler.write_text(CRAWLER_PY)
    out = cli.run("deploy", "--name", name, "--handler", str(handler), *flags)
    assert out.returncode == 0, out.stderr
    assert "budget     exact" in out.stdout  # deploy says which budget mode runs


def _invocations(cli: Cli, name: str) -> int:
    status = json.loads(cli.ok("local", "status", "--json"))
    for fn in status.get("functions", []):
        if fn["name"] == name:
            return int(fn["invocations"])
    return 0


def _settled(cli: Cli, name: str, timeout: float = 120) -> int:
    """The function's invocation count once it has stopped growing (and nothing is queued)."""
    seen: list[int] = []

    def quiet() -> bool:
        status = json.loads(cli.ok("local", "status", "--json"))
        fn = next((f for f in status.get("functions", []) if f["name"] == name), None)
        if fn is None:
            return False
        seen.append(int(fn["invocations"]))
        idle = fn["queued"] == 0 and fn["busy"] == 0
        return idle and len(seen) >= 8 and len(set(seen[-8:])) == 1

    wait_until(f"{name}'s invocations to settle", quiet, timeout=timeout)
    return seen[-1]


def _follow(cli: Cli, name: str, event: dict[str, Any], *flags: str) -> dict[str, Any]:
    proc = cli.run(
        "invoke", "--name", name, "--data", json.dumps(event), *flags,
        "--follow", "--timeout", "90", "--json",
        timeout=150,
    )  # fmt: skip
    assert proc.stdout.strip(), proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


LANGUAGES = ["python", "node"]


def _ready(request: pytest.FixtureRequest, language: str) -> None:
    if language == "node":
        request.getfixturevalue("node_ready")  # skips where node or npm is missing


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("width", "total"), [(3, 13), (10, 111)])
def test_a_fan_out_that_fits_the_budget_runs_whole(
    local_cloud: Cli,
    fn_name: str,
    tmp_path: Path,
    language: str,
    width: int,
    total: int,
    request: pytest.FixtureRequest,
) -> None:
    _ready(request, language)
    _deploy(local_cloud, fn_name, tmp_path, language)
    doc = _follow(local_cloud, fn_name, {"width": width, "levels": 2})
    invocations = doc["invocations"]
    assert len(invocations) == total
    assert all(i["status"] == "ok" for i in invocations), [
        (i["status"], i.get("error")) for i in invocations if i["status"] != "ok"
    ]
    assert not [i for i in invocations if i.get("cut")]
    assert _settled(local_cloud, fn_name) == total


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_fan_out_larger_than_the_budget_stops_at_it(
    local_cloud: Cli, fn_name: str, tmp_path: Path, language: str, request: pytest.FixtureRequest
) -> None:
    _ready(request, language)
    # Fan-out 4, depth 5 is 1,365 invocations; the budget is 1,000 (the default).
    _deploy(local_cloud, fn_name, tmp_path, language)
    proc = local_cloud.run(
        "invoke", "--name", fn_name, "--data", json.dumps({"width": 4, "levels": 5})
    )
    assert proc.returncode == 0, proc.stderr
    total = _settled(local_cloud, fn_name, timeout=240)
    assert 950 <= total <= 1000
    # Exit 1: the chain failed (the refused handlers raised BudgetExhausted, as they should).
    logs = local_cloud.run("logs", "--name", fn_name, "--json", "--since", "10m", timeout=120)
    doc = json.loads(logs.stdout)
    assert doc["summary"]["requests"] == total
    assert "invocation budget max_invocations (1000)" in logs.stderr
    cuts = [i["cut"] for i in doc["invocations"] if i.get("cut")]
    assert cuts
    assert set(cuts) == {"budget"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_two_way_runaway_makes_its_budget_and_nothing_more(
    local_cloud: Cli, fn_name: str, tmp_path: Path, language: str, request: pytest.FixtureRequest
) -> None:
    _ready(request, language)
    _deploy(local_cloud, fn_name, tmp_path, language, "--max-invocations", "100")
    proc = local_cloud.run(
        "invoke", "--name", fn_name, "--data", json.dumps({"width": 2, "forever": True})
    )
    assert proc.returncode == 0, proc.stderr
    total = _settled(local_cloud, fn_name)
    assert 95 <= total <= 100


# One hop: 100 ms billed at 1,024 MB (1 GB) on x86_64, plus the request, at list price.
HOP_USD = 0.1 * 0.0000166667 + 0.20 / 1e6


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_cost_cap_stops_the_chain_within_one_invocation_past_it(
    local_cloud: Cli, fn_name: str, tmp_path: Path, language: str, request: pytest.FixtureRequest
) -> None:
    _ready(request, language)
    _deploy(local_cloud, fn_name, tmp_path, language, "--memory", "1024", "--max-calls", "200")
    # Warm environments first (a cold start bills its init too: ~1 s here, 10 warm hops).
    warm = local_cloud.run("invoke", "--name", fn_name, "--data", '{"width": 1, "levels": 3}')
    assert warm.returncode == 0, warm.stderr
    warmed = _settled(local_cloud, fn_name)
    event = {"width": 1, "forever": True, "work_s": 0.1}
    proc = local_cloud.run(
        "invoke", "--name", fn_name, "--data", json.dumps(event), "--max-cost", "0.0001"
    )
    assert proc.returncode == 0, proc.stderr
    # Before it starts: the caps in force and the worst case (1,000 x 30 s x 1,024 MB).
    assert "cost $0.0001" in proc.stderr
    assert "worst case $0.5002" in proc.stderr
    chain = proc.stdout.strip()
    total = _settled(local_cloud, fn_name) - warmed
    # The guard's own ledger: the chain's item in the counter table.
    got = local_cloud.aws(
        "dynamodb", "get-item", "--table-name", f"{fn_name}-recursectl-chains",
        "--key", json.dumps({"chain": {"S": chain}}), "--consistent-read",
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    spend = float(json.loads(got.stdout)["Item"]["spend"]["N"])
    logs = local_cloud.run("logs", "--name", fn_name, "--json", "--chain", chain, timeout=120)
    doc = json.loads(logs.stdout)
    assert len(doc["invocations"]) == total
    assert [i["cut"] for i in doc["invocations"] if i.get("cut")] == ["cost"]
    # Stopped once the spend passed the cap, and within one invocation's cost past it. The
    # largest invocation is a cold one (its init is billed with it); the guard measures from
    # its own import, so allow it 10 % and 5 ms over what the REPORT line says.
    largest = max(
        (i["billed_ms"] * 1.1 + 5) / 1000 * 1.0 * 0.0000166667 + 0.20 / 1e6
        for i in doc["invocations"]
    )
    assert 0.0001 <= spend <= 0.0001 + largest
    assert total >= 5  # warm hops are small next to the cap: it ran a while before the stop
    assert "cost cap" in logs.stderr


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_linear_chain_runs_to_the_default_depth_cap(
    local_cloud: Cli, fn_name: str, tmp_path: Path, language: str, request: pytest.FixtureRequest
) -> None:
    _ready(request, language)
    _deploy(local_cloud, fn_name, tmp_path, language)
    doc = _follow(local_cloud, fn_name, {"width": 1, "forever": True})
    invocations = doc["invocations"]
    assert sorted(i["depth"] for i in invocations) == list(range(26))  # 0..25, the default cap
    assert [(i["depth"], i["cut"]) for i in invocations if i.get("cut")] == [(25, "depth")]


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_unreachable_counter_refuses_children_and_the_tree_says_why(
    local_cloud: Cli, fn_name: str, tmp_path: Path, language: str, request: pytest.FixtureRequest
) -> None:
    _ready(request, language)
    _deploy(local_cloud, fn_name, tmp_path, language)
    # The counter is gone (deleted by hand, say): the guard must fail safe, never open.
    gone = local_cloud.aws(
        "dynamodb", "delete-table", "--table-name", f"{fn_name}-recursectl-chains"
    )
    assert gone.returncode == 0, gone.stderr
    proc = local_cloud.run(
        "invoke", "--name", fn_name, "--data", json.dumps({"width": 3, "levels": 2}),
        "--follow", "--timeout", "60", "--json", "--lines",
        timeout=120,
    )  # fmt: skip
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1  # the chain failed, and says so
    invocations = doc["invocations"]
    assert len(invocations) == 1  # the root ran; no child was let through
    root = invocations[0]
    assert root["cut"] == "counter"
    assert "ResourceNotFoundException" in json.dumps(root)  # the log says why
    assert "chain counter" in proc.stderr
