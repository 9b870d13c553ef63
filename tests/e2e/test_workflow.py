"""The whole workflow through the real CLI against the local cloud."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Cli, wait_until

pytestmark = pytest.mark.e2e


def _by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {inv["request_id"]: inv for inv in doc["invocations"]}


def _handler(tmp_path: Path, body: str) -> Path:
    """A handler file next to the template's idea: recursive, with a twist in `body`."""
    path = tmp_path / "handler.py"
    path.write_text(
        "import time\n"
        "import recursectl_chain\n\n"
        "def handler(event, context):\n"
        "    chain = recursectl_chain.begin(event, context)\n"
        "    calls = int(event.get('numberOfCalls', 0))\n"
        f"{body}"
        "    if calls > 0:\n"
        "        chain.invoke_self({'numberOfCalls': calls - 1})\n"
        "    return calls\n"
    )
    return path


def test_deploy_invoke_follow_linear_chain(local_cloud: Cli, fn_name: str) -> None:
    deployed = local_cloud.json("deploy", "--name", fn_name)
    assert deployed["function_arn"].endswith(f":function:{fn_name}")

    doc = local_cloud.json(
        "invoke", "--name", fn_name, "--calls", "5", "--follow", "--timeout", "60"
    )
    assert doc["complete"] is True
    invocations = doc["invocations"]
    assert sorted(i["depth"] for i in invocations) == [0, 1, 2, 3, 4, 5]
    assert all(i["status"] == "ok" for i in invocations)
    by_id = _by_id(doc)
    for inv in invocations:
        if inv["depth"] == 0:
            assert inv["parent_id"] is None
            assert inv["request_id"] == doc["chain_id"]
        else:
            parent = by_id[inv["parent_id"]]
            assert parent["depth"] == inv["depth"] - 1
        assert inv["duration_ms"] is not None
        assert inv["billed_ms"] >= inv["duration_ms"]
    assert doc["summary"]["count"] == 6

    # `logs` afterwards finds the same chain as the most recent one.
    again = local_cloud.json("logs", "--name", fn_name)
    assert again["chain_id"] == doc["chain_id"]
    assert len(again["invocations"]) == 6

    # The human form: a tree with every hop and a summary.
    text = local_cloud.ok("logs", "--name", fn_name, "--chain", doc["chain_id"][:8])
    assert doc["chain_id"][:8] in text

    # `info` reads the same chain from the function's own log group as its last one.
    info = local_cloud.json("info", "--name", fn_name)
    last = info["last_chain"]
    assert (last["chain_id"], last["count"], last["complete"]) == (doc["chain_id"], 6, True)
    table = " ".join(local_cloud.ok("info", "--name", fn_name).split())  # rich wraps at 80
    assert f"last chain {doc['chain_id']} (complete): 6 invocations, 0 failed" in table


def test_fanout_is_a_real_tree(local_cloud: Cli, fn_name: str) -> None:
    local_cloud.ok("deploy", "--name", fn_name)
    doc = local_cloud.json(
        "invoke", "--name", fn_name, "--calls", "2", "--fanout", "2", "--follow", "--timeout", "60"
    )
    assert doc["complete"] is True
    assert len(doc["invocations"]) == 7  # 1 + 2 + 4
    by_id = _by_id(doc)
    children: dict[str, int] = {}
    for inv in doc["invocations"]:
        if inv["parent_id"]:
            children[inv["parent_id"]] = children.get(inv["parent_id"], 0) + 1
    assert sorted(children.values()) == [2, 2, 2]
    assert all(by_id[p]["depth"] < 2 for p in children)


