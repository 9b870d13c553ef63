"""Node.js handlers through the real CLI on the local cloud: the seed's own handler.js, unchanged,
as a linked chain; a throw, a timeout and an import failure at the node where they happen."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Cli, free_port
from tests.support.seed import SEED_HANDLERS

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _seedlike(tmp_path: Path, twist: str) -> Path:
    """The seed's handler with a twist run before it self-invokes (`calls` is numberOfCalls)."""
    path = tmp_path / "handler.js"
    path.write_text(
        "'use strict';\n"
        "const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');\n"
        "const lambda = new LambdaClient({});\n"
        "module.exports.recursiveExample = async (event, context) => {\n"
        "  const calls = event.numberOfCalls;\n"
        f"{twist}"
        "  if (calls > 0) {\n"
        "    event.numberOfCalls -= 1;\n"
        "    await lambda.send(new InvokeCommand({ FunctionName: context.functionName,\n"
        "      InvocationType: 'Event', Payload: JSON.stringify(event),\n"
        "      Qualifier: context.functionVersion }));\n"
        "  }\n"
        "  return calls;\n"
        "};\n"
    )
    return path


# What each seed-style handler logs besides its event: at the last call, and at a hop.
LINES = {
    SEED_HANDLERS["example"]: ("last call of the chain", "calling itself, {} calls to go"),
    SEED_HANDLERS["shared-seed"]: ("recursive call finished", "recursive call"),
}


def _follow(cli: Cli, name: str, calls: int) -> tuple[int, dict[str, Any]]:
    proc = cli.run(
        "invoke", "--name", name, "--calls", str(calls), "--follow", "--timeout", "90", "--json",
        timeout=150,
    )  # fmt: skip
    return proc.returncode, json.loads(proc.stdout)


def test_the_seed_unchanged_runs_as_a_linked_chain(
    local_cloud: Cli, fn_name: str, tmp_path: Path, node_ready: None, seed_js: Path
) -> None:
    shutil.copy(seed_js, tmp_path / "handler.js")
    deployed = json.loads(local_cloud.ok(
        "deploy", "--name", fn_name, "--handler", "handler.js:recursiveExample",
        "--runtime", "nodejs22.x", "--json", cwd=tmp_path,
    ))  # fmt: skip
    assert deployed["handler"] == "handler.recursiveExample"
    assert deployed["guard"]["active"] is True
    code, doc = _follow(local_cloud, fn_name, 5)
    assert code == 0, json.dumps(doc, indent=1)[:3000]
    assert doc["complete"] is True
    invocations = doc["invocations"]
    assert sorted(i["depth"] for i in invocations) == [0, 1, 2, 3, 4, 5]
    assert all(i["status"] == "ok" for i in invocations)
    by_id = {i["request_id"]: i for i in invocations}
    for inv in invocations:
        if inv["depth"] == 0:
            assert inv["parent_id"] is None
        else:
            assert by_id[inv["parent_id"]]["depth"] == inv["depth"] - 1
    # Every hop's own lines, as the Node runtime writes them: time, request id, INFO, message.
    text = local_cloud.ok(
        "logs", "--name", fn_name, "--chain", doc["chain_id"], "--json", "--lines"
    )
    lines = {i["request_id"]: i.get("lines") or [] for i in json.loads(text)["invocations"]}
    for inv in invocations:
        mine = [(ln["level"], ln["text"]) for ln in lines[inv["request_id"]]]
        assert ("INFO", f"received {{ numberOfCalls: {5 - inv['depth']} }}") in mine, mine
        leaf, hop = LINES[seed_js]
        assert ("INFO", leaf if inv["depth"] == 5 else hop.format(4 - inv["depth"])) in mine, mine
        assert all(not text.startswith("_recursectl") for _, text in mine)


