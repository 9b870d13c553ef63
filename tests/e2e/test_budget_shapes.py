"""The exact budget, through the real CLI and the local cloud: plain handlers that decide their
own fan-out (no `--fanout`), started by plain `recursectl invoke`, counted on the chain counter
(a DynamoDB table deploy creates; moto's DynamoDB behind the local cloud's front door)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.crawler import LANGUAGES, deploy_crawler, follow, invocation_count, ready, settled
from tests.support.cli import Cli

pytestmark = [pytest.mark.e2e]


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
    ready(request, language)
    deploy_crawler(local_cloud, fn_name, tmp_path, language)
    doc = follow(local_cloud, fn_name, {"width": width, "levels": 2})
    invocations = doc["invocations"]
    assert len(invocations) == total
    assert all(i["status"] == "ok" for i in invocations), [
        (i["status"], i.get("error")) for i in invocations if i["status"] != "ok"
    ]
    assert not [i for i in invocations if i.get("cut")]
    assert invocation_count(local_cloud, fn_name) == total  # complete: nothing else ran


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_fan_out_larger_than_the_budget_stops_at_it(
    local_cloud: Cli, fn_name: str, tmp_path: Path, language: str, request: pytest.FixtureRequest
) -> None:
    ready(request, language)
    # Fan-out 4, depth 5 is 1,365 invocations; the budget is 1,000 (the default).
    deploy_crawler(local_cloud, fn_name, tmp_path, language)
    proc = local_cloud.run(
        "invoke", "--name", fn_name, "--data", json.dumps({"width": 4, "levels": 5})
    )
    assert proc.returncode == 0, proc.stderr
    total = settled(local_cloud, fn_name, timeout=240)
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
    ready(request, language)
    deploy_crawler(local_cloud, fn_name, tmp_path, language, "--max-invocations", "100")
    proc = local_cloud.run(
        "invoke", "--name", fn_name, "--data", json.dumps({"width": 2, "forever": True})
    )
    assert proc.returncode == 0, proc.stderr
    total = settled(local_cloud, fn_name)
    assert 95 <= total <= 100
