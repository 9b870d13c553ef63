"""The user's project as it is (issue 21), through the real CLI on the local cloud: a folder
holding only a seed-style handler.js and event.json deploys with no flag and runs its chain of 6;
the handler's own variable holds the function's ARN; two folders are two functions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Cli

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
REAL_SEED = ROOT / ".." / "shared" / "seed" / "handler.js"

# The seed's shape: CommonJS, the runtime's SDK v3, one export, async self-invoke by context.
SEED_STYLE = """'use strict';
const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');

const lambda = new LambdaClient({});

module.exports.recursiveExample = async (event, context) => {
  console.log('received', event);
  if (event.numberOfCalls > 0) {
    console.log('recursive call');
    event.numberOfCalls -= 1;
    await lambda.send(new InvokeCommand({
      FunctionName: context.functionName,
      InvocationType: 'Event',
      Payload: JSON.stringify(event),
      Qualifier: context.functionVersion,
    }));
    return 'invoked next call';
  }
  console.log('recursive call finished');
  return 'finished';
};
"""

# The user's own variable as FunctionName (no recursectl name anywhere in their code).
NODE_SELF_ARN = """const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');
const lambda = new LambdaClient({});
exports.run = async (event) => {
  if (event.numberOfCalls > 0) {
    await lambda.send(new InvokeCommand({
      FunctionName: process.env.SELF_ARN,
      InvocationType: 'Event',
      Payload: JSON.stringify({ numberOfCalls: event.numberOfCalls - 1 }),
    }));
  }
  return event.numberOfCalls;
};
"""

PYTHON_SELF_ARN = """import json
import os

import boto3

lam = boto3.client("lambda")


def main(event, context):
    if event["numberOfCalls"] > 0:
        lam.invoke(
            FunctionName=os.environ["SELF_ARN"],
            InvocationType="Event",
            Payload=json.dumps({"numberOfCalls": event["numberOfCalls"] - 1}),
        )
    return event["numberOfCalls"]
"""


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    """A user's folder with a unique name (the function is named after it)."""
    folder = tmp_path / f"proj-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "event.json").write_text('{\n  "numberOfCalls": 5\n}\n')
    return folder


