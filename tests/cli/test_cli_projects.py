"""Real Python projects through the CLI against the local cloud (issue 9): dependencies,
source roots, environment variables, IAM additions, the files listing, bad input.

Dependencies come from the package index at test time into a cache kept in pytest's cache
folder (shared with tests/functional/build/test_dependencies.py: same requirements, same keys), so a
rerun makes no install. Tests that need the index are marked slow.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from recursectl.cli import cli

SIX = "six==1.17.0"
MARKUPSAFE = "markupsafe==3.0.2"
REQS = f"{SIX}\n{MARKUPSAFE}\n"  # the same text as test_pydeps: the same cache entries
HANDLER = """\
import markupsafe
import six


def handler(event, context):
    return {"escaped": str(markupsafe.escape("<a>")), "six": six.__version__,
            "markupsafe_file": markupsafe.__file__, "speedups": markupsafe._speedups.__name__}
"""


@pytest.fixture(scope="session")
def index_cache(request: pytest.FixtureRequest) -> Path:
    return Path(request.config.cache.mkdir("recursectl-pydeps"))


@pytest.fixture(autouse=True)
def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index_cache: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECURSECTL_CACHE_DIR", str(index_cache))


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def deploy(endpoint: str, *args: str, local: bool = True) -> Result:
    flags = ["--local"] if local else []
    return run(*flags, "--endpoint-url", endpoint, "deploy", "--name", "demo", *args)


def lam(endpoint: str) -> Any:
    return boto3.client("lambda", endpoint_url=endpoint)


def invoke(endpoint: str, payload: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    got = lam(endpoint).invoke(FunctionName="demo", Payload=json.dumps(payload or {}))
    return got.get("FunctionError"), json.loads(got["Payload"].read())


def nothing_created(endpoint: str) -> bool:
    iam = boto3.client("iam", endpoint_url=endpoint)
    return lam(endpoint).list_functions()["Functions"] == [] and iam.list_roles()["Roles"] == []


# dependencies ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_the_zip_holds_lambda_wheels_for_the_architecture(
    endpoint: str,
    tmp_path: Path,
    architecture: str,
) -> None:
    (tmp_path / "handler.py").write_text(HANDLER)
    (tmp_path / "requirements.txt").write_text(REQS)
    args = ("--runtime", "python3.12", "--architecture", architecture, "--json")
    result = deploy(endpoint, *args, local=False)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    pkg = doc["package"]
    assert pkg["dependencies"] == ["MarkupSafe==3.0.2", "six==1.17.0"]
    machine = "aarch64" if architecture == "arm64" else "x86_64"
    assert f"Lambda, manylinux {machine}" in pkg["dependencies_for"]
    files = {f["path"]: f for f in pkg["files"]}
    assert files["six.py"]["from"] == "dependency"
    assert files["handler.py"]["from"] == "source"
    assert files["recursectl_chain.py"]["from"] == "recursectl"
    shared = [p for p in files if p.endswith(".so")]
    assert shared == [f"markupsafe/_speedups.cpython-312-{machine}-linux-gnu.so"]
    got = lam(endpoint).get_function(FunctionName="demo")["Configuration"]
    assert got["CodeSha256"] == doc["code_sha256"]  # the zip that was listed is the one deployed
    assert got["Architectures"] == [architecture]
    assert doc["architecture"] == architecture


@pytest.mark.slow
def test_dependencies_run_on_the_local_cloud_and_an_unchanged_redeploy_installs_nothing(
    endpoint: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "handler.py").write_text(HANDLER)
    (tmp_path / "requirements.txt").write_text(REQS)
    first = deploy(endpoint)
    assert first.exit_code == 0, first.output
    # no config, no --handler: the handler.py here is what is deployed, and named
    assert "Packaged handler handler.handler (from handler.py)" in first.stderr
    assert "2 dependencies" in first.stderr
    assert "on AWS the zip differs only in the wheels' platform" in first.stderr
    error, body = invoke(endpoint)
    assert error is None, body
    assert body["escaped"] == "&lt;a&gt;"
    assert body["six"] == "1.17.0"
    assert body["speedups"] == "markupsafe._speedups"  # the compiled extension loaded
    assert ".venv" not in body["markupsafe_file"]  # from the package, not recursectl's venv
    sha = lam(endpoint).get_function(FunctionName="demo")["Configuration"]["CodeSha256"]

    again = deploy(endpoint)
    assert again.exit_code == 0, again.output
    assert "(cached)" in again.stderr
    assert "installing dependencies" not in again.stderr
    assert "demo is unchanged" in again.stderr  # same zip, same CodeSha256: no write
    assert lam(endpoint).get_function(FunctionName="demo")["Configuration"]["CodeSha256"] == sha


@pytest.mark.slow
def test_removing_the_requirement_fails_locally_as_on_aws(
    endpoint: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "handler.py").write_text(HANDLER)
    (tmp_path / "requirements.txt").write_text(f"{SIX}\n")  # markupsafe is no longer installed
    result = deploy(endpoint)
    assert result.exit_code == 0, result.output
    error, body = invoke(endpoint)
    # Today the worker still imports markupsafe from recursectl's own environment.
    assert error == "Unhandled", f"imported {body.get('markupsafe_file')}"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'markupsafe'" in body["errorMessage"]


# source roots ---------------------------------------------------------------------------
def test_a_package_style_handler_under_a_source_root(endpoint: str, tmp_path: Path) -> None:
    app = tmp_path / "src" / "app"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "util.py").write_text("def greet(who):\n    return f'hello {who}'\n")
    (app / "handler.py").write_text(
        "from app.util import greet\n\ndef main(event, context):\n    return greet(event['who'])\n"
    )
    (tmp_path / "src" / "tests").mkdir()
    (tmp_path / "src" / "tests" / "test_x.py").write_text("")
    result = deploy(endpoint, "--source", "src", "--handler", "app.handler.main", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "app/handler.py" in result.stdout
    assert "tests/test_x.py" not in result.stdout
    assert deploy(endpoint, "--source", "src", "--handler", "app/handler.py:main").exit_code == 0
    cfg = lam(endpoint).get_function(FunctionName="demo")["Configuration"]
    assert cfg["Environment"]["Variables"]["RECURSECTL_HANDLER"] == "app.handler.main"
    assert invoke(endpoint, {"who": "you"}) == (None, "hello you")


@pytest.mark.slow
@pytest.mark.parametrize("declared_in", ["requirements.txt", "pyproject.toml"])
def test_a_src_layout_installs_the_projects_requirements_and_names_the_file(
    endpoint: str,
    tmp_path: Path,
    declared_in: str,
) -> None:
    """`--source src` with the requirements at the project's root (issue 21): installed, and
    deploy says from which file; the handler runs with them."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "handler.py").write_text(HANDLER)
    if declared_in == "requirements.txt":
        (tmp_path / "requirements.txt").write_text(REQS)
    else:
        deps = ", ".join(f'"{line}"' for line in REQS.split())
        (tmp_path / "pyproject.toml").write_text(
            f'[project]\nname = "shop"\nversion = "1"\ndependencies = [{deps}]\n'
        )
    result = deploy(endpoint, "--source", "src")
    assert result.exit_code == 0, result.output
    assert f"2 dependencies (installed) from {declared_in}" in result.stderr.replace(
        "(cached)", "(installed)"
    )
    error, body = invoke(endpoint)
    assert error is None, body
    assert body["six"] == "1.17.0"


