"""The guard's other limits through the real CLI and the local cloud, Python and Node: the depth
cap of a linear chain, the cost cap, and a chain counter that cannot be reached (fail safe)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.crawler import LANGUAGES, deploy_crawler, follow, ready, settled
from tests.support.cli import Cli

pytestmark = [pytest.mark.e2e]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_cost_cap_stops_the_chain_within_one_invocation_past_it(
    local_cloud: Cli, fn_name: str, tmp_path: Path, language: str, request: pytest.FixtureRequest
) -> None:
    ready(request, language)
    deploy_crawler(
        local_cloud, fn_name, tmp_path, language, "--memory", "1024", "--max-calls", "200"
    )
    # Warm environments first (a cold start bills its init too: ~1 s here, 10 warm hops).
    warm = local_cloud.run("invoke", "--name", fn_name, "--data", '{"width": 1, "levels": 3}')
    assert warm.returncode == 0, warm.stderr
    warmed = settled(local_cloud, fn_name)
    event = {"width": 1, "forever": True, "work_s": 0.1}
    proc = local_cloud.run(
        "invoke", "--name", fn_name, "--data", json.dumps(event), "--max-cost", "0.0001"
    )
    assert proc.returncode == 0, proc.stderr
    # Before it starts: the caps in force and the worst case (1,000 x 30 s x 1,024 MB).
    assert "cost $0.0001" in proc.stderr
    assert "worst case $0.5002" in proc.stderr
    chain = proc.stdout.strip()
    total = settled(local_cloud, fn_name) - warmed
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
    ready(request, language)
    deploy_crawler(local_cloud, fn_name, tmp_path, language)
    doc = follow(local_cloud, fn_name, {"width": 1, "forever": True})
    invocations = doc["invocations"]
    assert sorted(i["depth"] for i in invocations) == list(range(26))  # 0..25, the default cap
    assert [(i["depth"], i["cut"]) for i in invocations if i.get("cut")] == [(25, "depth")]


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_unreachable_counter_refuses_children_and_the_tree_says_why(
    local_cloud: Cli, fn_name: str, tmp_path: Path, language: str, request: pytest.FixtureRequest
) -> None:
    ready(request, language)
    deploy_crawler(local_cloud, fn_name, tmp_path, language)
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