def _run_event(cli: Cli, folder: Path) -> dict[str, Any]:
    proc = cli.run(
        "--local", "invoke", "-p", "event.json", "--follow", "--timeout", "90", "--json",
        cwd=folder, timeout=150,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    return dict(json.loads(proc.stdout))


def _assert_linked_chain_of_6(doc: dict[str, Any]) -> None:
    assert doc["complete"] is True
    invocations = doc["invocations"]
    assert sorted(i["depth"] for i in invocations) == [0, 1, 2, 3, 4, 5]
    assert all(i["status"] == "ok" for i in invocations)
    by_id = {i["request_id"]: i for i in invocations}
    for inv in invocations:
        if inv["depth"]:
            assert by_id[inv["parent_id"]]["depth"] == inv["depth"] - 1


def _seed_sources() -> list[Any]:
    real = pytest.param(
        "real",
        marks=pytest.mark.skipif(not REAL_SEED.is_file(), reason="../shared/seed is not here"),
    )
    return ["project copy", real]


@pytest.mark.parametrize("seed", _seed_sources())
def test_the_seed_folder_deploys_its_own_handler_with_no_flag(
    local_cloud: Cli, tmp_path: Path, node_ready: None, seed: str
) -> None:
    text = REAL_SEED.read_text() if seed == "real" else SEED_STYLE
    folder = _folder(tmp_path, {"handler.js": text})
    # What would go in, before anything is created: the user's files and the guard (its
    # entry point, the guard, the job module it loads only for a job's hop).
    plan = local_cloud.run("--local", "deploy", "--dry-run", cwd=folder, timeout=300)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "files (5, " in plan.stdout
    for name in ("handler.js", "event.json", "recursectl_chain.cjs", "recursectl_chain.job.cjs"):
        assert re.search(rf"^\s+[\d.]+ [KM]?B\s+{re.escape(name)}", plan.stdout, re.M), plan.stdout
    assert (
        "Packaged handler handler.recursiveExample (from handler.js:recursiveExample): 5 files"
        in plan.stderr
    )
    doc = json.loads(local_cloud.ok("--local", "deploy", "--dry-run", "--json", cwd=folder))
    files = {f["path"]: f["from"] for f in doc["package"]["files"]}
    assert files["handler.js"] == "source"
    assert files["recursectl_chain.cjs"] == "recursectl"
    assert doc["package"]["file_count"] == 5
    proc = local_cloud.run("--local", "deploy", cwd=folder, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "handler handler.js:recursiveExample: found in this folder" in proc.stderr
    assert "bundled" not in (proc.stdout + proc.stderr).lower()
    assert f"Deploying {folder.name} " in proc.stderr
    assert "handler    handler.recursiveExample (from handler.js:recursiveExample)" in proc.stdout
    # Honest about what went in: the user's file, the guard, no "0 files".
    assert "code       5 files" in proc.stdout  # event.json, handler.js, the three guard files
    # No --runtime: the machine's Node.js major (what the local cloud runs), or the nearest
    # runtime Lambda supports, said with its reason.
    said = next(ln for ln in proc.stderr.splitlines() if ln.startswith("runtime nodejs"))
    assert said.endswith("(--runtime sets another)")
    assert "this machine's Node.js" in said
    config = local_cloud.aws("lambda", "get-function-configuration", "--function-name", folder.name)
    assert json.loads(config.stdout)["Runtime"] == said.split()[1].rstrip(":")
    _assert_linked_chain_of_6(_run_event(local_cloud, folder))


def test_a_folder_with_two_handlers_names_them_and_the_flag(
    local_cloud: Cli, tmp_path: Path
) -> None:
    folder = _folder(
        tmp_path,
        {
            "handler.js": "exports.first = async () => 1;\nexports.second = async () => 2;\n",
            "worker.py": "def run(event, context):\n    return 1\n",
        },
    )
    proc = local_cloud.run("--local", "deploy", cwd=folder)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == (
        "error: this folder holds several handlers: handler.js:first, handler.js:second, "
        "worker.py:run."
    )
    assert lines[1].startswith("hint: name one: --handler handler.js:first")
    assert "Traceback" not in proc.stderr


def test_an_empty_folder_deploys_the_bundled_example_and_says_so(
    local_cloud: Cli, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, {"notes.txt": "nothing to run here\n"})
    proc = local_cloud.run("--local", "deploy", "--dry-run", cwd=folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "deploying recursectl's BUNDLED EXAMPLE handler, not your code" in proc.stderr
    assert "(from the bundled template)" in proc.stdout


@pytest.mark.parametrize(
    ("files", "runtime"),
    [({"handler.js": NODE_SELF_ARN}, "nodejs"), ({"app.py": PYTHON_SELF_ARN}, "python")],
    ids=["node", "python"],
)
def test_the_variable_the_code_reads_holds_the_functions_arn(
    local_cloud: Cli, tmp_path: Path, node_ready: None, files: dict[str, str], runtime: str
) -> None:
    folder = _folder(tmp_path, files)
    deployed = json.loads(local_cloud.ok("--local", "deploy", "--json", cwd=folder, timeout=300))
    assert {"name": "SELF_ARN", "from": f"read in {next(iter(files))}"} in deployed["self_arn_env"]
    human = local_cloud.ok("--local", "deploy", cwd=folder)
    assert f"self ARN   in RECURSECTL_SELF_ARN, SELF_ARN (read in {next(iter(files))})" in human
    get = local_cloud.aws("lambda", "get-function-configuration", "--function-name", folder.name)
    config = json.loads(get.stdout)
    assert config["Runtime"].startswith(runtime)
    assert config["Environment"]["Variables"]["SELF_ARN"] == deployed["function_arn"]
    _assert_linked_chain_of_6(_run_event(local_cloud, folder))


# A variable name built at run time: no scan can see it, so the variable stays unset.
HIDDEN_NODE = NODE_SELF_ARN.replace(
    "process.env.SELF_ARN", "process.env[['SELF', 'ARN'].join('_')]"
)
HIDDEN_PYTHON = PYTHON_SELF_ARN.replace(
    'os.environ["SELF_ARN"]', 'os.environ.get("_".join(["SELF", "ARN"]), "")'
)


@pytest.mark.parametrize(
    "files",
    [{"handler.js": HIDDEN_NODE}, {"app.py": HIDDEN_PYTHON}],
    ids=["node", "python"],
)
def test_an_empty_function_name_fails_with_a_hint_naming_the_setting(
    local_cloud: Cli, tmp_path: Path, node_ready: None, files: dict[str, str]
) -> None:
    folder = _folder(tmp_path, files)
    local_cloud.ok("--local", "deploy", cwd=folder, timeout=300)
    proc = local_cloud.run(
        "--local", "invoke", "-p", "event.json", "--follow", "--timeout", "60", cwd=folder,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FunctionName" in proc.stdout + proc.stderr
    hint = next(ln for ln in proc.stderr.splitlines() if ln.startswith("hint: "))
    assert "empty FunctionName" in hint
    assert "RECURSECTL_SELF_ARN" in hint
    assert 'self_arn_env = ["NAME"]' in hint


def test_two_folders_are_two_functions_and_one_cannot_replace_the_other(
    local_cloud: Cli, tmp_path: Path, node_ready: None
) -> None:
    python = _folder(tmp_path, {"app.py": PYTHON_SELF_ARN})
    node = _folder(tmp_path, {"handler.js": SEED_STYLE})
    (node / "package.json").write_text(json.dumps({"name": f"@me/seed-{python.name}"}))
    first = json.loads(local_cloud.ok("--local", "deploy", "--json", cwd=python))
    second = json.loads(local_cloud.ok("--local", "deploy", "--json", cwd=node, timeout=300))
    assert first["function_name"] == python.name
    assert second["function_name"] == f"seed-{python.name}"  # package.json's name, sanitized
    assert first["function_arn"] != second["function_arn"]
    # The Node folder aimed at the Python function: refused (exit 5), saying what differs.
    proc = local_cloud.run("--local", "deploy", "--name", python.name, cwd=node)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert f"belongs to recursectl project {python.name!r}" in proc.stderr
    assert "runtime python3.13 -> nodejs" in proc.stderr
    assert "--adopt" in proc.stderr
    unchanged = local_cloud.aws(
        "lambda", "get-function-configuration", "--function-name", python.name
    )
    assert json.loads(unchanged.stdout)["Runtime"] == "python3.13"
    # Taken over on purpose.
    adopted = json.loads(
        local_cloud.ok("--local", "deploy", "--name", python.name, "--adopt", "--json", cwd=node)
    )
    assert adopted["project"] == node.name


# The seed's serverless.yml as its README describes it (step 2's placeholder left as it is,
# step 3's statement uncommented): recursectl does the four manual steps in one deploy.
SERVERLESS_YML = """service: recursive-invocation-example

frameworkVersion: ">=1.0.0"

custom:
  functionARN: yourFunctionARN

provider:
  name: aws
  runtime: nodejs12.x
  environment:
    FUNCTION_ARN: ${self:custom.functionARN}
  iamRoleStatements:
    - Effect: "Allow"
      Action:
        - "lambda:InvokeFunction"
      Resource: ${self:custom.functionARN}

functions:
  recursiveExample:
    name: ${self:service}-${sls:stage}-recursiveExample-SUFFIX
    handler: handler.recursiveExample
    events:
      - http: GET recursive
"""


@pytest.mark.parametrize(
    "handler_from",
    [
        "reads FUNCTION_ARN",
        pytest.param(
            "the real seed",
            marks=pytest.mark.skipif(not REAL_SEED.is_file(), reason="../shared/seed is not here"),
        ),
    ],
)
def test_a_serverless_project_deploys_as_it_is_and_runs_its_chain(
    local_cloud: Cli, tmp_path: Path, node_ready: None, handler_from: str
) -> None:
    suffix = uuid.uuid4().hex[:6]
    # The handler reads the ARN serverless.yml passes it (FUNCTION_ARN), as the README's
    # "needed for the function to recursively call itself" has it; the seed's own handler.js
    # addresses itself by context.functionName.
    handler = (
        REAL_SEED.read_text()
        if handler_from == "the real seed"
        else SEED_STYLE.replace(
            "FunctionName: context.functionName", "FunctionName: process.env.FUNCTION_ARN"
        )
    )
    yml = SERVERLESS_YML.replace("SUFFIX", suffix)
    folder = _folder(tmp_path, {"serverless.yml": yml, "handler.js": handler})
    name = f"recursive-invocation-example-dev-recursiveExample-{suffix}"
    proc = local_cloud.run("--local", "deploy", cwd=folder, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    err = proc.stderr
    assert "note: serverless.yml: custom.functionARN is the function's own ARN" in err
    assert "runtime nodejs12.x is no longer supported by Lambda" in err
    assert "not applied by recursectl: functions.recursiveExample.events" in err
    assert f"Deploying {name} " in err
    assert "self ARN   in RECURSECTL_SELF_ARN, FUNCTION_ARN (environment)" in proc.stdout
    config = json.loads(
        local_cloud.aws("lambda", "get-function-configuration", "--function-name", name).stdout
    )
    arn = config["FunctionArn"]
    assert config["Runtime"] == "nodejs22.x"
    assert config["Environment"]["Variables"]["FUNCTION_ARN"] == arn
    policy = json.loads(
        local_cloud.aws(
            "iam", "get-role-policy", "--role-name", f"{name}-role",
            "--policy-name", "recursectl-self-invoke",
        ).stdout
    )["PolicyDocument"]  # fmt: skip
    statement = {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": arn}
    assert statement in policy["Statement"]
    _assert_linked_chain_of_6(_run_event(local_cloud, folder))

    # `init --from` writes the equivalent recursectl.toml: deploying from it changes nothing.
    local_cloud.ok("init", "--from", "serverless.yml", cwd=folder)
    toml = (folder / "recursectl.toml").read_text()
    assert 'FUNCTION_ARN = "${function_arn}"' in toml
    assert 'Resource = "${function_arn}"' in toml
    again = local_cloud.run("--local", "deploy", cwd=folder)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{name} is unchanged" in again.stderr + again.stdout


def test_unreadable_serverless_yml_is_one_line_with_its_line_number(
    local_cloud: Cli, tmp_path: Path
) -> None:
    broken = "service: s\nprovider:\n  name: aws\n   runtime: [\n"
    folder = _folder(tmp_path, {"serverless.yml": broken, "handler.js": SEED_STYLE})
    proc = local_cloud.run("--local", "deploy", cwd=folder)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: serverless.yml line 4: not valid YAML")
    assert lines[1].startswith("hint: ")


def test_a_fresh_init_project_imports_its_handler_outside_pytest(
    local_cloud: Cli, tmp_path: Path
) -> None:
    """`python -c "import handler"` in a new project: recursectl_chain comes from the
    recursectl installation (the helper deploy packages), not only under the project's pytest."""
    local_cloud.ok("init", "proj", cwd=tmp_path)
    env = {k: v for k, v in local_cloud.env.items() if k != "PYTHONPATH"}
    code = "import handler, recursectl_chain; print(recursectl_chain.__file__)"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path / "proj", env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("templates/python/recursectl_chain.py")


def _at_a_terminal(cli: Cli, args: list[str], cwd: Path, answer: str) -> tuple[int, str]:
    """Run recursectl on a pseudo-terminal, answer its question, return (exit code, output)."""
    import os
    import pty
    import select
    import time

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "recursectl"), *args],
        cwd=cwd, env={**cli.env, "COLUMNS": "200"}, stdin=slave, stdout=slave, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    out = b""
    answered = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the other side closed: the process is done
                break
            if not chunk:
                break
            out += chunk
            if not answered and b"Take it over" in out:
                os.write(master, answer.encode() + b"\n")
                answered = True
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=60), out.decode(errors="replace")


def test_at_a_terminal_deploy_asks_before_taking_another_projects_function(
    local_cloud: Cli, tmp_path: Path, node_ready: None
) -> None:
    python = _folder(tmp_path, {"app.py": PYTHON_SELF_ARN})
    node = _folder(tmp_path, {"handler.js": SEED_STYLE})
    local_cloud.ok("--local", "deploy", cwd=python)
    args = ["--local", "deploy", "--name", python.name]
    code, out = _at_a_terminal(local_cloud, args, node, "n")
    assert code == 5, out
    assert "What differs: project" in out
    assert "runtime python3.13 -> nodejs" in out
    get = local_cloud.aws("lambda", "get-function-configuration", "--function-name", python.name)
    assert json.loads(get.stdout)["Runtime"] == "python3.13"
    code, out = _at_a_terminal(local_cloud, args, node, "y")
    assert code == 0, out
    get = local_cloud.aws("lambda", "get-function-configuration", "--function-name", python.name)
    assert json.loads(get.stdout)["Runtime"].startswith("nodejs")


def test_local_start_node_builds_the_runtime_client_or_says_it_is_built(
    local_cloud: Cli, tmp_path: Path, node_ready: None
) -> None:
    # node_ready built it for this machine's cache: start --node says so and reuses the cloud.
    proc = local_cloud.run("local", "start", "--node")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the Node.js runtime client is built already" in proc.stderr
    assert "already running" in proc.stderr
    # Without node on PATH: an error that says what is missing, and no cloud started.
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {**local_cloud.env, "PATH": str(bare), "RECURSECTL_LOCAL_PORT": "1"}
    no_node = subprocess.run(
        [str(Path(sys.executable).parent / "recursectl"), "local", "start", "--node"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert no_node.returncode == 2, no_node.stdout + no_node.stderr
    assert no_node.stderr.startswith("error: ")
    assert "node" in no_node.stderr.splitlines()[0]
    assert "Traceback" not in no_node.stderr