def test_dry_run_lists_files_largest_first_and_json_lists_all(
    endpoint: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "handler.py").write_text("def handler(e, c):\n    return 1\n")
    for i in range(20):
        (tmp_path / f"data{i:02}.bin").write_bytes(b"x" * (1000 + i))
    result = deploy(endpoint, "--dry-run")
    assert result.exit_code == 0, result.output
    listed = [line.split()[-1] for line in result.stdout.splitlines() if "data" in line]
    assert listed[:2] == ["data19.bin", "data18.bin"]  # largest first
    assert "more (--json lists all)" in result.stdout
    doc = json.loads(deploy(endpoint, "--dry-run", "--json").stdout)
    paths = [f["path"] for f in doc["package"]["files"]]
    assert len([p for p in paths if p.startswith("data")]) == 20
    assert doc["package"]["handler"] == "handler.handler"
    assert nothing_created(endpoint)


# environment ----------------------------------------------------------------------------
def test_environment_set_changed_and_set_outside_recursectl(
    endpoint: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "handler.py").write_text(
        "import os\n\ndef handler(e, c):\n    return {k: os.environ.get(k) for k in e['keys']}\n"
    )
    (tmp_path / "recursectl.toml").write_text(
        'name = "demo"\n\n[environment]\nLOG_LEVEL = "info"\nRETRIES = 3\n'
    )
    assert deploy(endpoint).exit_code == 0
    keys = {"keys": ["LOG_LEVEL", "RETRIES", "FROM_CONSOLE"]}
    assert invoke(endpoint, keys)[1] == {"LOG_LEVEL": "info", "RETRIES": "3", "FROM_CONSOLE": None}

    changed = deploy(endpoint, "--env", "LOG_LEVEL=debug")
    assert changed.exit_code == 0, changed.output
    assert invoke(endpoint, keys)[1]["LOG_LEVEL"] == "debug"

    # someone sets a variable by hand: the next deploy keeps it and names it
    client = lam(endpoint)
    current = client.get_function(FunctionName="demo")["Configuration"]["Environment"]
    client.update_function_configuration(
        FunctionName="demo",
        Environment={"Variables": {**current["Variables"], "FROM_CONSOLE": "yes"}},
    )
    plan = deploy(endpoint, "--dry-run")
    assert "set outside recursectl are kept: FROM_CONSOLE" in plan.stderr
    assert "kept (set outside recursectl): FROM_CONSOLE" in plan.stdout
    kept = deploy(endpoint)  # the config's LOG_LEVEL=info again
    assert kept.exit_code == 0, kept.output
    assert "FROM_CONSOLE" in kept.stderr
    assert invoke(endpoint, keys)[1] == {"LOG_LEVEL": "info", "RETRIES": "3", "FROM_CONSOLE": "yes"}

    pruned = deploy(endpoint, "--prune-env")
    assert pruned.exit_code == 0, pruned.output
    assert "removes FROM_CONSOLE" in pruned.stderr
    assert invoke(endpoint, keys)[1]["FROM_CONSOLE"] is None
    assert deploy(endpoint).stderr.count("unchanged") == 1