def test_a_throw_a_timeout_and_an_import_failure_show_at_their_node(
    local_cloud: Cli, fn_name: str, tmp_path: Path, node_ready: None
) -> None:
    throws = tmp_path / "throws"
    throws.mkdir()
    handler = _seedlike(throws, "  if (calls === 2) throw new TypeError('boom at 2');\n")
    local_cloud.ok("deploy", "--name", fn_name, "--handler", f"{handler}:recursiveExample")
    code, doc = _follow(local_cloud, fn_name, 4)
    assert code == 1
    statuses = {i["depth"]: i["status"] for i in doc["invocations"]}
    assert statuses == {0: "ok", 1: "ok", 2: "error"}
    failed = next(i for i in doc["invocations"] if i["status"] == "error")
    assert "TypeError" in json.dumps(failed["error"])
    assert "boom at 2" in json.dumps(failed["error"])

    slow = tmp_path / "slow"
    slow.mkdir()
    handler = _seedlike(
        slow, "  if (calls === 1) await new Promise((r) => setTimeout(r, 30000));\n"
    )
    local_cloud.ok(
        "deploy", "--name", f"{fn_name}-t", "--handler", f"{handler}:recursiveExample",
        "--timeout", "1",
    )  # fmt: skip
    code, doc = _follow(local_cloud, f"{fn_name}-t", 2)
    assert code == 1
    assert {i["depth"]: i["status"] for i in doc["invocations"]} == {0: "ok", 1: "timeout"}

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "handler.js").write_text(
        "const missing = require('no-such-module-here');\n"
        "module.exports.recursiveExample = async () => missing;\n"
    )
    local_cloud.ok(
        "deploy", "--name", f"{fn_name}-i", "--handler",
        f"{broken / 'handler.js'}:recursiveExample",
    )  # fmt: skip
    code, doc = _follow(local_cloud, f"{fn_name}-i", 0)
    assert code == 1
    (root,) = doc["invocations"]
    assert root["status"] == "error"
    assert "Runtime.ImportModuleError" in json.dumps(root["error"])


def test_init_writes_a_node_project_that_deploys_and_runs_as_it_is(
    local_cloud: Cli, fn_name: str, tmp_path: Path, node_ready: None
) -> None:
    local_cloud.ok("init", "proj", "--name", fn_name, "--runtime", "nodejs22.x", cwd=tmp_path)
    project = tmp_path / "proj"
    assert sorted(p.name for p in project.iterdir()) == [
        "handler.js", "package.json", "recursectl.toml",
    ]  # fmt: skip
    assert json.loads((project / "package.json").read_text())["dependencies"] == {}
    deployed = json.loads(local_cloud.ok("deploy", "--json", cwd=project))
    assert deployed["handler"] == "handler.recursiveExample"
    assert deployed["guard"]["active"] is True
    proc = local_cloud.run(
        "invoke", "--calls", "2", "--fanout", "2", "--follow", "--timeout", "90", "--json",
        cwd=project, timeout=150,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["complete"] is True
    assert sorted(i["depth"] for i in doc["invocations"]) == [0, 1, 1, 2, 2, 2, 2]
    assert all(i["status"] == "ok" for i in doc["invocations"])


def test_without_node_an_invoke_fails_as_a_broken_runtime_with_the_hint(
    local_cloud: Cli, tmp_path: Path, node_ready: None
) -> None:
    """A second local cloud whose PATH has no node: Runtime.InvalidEntrypoint, and the hint in
    the function's log, the local cloud's log and `local status`."""
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {**local_cloud.env, "PATH": str(bare), "RECURSECTL_LOCAL_PORT": str(free_port())}
    env["RECURSECTL_STATE_DIR"] = str(tmp_path / "state")
    cli = Cli(env=env, port=int(env["RECURSECTL_LOCAL_PORT"]), cwd=tmp_path)
    shutil.copy(SEED_HANDLERS["example"], tmp_path / "handler.js")
    cli.ok("local", "start")
    try:
        cli.ok("deploy", "--name", "seed", "--handler", "handler.recursiveExample")
        proc = cli.run("invoke", "--name", "seed", "--calls", "0", "--follow", "--json")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        (root,) = json.loads(proc.stdout)["invocations"]
        assert root["error"]["type"] == "Runtime.InvalidEntrypoint"
        status = cli.run("local", "status")
        assert "node is not on PATH" in status.stdout + status.stderr
        logs = cli.run("logs", "--name", "seed", "--lines")
        assert "install Node.js" in logs.stdout, logs.stdout
    finally:
        cli.run("local", "stop")