def test_handler_raising_mid_chain(local_cloud: Cli, fn_name: str, tmp_path: Path) -> None:
    handler = _handler(tmp_path, "    if calls == 2:\n        raise ValueError('boom at 2')\n")
    local_cloud.ok("deploy", "--name", fn_name, "--handler", str(handler))
    proc = local_cloud.run(
        "invoke", "--name", fn_name, "--calls", "4", "--follow", "--timeout", "60", "--json"
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    statuses = {i["depth"]: i["status"] for i in doc["invocations"]}
    assert statuses == {0: "ok", 1: "ok", 2: "error"}
    failed = next(i for i in doc["invocations"] if i["status"] == "error")
    assert "ValueError" in json.dumps(failed["error"])


def test_handler_timing_out(local_cloud: Cli, fn_name: str, tmp_path: Path) -> None:
    handler = _handler(tmp_path, "    if calls == 1:\n        time.sleep(30)\n")
    # 5 s, not 1: the root's first Invoke (a boto3 client, a cold child) must fit in it even on
    # a loaded machine, where 1 s was measured to time out the root as well.
    local_cloud.ok("deploy", "--name", fn_name, "--handler", str(handler), "--timeout", "5")
    proc = local_cloud.run(
        "invoke", "--name", fn_name, "--calls", "2", "--follow", "--timeout", "60", "--json"
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    statuses = {i["depth"]: i["status"] for i in doc["invocations"]}
    assert statuses == {0: "ok", 1: "timeout"}


def test_handler_failing_to_import(local_cloud: Cli, fn_name: str, tmp_path: Path) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text("import no_such_module_here\n\ndef handler(event, context):\n    return 1\n")
    local_cloud.ok("deploy", "--name", fn_name, "--handler", str(handler))
    proc = local_cloud.run(
        "invoke", "--name", fn_name, "--calls", "0", "--follow", "--timeout", "60", "--json"
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    (root,) = doc["invocations"]
    assert root["status"] == "error"
    assert "Runtime.ImportModuleError" in json.dumps(root["error"])


def test_kill_switch_halts_a_running_chain(local_cloud: Cli, fn_name: str, tmp_path: Path) -> None:
    handler = _handler(tmp_path, "    time.sleep(0.3)\n")
    local_cloud.ok("deploy", "--name", fn_name, "--handler", str(handler), "--max-calls", "60")
    chain = local_cloud.json("invoke", "--name", fn_name, "--calls", "60")["chain_id"]
    wait_until("three hops", lambda: len(local_cloud.invocations(fn_name, chain)) >= 3)
    local_cloud.ok("stop", "--name", fn_name)
    # Anything in flight finishes: wait until two reads a second apart agree.
    counts = [-1]

    def settled() -> bool:
        counts.append(len(local_cloud.invocations(fn_name, chain)))
        time.sleep(1.0)
        return counts[-1] == counts[-2]

    wait_until("the chain to settle", settled)
    count = counts[-1]
    assert 1 < count < 61
    time.sleep(2.0)  # an absence: nothing new may appear while stopped
    assert len(local_cloud.invocations(fn_name, chain)) == count  # halted: nothing new
    info = local_cloud.json("info", "--name", fn_name)
    assert info["reserved_concurrency"] == 0

    local_cloud.ok("resume", "--name", fn_name)
    # The queued hop runs after resume but refuses to go deeper: the old chain stays dead.
    wait_until(
        "the queued hop to end the chain",
        lambda: any(i["stopped"] for i in local_cloud.invocations(fn_name, chain)),
    )
    time.sleep(1.0)  # an absence: it must not have gone deeper
    after = local_cloud.invocations(fn_name, chain)
    assert count <= len(after) <= count + 1
    assert [i["depth"] for i in after if i["stopped"]] == [max(i["depth"] for i in after)]

    doc = local_cloud.json(
        "invoke", "--name", fn_name, "--calls", "1", "--follow", "--timeout", "60"
    )
    assert doc["complete"] is True
    assert len(doc["invocations"]) == 2


def test_loop_detection_terminate_stops_at_16(local_cloud: Cli, fn_name: str) -> None:
    local_cloud.ok("deploy", "--name", fn_name, "--max-calls", "25")
    # Deploy chose Allow (cap >= 16); force AWS's default back on, as a user might.
    put = local_cloud.aws(
        "lambda",
        "put-function-recursion-config",
        "--function-name",
        fn_name,
        "--recursive-loop",
        "Terminate",
    )
    assert put.returncode == 0, put.stderr
    proc = local_cloud.run(
        "invoke", "--name", fn_name, "--calls", "20", "--follow", "--timeout", "90", "--json"
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    ran = [i for i in doc["invocations"] if i["status"] == "ok"]
    dropped = [i for i in doc["invocations"] if i["status"] == "dropped"]
    assert len(ran) == 16
    assert len(dropped) == 1
    assert dropped[0]["depth"] == 16


def test_loop_detection_allow_runs_to_the_end(local_cloud: Cli, fn_name: str) -> None:
    out = local_cloud.run("deploy", "--name", fn_name, "--max-calls", "25")
    assert out.returncode == 0
    assert "cap" in out.stderr  # the warning that recursectl's cap is now the guard
    doc = local_cloud.json(
        "invoke", "--name", fn_name, "--calls", "20", "--follow", "--timeout", "90"
    )
    assert doc["complete"] is True
    assert len(doc["invocations"]) == 21


def test_aws_cli_as_a_second_client(local_cloud: Cli, fn_name: str) -> None:
    local_cloud.ok("deploy", "--name", fn_name)
    out = local_cloud.aws(
        "lambda",
        "invoke",
        "--function-name",
        fn_name,
        "--invocation-type",
        "Event",
        "--payload",
        '{"numberOfCalls": 2}',
        "/dev/null",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["StatusCode"] == 202
    # `logs --follow` would wait for the *next* chain once this one is complete: poll instead.
    wait_until("the 3-invocation chain", lambda: len(local_cloud.invocations(fn_name)) == 3)
    doc = local_cloud.json("logs", "--name", fn_name)
    assert doc["complete"] is True
    assert len(doc["invocations"]) == 3
    events = local_cloud.aws(
        "logs", "filter-log-events", "--log-group-name", f"/aws/lambda/{fn_name}"
    )
    messages = [e["message"] for e in json.loads(events.stdout)["events"]]
    assert sum(m.startswith("REPORT RequestId: ") for m in messages) == 3
    config = local_cloud.aws("lambda", "get-function-configuration", "--function-name", fn_name)
    variables = json.loads(config.stdout)["Environment"]["Variables"]
    assert variables["RECURSECTL_SELF_ARN"].endswith(f":function:{fn_name}")


def test_bad_input(local_cloud: Cli, fn_name: str, tmp_path: Path) -> None:
    missing = local_cloud.run("invoke", "--name", fn_name)
    assert missing.returncode == 4
    assert "deploy" in missing.stderr

    local_cloud.ok("deploy", "--name", fn_name)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"blob": "x" * (1024 * 1024)}))
    too_big = local_cloud.run("invoke", "--name", fn_name, "-p", str(big))
    assert too_big.returncode == 2
    assert "at most" in too_big.stderr

    invalid = local_cloud.run("invoke", "--name", fn_name, "--data", "{oops")
    assert invalid.returncode == 2
    assert "not valid JSON" in invalid.stderr

    # The service itself rejects invalid JSON and oversized payloads with AWS's error names.
    raw = local_cloud.aws(
        "lambda",
        "invoke",
        "--function-name",
        fn_name,
        "--payload",
        "{oops",
        "/dev/null",
    )
    assert raw.returncode != 0
    assert "InvalidRequestContentException" in raw.stderr

    over_cap = local_cloud.run("invoke", "--name", fn_name, "--calls", "26")
    assert over_cap.returncode == 2
    assert "cap" in over_cap.stderr


def test_a_handler_that_knows_nothing_of_recursectl(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    handler = tmp_path / "app.py"
    handler.write_text(
        "def main(event, context):\n    print('hello', event)\n    return {'ok': 1}\n"
    )
    local_cloud.ok("deploy", "--name", fn_name, "--handler", f"{handler}:main")
    result = local_cloud.json("invoke", "--name", fn_name, "--data", '{"x": 1}', "--sync")
    assert result["payload"] == {"ok": 1}
    assert result["function_error"] is None
    time.sleep(1.0)  # the local cloud batches log writes
    doc = local_cloud.json("logs", "--name", fn_name, "--lines")
    # The guard's entry point writes the hop marker for it: linked, with no change to its code.
    assert doc["linked"] is True
    (only,) = doc["invocations"]
    assert only["depth"] == 0
    assert only["request_id"] == result["request_id"]
    assert only["status"] == "ok"
    assert any("hello" in line["text"] for line in only["lines"])
    # Its event arrives without the chain context.
    assert any("{'x': 1}" in line["text"] for line in only["lines"])