# IAM --------------------------------------------------------------------------------------
def test_extra_iam_statements_and_managed_policies_are_on_the_role(
    endpoint: str,
    tmp_path: Path,
) -> None:
    iam = boto3.client("iam", endpoint_url=endpoint)
    managed = iam.create_policy(
        PolicyName="read-things",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    (tmp_path / "handler.py").write_text("def handler(e, c):\n    return 1\n")
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/things"
    (tmp_path / "policy.json").write_text(
        json.dumps(
            {"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}
        )
    )
    (tmp_path / "recursectl.toml").write_text(
        f'name = "demo"\niam_policy_file = "policy.json"\nmanaged_policies = ["{managed}"]\n\n'
        '[[iam_statements]]\nEffect = "Allow"\nAction = ["dynamodb:GetItem"]\n'
        f'Resource = "{table}"\n'
    )
    plan = deploy(endpoint, "--dry-run")
    assert plan.exit_code == 0, plan.output
    shown = " ".join(plan.stdout.split())  # rich wraps long plan lines at the terminal width
    assert "Allow dynamodb:GetItem on " + table in shown
    assert f"attach {managed}" in shown
    assert f"managed policy {managed}" in shown
    assert deploy(endpoint).exit_code == 0
    doc = iam.get_role_policy(RoleName="demo-role", PolicyName="recursectl-self-invoke")
    statements = doc["PolicyDocument"]["Statement"]
    assert [s.get("Sid") for s in statements[:2]] == ["WriteOwnLogs", "InvokeSelf"]
    assert {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": table} in statements
    assert {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"} in statements
    attached = iam.list_attached_role_policies(RoleName="demo-role")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [managed]
    assert "demo is unchanged" in deploy(endpoint).stderr
    # destroy detaches it (the role can go) and forgets the stale function_arn
    assert "function_arn" in (tmp_path / "recursectl.toml").read_text()
    gone = run("--local", "--endpoint-url", endpoint, "destroy", "--yes")
    assert gone.exit_code == 0, gone.output
    assert iam.list_roles()["Roles"] == []
    assert "function_arn" not in (tmp_path / "recursectl.toml").read_text()
    assert "removed function_arn" in gone.stderr


# bad input: exit 2, one line and a hint, nothing created ---------------------------------
def _bad_projects(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    (tmp_path / "handler.py").write_text("def handler(e, c):\n    return 1\n")
    return {
        "unknown runtime": (["--runtime", "python3.99"], "Lambda has no such runtime"),
        "deprecated runtime": (["--runtime", "python2.7"], "AWS deprecated it on 2021-07-15"),
        "old runtime": (["--runtime", "python3.11"], "AWS deprecated it on 2026-06-30"),
        "reserved name": (["--env", "AWS_REGION=eu-west-1"], "reserved by Lambda"),
        "lambda name": (["--env", "AWS_LAMBDA_FUNCTION_NAME=x"], "reserved by Lambda"),
        "own name": (["--env", "RECURSECTL_MAX_CALLS=99"], "recursectl's own"),
        "not key=value": (["--env", "NOEQUALS"], "is not KEY=VALUE"),
        "missing requirements": (["--requirements", "nope.txt"], "does not exist"),
        "missing source": (["--source", "nope"], "Source folder nope does not exist"),
        "bad policy file": (["--iam-policy-file", "nope.json"], "does not exist"),
    }


@pytest.mark.parametrize(
    "case",
    ["unknown runtime", "deprecated runtime", "old runtime", "reserved name", "lambda name",
     "own name", "not key=value", "missing requirements", "missing source", "bad policy file"],
)  # fmt: skip
def test_bad_input_exits_2_with_a_hint_and_creates_nothing(
    endpoint: str,
    tmp_path: Path,
    case: str,
) -> None:
    args, message = _bad_projects(tmp_path)[case]
    result = deploy(endpoint, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ")
    assert lines[1].startswith("hint: ")
    assert len(lines) == 2
    assert "Traceback" not in result.output
    assert nothing_created(endpoint)


def test_the_runtime_error_lists_the_supported_ones(endpoint: str, tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("def handler(e, c):\n    return 1\n")
    result = deploy(endpoint, "--runtime", "python3.99")
    assert "use one of: " in result.stderr
    assert "python3.13" in result.stderr
    assert "python3.11," not in result.stderr


def test_secret_files_and_escaping_symlinks_are_refused(endpoint: str, tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("def handler(e, c):\n    return 1\n")
    (tmp_path / "secrets.json").write_text('{"password": "x"}')
    result = deploy(endpoint)
    assert result.exit_code == 2, result.output
    assert "Refusing to package secrets.json" in result.stderr
    assert 'include = ["secrets.json"]' in result.stderr
    assert deploy(endpoint, "--include", "secrets.json", "--dry-run").exit_code == 0
    (tmp_path / "secrets.json").unlink()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("not yours")
    os.symlink(outside, tmp_path / "link.txt")
    result = deploy(endpoint)
    assert result.exit_code == 2, result.output
    assert "outside the source root" in result.stderr
    assert nothing_created(endpoint)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("keys/signing.asc", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGZ\n"),
        (
            "config/aws.txt",
            "[default]\naws_secret_access_key = q7Vt0Kd1Rb9Zx3Lm5Np2Wc8Ye4Hj6Gs/Uf+Ta1Qo\n",
        ),
        (
            "ci.vars",
            "AWS_ACCESS_KEY_ID=AKIA2E0A8F3B244C9986\nAWS_SECRET_ACCESS_KEY=q7Vt0Kd1Rb9Zx3Lm5Np2Wc8Ye4Hj6Gs/Uf+Ta1Qo\n",
        ),
    ],
)
def test_secrets_found_by_content_exit_2_with_the_file_and_pattern(
    endpoint: str,
    tmp_path: Path,
    name: str,
    content: str,
) -> None:
    (tmp_path / "handler.py").write_text("def handler(e, c):\n    return 1\n")
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text("# padding\n" * 10_000 + content)  # past the first 64 KB
    result = deploy(endpoint)
    assert result.exit_code == 2, result.output
    error, hint = result.stderr.strip().splitlines()
    assert error.startswith(f"error: Refusing to package {name}: it looks like a secret (")
    assert ", line 1000" in error
    assert hint.startswith(f"hint: {name} matched ")
    assert f'include = ["{name}"]' in hint
    assert "Traceback" not in result.output
    assert nothing_created(endpoint)
    assert deploy(endpoint, "--include", name, "--dry-run").exit_code == 0


@pytest.mark.slow
def test_a_dependency_with_no_suitable_wheel(endpoint: str, tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("def handler(e, c):\n    return 1\n")
    (tmp_path / "requirements.txt").write_text("six==0.0.0.1\n")  # no such version, no wheel
    result = deploy(endpoint, local=False)
    assert result.exit_code == 2, result.output
    assert "six==0.0.0.1" in result.stderr
    assert "hint: " in result.stderr
    assert nothing_created(endpoint)


# init ------------------------------------------------------------------------------------
def test_an_init_project_passes_its_own_tests(tmp_path: Path) -> None:
    import subprocess
    import sys

    assert run("init", "proj").exit_code == 0
    project = tmp_path / "proj"
    assert (project / "tests" / "test_handler.py").is_file()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        check=False,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
