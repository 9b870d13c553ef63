"""init, deploy, stop, resume, info, destroy through the CLI (click's runner)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result

from recursectl.cli import cli

ARN = "arn:aws:lambda:us-east-1:123456789012:function:demo"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray recursectl.toml


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_init_writes_config_and_handler_and_refuses_to_overwrite(tmp_path: Path) -> None:
    result = run("init", "proj")
    assert result.exit_code == 0, result.output
    toml = (tmp_path / "proj" / "recursectl.toml").read_text()
    assert 'name = "proj"' in toml
    assert "# The recursion cap" in toml
    assert "def handler(" in (tmp_path / "proj" / "handler.py").read_text()
    again = run("init", "proj")
    assert again.exit_code == 2
    assert "already exist" in again.stderr
    assert "--force" in again.stderr
    assert run("init", "proj", "--force").exit_code == 0


def test_init_then_deploy_converges_and_writes_arn_back(
    endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert run("init", "--name", "demo").exit_code == 0
    first = run("--endpoint-url", endpoint, "deploy")
    assert first.exit_code == 0, first.output
    # A first deploy creates; configuring what it just created is not "updated".
    assert "deployed demo: created role, policy, log group, table, function\n" in first.stderr
    assert ARN in first.stdout
    assert "/aws/lambda/demo" in first.stdout
    assert "turned off" in first.stderr  # max_calls 25: the recursion warning
    toml = (tmp_path / "recursectl.toml").read_text()
    assert f'function_arn = "{ARN}"' in toml
    assert "# The recursion cap" in toml
    second = run("--endpoint-url", endpoint, "deploy")
    assert second.exit_code == 0, second.output
    assert "demo is unchanged" in second.stderr


def test_deploy_json(endpoint: str) -> None:
    result = run("--endpoint-url", endpoint, "deploy", "--name", "demo", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["function_name"] == "demo"
    assert doc["function_arn"] == ARN
    assert doc["role_arn"] == "arn:aws:iam::123456789012:role/demo-role"
    assert doc["log_group"] == "/aws/lambda/demo"
    assert doc["code_size"] > 0
    assert doc["dry_run"] is False
    assert [c["op"] for c in doc["changes"]][:5] == [
        "create_role",
        "put_policy",
        "create_log_group",
        "ensure_counter",
        "create_function",
    ]
    assert (doc["budget_mode"], doc["counter_table"]) == ("exact", "demo-recursectl-chains")
    again = json.loads(run("--endpoint-url", endpoint, "deploy", "--name", "demo", "--json").stdout)
    assert again["changes"] == []
    assert again["unchanged"] is True


def test_deploy_dry_run_prints_plan_and_creates_nothing(endpoint: str) -> None:
    result = run("--endpoint-url", endpoint, "deploy", "--name", "demo", "--dry-run")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())  # rich wraps long lines at the console's width
    assert "+ create function demo" in text
    assert "handler handler.handler, guard recursectl_chain.handler" in text
    assert "nothing was changed" in text
    assert boto3.client("iam", endpoint_url=endpoint).list_roles()["Roles"] == []


def test_deploy_user_handler_that_knows_nothing_of_recursectl(
    endpoint: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("def main(event, context):\n    return 'hi'\n")
    result = run(
        "--endpoint-url", endpoint, "deploy", "--name", "demo", "--handler", "fn/app.py:main"
    )
    assert result.exit_code == 0, result.output
    cfg = boto3.client("lambda", endpoint_url=endpoint).get_function(FunctionName="demo")
    assert cfg["Configuration"]["Handler"] == "recursectl_chain.handler"
    assert cfg["Configuration"]["Environment"]["Variables"]["RECURSECTL_HANDLER"] == "app.main"
    assert "handler    app.main" in result.stdout
    assert "guard      recursectl_chain.handler wraps it" in result.stdout


def test_local_note_when_runtime_differs(endpoint: str) -> None:
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    other = "python3.12" if here != "python3.12" else "python3.13"
    result = run("--local", "--endpoint-url", endpoint, "deploy", "--runtime", other, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"runs handlers with this interpreter ({here})" in result.stderr


def test_stop_resume_info_destroy(endpoint: str) -> None:
    assert run("--endpoint-url", endpoint, "deploy", "--name", "demo").exit_code == 0
    stop = run("--endpoint-url", endpoint, "stop", "--name", "demo")
    assert stop.exit_code == 0, stop.output
    assert "reserved concurrency 0 (was: none reserved)" in stop.stderr
    # The hint repeats the target the command ran against, so it works when pasted.
    assert f"recursectl --endpoint-url {endpoint} resume --name demo" in stop.stderr
    info = run("--endpoint-url", endpoint, "info", "--name", "demo")
    assert info.exit_code == 0, info.output
    assert "STOPPED" in info.stdout
    assert ARN in info.stdout
    doc = json.loads(run("--endpoint-url", endpoint, "info", "--name", "demo", "--json").stdout)
    assert doc["reserved_concurrency"] == 0
    assert doc["max_calls"] == 25
    assert doc["recursion"] == "Allow"
    assert doc["guard"]["active"] is True
    assert "recursectl_chain.handler wraps handler.handler" in info.stdout
    assert "max_invocations 1000" in info.stdout
    resume = run("--endpoint-url", endpoint, "resume", "--name", "demo")
    assert resume.exit_code == 0, resume.output
    assert "none reserved (was: 0)" in resume.stderr
    no = run("--endpoint-url", endpoint, "destroy", "--name", "demo", input="n\n")
    assert no.exit_code == 0
    assert "nothing deleted" in no.stderr
    closed = run("--endpoint-url", endpoint, "destroy", "--name", "demo")
    assert closed.exit_code == 2
    assert "--yes" in closed.stderr
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert len(lam.list_functions()["Functions"]) == 1
    yes = run("--endpoint-url", endpoint, "destroy", "--name", "demo", input="y\n")
    assert yes.exit_code == 0, yes.output
    assert "deleted function demo" in yes.stderr
    assert lam.list_functions()["Functions"] == []


def test_stop_and_resume_json(endpoint: str) -> None:
    assert run("--endpoint-url", endpoint, "deploy", "--name", "demo").exit_code == 0
    stop = json.loads(run("--endpoint-url", endpoint, "stop", "--name", "demo", "--json").stdout)
    assert stop == {
        "function_name": "demo",
        "reserved_concurrency_before": None,
        "reserved_concurrency": 0,
        "stopped": True,
        "generation": 1,
        "guarded": True,
        "source": None,
        "waited_for_update_s": 0.0,
        "job_function": False,
    }
    resume = run("--endpoint-url", endpoint, "resume", "--name", "demo", "--json")
    doc = json.loads(resume.stdout)
    assert (doc["reserved_concurrency_before"], doc["stopped"]) == (0, False)


def test_resume_restores_the_deployed_concurrency(endpoint: str) -> None:
    deployed = run("--endpoint-url", endpoint, "deploy", "--name", "demo", "--concurrency", "5")
    assert deployed.exit_code == 0, deployed.output
    assert run("--endpoint-url", endpoint, "stop", "--name", "demo").exit_code == 0
    resume = run("--endpoint-url", endpoint, "resume", "--name", "demo")
    assert resume.exit_code == 0, resume.output
    assert "reserved concurrency 5 (was: 0)" in resume.stderr
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.get_function_concurrency(FunctionName="demo")["ReservedConcurrentExecutions"] == 5


def test_invoke_on_a_stopped_function_is_refused(endpoint: str) -> None:
    assert run("--endpoint-url", endpoint, "deploy", "--name", "demo").exit_code == 0
    assert run("--endpoint-url", endpoint, "stop", "--name", "demo").exit_code == 0
    for extra in ((), ("--follow", "--timeout", "600")):
        result = run("--endpoint-url", endpoint, "invoke", "--name", "demo", *extra)
        assert result.exit_code == 6, result.output
        assert "demo is stopped (reserved concurrency 0)" in result.stderr
        assert f"recursectl --endpoint-url {endpoint} resume --name demo" in result.stderr
        assert "Traceback" not in result.output
    logs = boto3.client("logs", endpoint_url=endpoint)
    assert logs.filter_log_events(logGroupName="/aws/lambda/demo")["events"] == []  # no run


def test_a_fanout_tree_larger_than_the_budget_is_refused(endpoint: str) -> None:
    deployed = run(
        "--endpoint-url", endpoint, "deploy", "--name", "demo", "--max-invocations", "100"
    )
    assert deployed.exit_code == 0, deployed.output
    result = run(
        "--endpoint-url", endpoint, "invoke", "--name", "demo", "--calls", "6", "--fanout", "2"
    )
    assert result.exit_code == 2, result.output
    assert "a tree of 127 invocations" in result.stderr
    assert "allows 100 per chain" in result.stderr
    assert "--max-invocations 127" in result.stderr
    huge = run(
        "--endpoint-url", endpoint, "invoke", "--name", "demo", "--calls", "25", "--fanout", "3"
    )
    assert huge.exit_code == 2
    assert "1,270,932,914,164 invocations" in huge.stderr


def test_a_function_of_another_project_is_refused(
    endpoint: str,
    tmp_path: Path,
) -> None:
    assert run("init", "alpha", "--name", "demo").exit_code == 0
    assert run("init", "beta", "--name", "demo").exit_code == 0
    first = run("--endpoint-url", endpoint, "--config", "alpha/recursectl.toml", "deploy")
    assert first.exit_code == 0, first.output
    assert "project    alpha" in first.stdout
    other = run("--endpoint-url", endpoint, "--config", "beta/recursectl.toml", "deploy")
    assert other.exit_code == 5
    assert "belongs to recursectl project 'alpha'" in other.stderr
    assert "--adopt" in other.stderr
    adopted = run(
        "--endpoint-url", endpoint, "--config", "beta/recursectl.toml", "deploy", "--adopt"
    )
    assert adopted.exit_code == 0, adopted.output


def test_info_at_80_columns_continues_a_wrapped_value_under_itself(
    endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = "a-function-whose-name-is-long-enough-to-wrap-at-eighty-columns"
    assert run("--endpoint-url", endpoint, "deploy", "--name", name).exit_code == 0
    monkeypatch.setenv("COLUMNS", "80")
    info = run("--endpoint-url", endpoint, "info", "--name", name)
    assert info.exit_code == 0, info.output
    lines = info.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    at = next(i for i, line in enumerate(lines) if line.startswith("function    arn:"))
    # The ARN's rest is on the next line, under the value: never at column 0, where it
    # would read as a key.
    assert lines[at + 1].startswith(" " * 12)
    assert lines[at + 1].strip()
    assert (lines[at][12:] + lines[at + 1][12:]).endswith(f":function:{name}")
    keys = [line[:12].strip() for line in lines if not line.startswith(" ")]
    assert keys[:3] == ["function", "state", "managed"]
    assert all(line == line.rstrip() for line in lines)


def test_the_next_step_offers_calls_only_to_a_handler_that_reads_them(
    endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    plain = run("--endpoint-url", endpoint, "deploy", "--name", "plain")
    assert plain.exit_code == 0, plain.output
    assert "invoke --name plain --follow" in plain.stderr
    assert "--calls" not in plain.stderr
    (tmp_path / "handler.py").write_text(
        "def handler(event, context):\n    return event.get('numberOfCalls')\n"
    )
    counting = run("--endpoint-url", endpoint, "deploy", "--name", "counting")
    assert "invoke --name counting --calls 5 --follow" in counting.stderr
    (tmp_path / "event.json").write_text('{"numberOfCalls": 2}')
    with_event = run("--endpoint-url", endpoint, "deploy", "--name", "counting")
    assert "invoke --name counting -p event.json --follow" in with_event.stderr


# errors ---------------------------------------------------------------------------------------
def test_function_not_found(endpoint: str) -> None:
    result = run("--endpoint-url", endpoint, "info", "--name", "nope")
    assert result.exit_code == 4
    assert "Function nope does not exist" in result.stderr
    assert f"recursectl --endpoint-url {endpoint} deploy --name nope" in result.stderr
    assert "Traceback" not in result.output


def test_function_not_found_on_the_local_cloud_says_nothing_of_regions(endpoint: str) -> None:
    result = run("--local", "--endpoint-url", endpoint, "info", "--name", "nope")
    assert result.exit_code == 4
    hint = next(ln for ln in result.stderr.splitlines() if ln.startswith("hint: "))
    assert "--region" not in hint  # the local cloud has one region
    assert "the local cloud keeps functions while it runs" in hint


def test_missing_handler_fails_before_anything_is_created(endpoint: str) -> None:
    result = run("--endpoint-url", endpoint, "deploy", "--handler", "missing.py")
    assert result.exit_code == 2
    assert "missing.py does not exist" in result.stderr
    assert boto3.client("iam", endpoint_url=endpoint).list_roles()["Roles"] == []


def test_invalid_python_fails_before_anything_is_created(
    endpoint: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "bad.py").write_text("def handler(event, context)\n    return 1\n")
    result = run("--endpoint-url", endpoint, "deploy", "--handler", "bad.py")
    assert result.exit_code == 2
    assert "bad.py:1:" in result.stderr
    assert "invalid Python" in result.stderr
    assert boto3.client("iam", endpoint_url=endpoint).list_roles()["Roles"] == []


def test_an_env_key_lambda_refuses_fails_before_anything_is_created(
    endpoint: str,
) -> None:
    result = run("--endpoint-url", endpoint, "deploy", "--env", "A=1")
    assert result.exit_code == 2
    assert "error: Environment variable name 'A' is not valid on Lambda." in result.stderr
    assert "[a-zA-Z]([a-zA-Z0-9_])+" in result.stderr  # the rule, in the hint
    assert "Traceback" not in result.stderr
    assert boto3.client("iam", endpoint_url=endpoint).list_roles()["Roles"] == []
    assert boto3.client("lambda", endpoint_url=endpoint).list_functions()["Functions"] == []


def test_not_ours(endpoint: str) -> None:
    iam = boto3.client("iam", endpoint_url=endpoint)
    iam.create_role(RoleName="demo-role", AssumeRolePolicyDocument="{}")
    result = run("--endpoint-url", endpoint, "deploy", "--name", "demo")
    assert result.exit_code == 5
    assert "not managed by recursectl" in result.stderr
    assert "--adopt" in result.stderr
    assert run("--endpoint-url", endpoint, "deploy", "--name", "demo", "--adopt").exit_code == 0


def test_handler_in_config_is_relative_to_the_config_file(
    endpoint: str,
    tmp_path: Path,
) -> None:
    assert run("init", "sub", "--name", "demo").exit_code == 0
    result = run("--endpoint-url", endpoint, "--config", "sub/recursectl.toml", "deploy")
    assert result.exit_code == 0, result.output
    assert "function_arn" in (tmp_path / "sub" / "recursectl.toml").read_text()


def test_destroy_that_stops_half_way_says_what_is_gone_and_left(
    endpoint: str,
) -> None:
    assert run("--endpoint-url", endpoint, "deploy", "--name", "half").exit_code == 0
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
    # A role in an instance profile cannot be deleted (DeleteConflict); destroy detaches
    # managed policies itself, but never touches instance profiles it did not create.
    iam.create_instance_profile(InstanceProfileName="half-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="half-profile", RoleName="half-role")
    result = run("--endpoint-url", endpoint, "destroy", "--name", "half", "--yes")
    assert result.exit_code == 3, result.output
    assert "deleted function half" in result.stderr
    assert "left: role half-role, log group /aws/lambda/half" in result.stderr
    assert f"`recursectl --endpoint-url {endpoint} destroy --name half`" in result.stderr


def test_an_arm64_functions_chain_is_priced_at_the_arm64_list_price(endpoint: str) -> None:
    deployed = run("--endpoint-url", endpoint, "deploy", "--name", "arm", "--architecture", "arm64")
    assert deployed.exit_code == 0, deployed.output
    result = run(
        "--endpoint-url", endpoint, "invoke", "--name", "arm", "--calls", "1", "--follow",
        "--timeout", "120", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["cost_basis"] == "arm64 list price"
    shown = run("--endpoint-url", endpoint, "logs", "--name", "arm")
    assert "(estimate, arm64 list price)" in " ".join(shown.stdout.split())


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not on PATH")
def test_a_node_deploy_names_the_skipped_install_scripts_and_runs_them_only_when_opted_in(
    endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support.projects import project_with_scripted_dependency

    monkeypatch.setenv("RECURSECTL_NODE_CACHE", str(tmp_path / "cache"))
    proof = tmp_path / "proof.txt"
    monkeypatch.setenv("PROOF_FILE", str(proof))
    app = tmp_path / "app"
    project_with_scripted_dependency(app, proof)
    monkeypatch.chdir(app)
    (app / "recursectl.toml").write_text('name = "scripted"\nhandler = "handler.js:main"\n')
    skipped = run("--endpoint-url", endpoint, "deploy", "--dry-run")
    assert skipped.exit_code == 0, skipped.output
    assert not proof.exists()
    said = " ".join(skipped.stderr.split())
    assert "the install scripts of noisy did not run" in said
    assert "node.install_scripts = true" in said

    with (app / "recursectl.toml").open("a") as cfg:
        cfg.write("node.install_scripts = true\n")
    opted_in = run("--endpoint-url", endpoint, "deploy", "--dry-run")
    assert opted_in.exit_code == 0, opted_in.output
    assert proof.read_text().split() == ["install", "postinstall"]
    assert "did not run" not in opted_in.stderr


def test_a_python_sdist_is_built_only_with_the_opt_in(
    endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A user's requirements.txt names a package published only as an sdist, whose build code
    writes a proof file: deploy refuses it (exit 2, no proof) until python.build_sdists."""
    import dataclasses
    from collections.abc import Callable

    from recursectl.build import entry
    from recursectl.build.package import Options
    from recursectl.settings import Settings
    from tests.support.projects import make_sdist

    proof = tmp_path / "proof.txt"
    index = tmp_path / "index"
    make_sdist(index, "proofpkg", pure=True, proof=proof)
    options = entry._options

    def offline(settings: Settings, quiet: bool, info: Callable[[str], None]) -> Options:
        # The one seam: PyPI is replaced by a local folder (`--no-index --find-links`).
        return dataclasses.replace(
            options(settings, quiet, info), find_links=index, cache_dir=tmp_path / "cache"
        )

    monkeypatch.setattr(entry, "_options", offline)
    app = tmp_path / "app"
    app.mkdir()
    (app / "handler.py").write_text(
        "import proofpkg\n\n\ndef handler(event, context):\n    return proofpkg.VALUE\n"
    )
    (app / "requirements.txt").write_text("proofpkg==1.0\n")
    (app / "recursectl.toml").write_text('name = "sdist"\n')
    monkeypatch.chdir(app)

    refused = run("--endpoint-url", endpoint, "deploy", "--dry-run")
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.stderr.split())
    assert "proofpkg==1.0 has no wheel for Python 3.13 on Lambda" in said
    assert "only a source distribution (sdist)" in said
    assert "python.build_sdists = true" in said
    assert "Traceback" not in refused.output
    assert not proof.exists()

    monkeypatch.setenv("RECURSECTL_PYTHON_BUILD_SDISTS", "1")
    built = run("--endpoint-url", endpoint, "deploy", "--dry-run")
    assert built.exit_code == 0, built.output
    assert "1 dependency (installed)" in built.stderr
    assert "proofpkg build code ran" in proof.read_text()
    monkeypatch.delenv("RECURSECTL_PYTHON_BUILD_SDISTS")

    with (app / "recursectl.toml").open("a") as cfg:
        cfg.write("python.build_sdists = true\n")
    cached = run("--endpoint-url", endpoint, "deploy", "--dry-run")
    assert cached.exit_code == 0, cached.output
    assert "1 dependency (cached)" in cached.stderr
