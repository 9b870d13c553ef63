"""Errors through the real click entry point: one line, a hint, the documented exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from recursectl.app import App
from recursectl.cli import _add_late_globals, cli
from recursectl.errors import EXIT_AWS, EXIT_NOT_FOUND, EXIT_USAGE


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _run("invoke")
    # The environment, as for missing credentials (exit 3): and the way out without AWS.
    assert code == EXIT_AWS
    assert "No AWS region" in out
    assert "--local" in out


def test_unknown_profile() -> None:
    code, out = _run("--profile", "nobody", "--region", "us-east-1", "invoke")
    assert code == EXIT_USAGE
    assert "nobody" in out


def test_function_not_found(endpoint: str) -> None:
    code, out = _run("--endpoint-url", endpoint, "invoke", "--name", "ghost")
    assert code == EXIT_NOT_FOUND
    assert "Function ghost does not exist" in out
    assert f"`recursectl --endpoint-url {endpoint} deploy --name ghost`" in out


def test_malformed_event_file(tmp_path: Path) -> None:
    bad = tmp_path / "event.json"
    bad.write_text("{not json")
    code, out = _run("--region", "us-east-1", "invoke", "-p", str(bad))
    assert code == EXIT_USAGE
    assert "not valid JSON" in out


def test_bad_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "recursectl.toml"
    cfg.write_text("memory = 'lots'\n")
    code, out = _run("--config", str(cfg), "invoke")
    assert code == EXIT_USAGE
    assert "wrong type" in out


def test_bad_since() -> None:
    code, out = _run("--region", "us-east-1", "logs", "--since", "yesterday")
    assert code == EXIT_USAGE
    assert "--since" in out


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(cli, ["--debug", "--region", "us-east-1", "invoke"])
    assert result.exit_code == EXIT_AWS
    assert "Traceback" in result.output


@click.command("probe")
@click.option("--data")
@click.pass_obj
def _probe(app: App, data: str | None) -> None:
    """What a command sees of the global options."""
    s = app.settings
    click.echo(
        json.dumps(
            {
                "local": s.local,
                "region": s.region,
                "data": data,
                "debug": app.debug,
                "quiet": app.ui.quiet,
                "context": app.ui.context,
            }
        )
    )


_add_late_globals(_probe)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["probe", "--local"], {"local": True, "context": ["--local"]}),
        (["--local", "probe", "--aws"], {"local": False, "context": []}),
        (["probe", "--data", "--local"], {"local": False, "data": "--local"}),
        (["probe", "--data=--debug"], {"data": "--debug", "debug": False}),
        (["probe", "--region=eu-west-1", "-q"], {"region": "eu-west-1", "quiet": True}),
        # One verbosity: --debug wins over -q.
        (["probe", "-q", "--debug"], {"quiet": False, "debug": True}),
        (
            ["--region", "us-east-1", "probe", "--region", "eu-west-1"],
            {"region": "eu-west-1", "context": ["--region", "eu-west-1"]},
        ),
    ],
)
def test_global_options_may_follow_the_command(
    monkeypatch: pytest.MonkeyPatch, args: list[str], expected: dict[str, Any]
) -> None:
    """Parsed by click where they stand: after the command they are that command's (hidden)
    options, so an option's value that looks like a flag stays a value."""
    monkeypatch.setitem(cli.commands, "probe", _probe)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    seen = json.loads(result.output)
    assert {k: seen[k] for k in expected} == expected


def test_global_options_inside_a_command_group(monkeypatch: pytest.MonkeyPatch) -> None:
    group = click.Group("grp", commands={"probe": _probe})
    _add_late_globals(group)
    monkeypatch.setitem(cli.commands, "grp", group)
    result = CliRunner().invoke(cli, ["grp", "--local", "probe", "-q"])
    assert result.exit_code == 0, result.output
    seen = json.loads(result.output)
    assert (seen["local"], seen["quiet"]) == (True, True)
    assert "--local" not in CliRunner().invoke(cli, ["grp", "--help"]).output  # hidden there


def test_negative_calls_are_refused_before_any_aws_call() -> None:
    code, out = _run("invoke", "--calls", "-1")  # no region, no credentials: never reached
    assert code == EXIT_USAGE
    assert "-1" in out


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_a_cost_cap_that_is_not_a_positive_amount_is_refused_before_any_aws_call(
    value: str,
) -> None:
    code, out = _run("invoke", "--max-cost", value)  # no region, no credentials: never reached
    assert code == EXIT_USAGE
    assert "max-cost must be a number of dollars above 0" in out
    assert "hint:" in out


def test_a_cost_cap_on_a_function_without_a_counter_is_refused(endpoint: str) -> None:
    import boto3

    from tests.support.localcloud import make_zip

    iam = boto3.client("iam", endpoint_url=endpoint)
    role = iam.create_role(RoleName="bare-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = boto3.client("lambda", endpoint_url=endpoint)
    lam.create_function(
        FunctionName="bare",
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": make_zip({"handler.py": "def handler(e, c):\n    return 1\n"})},
    )  # deployed by other means: no guard, no chain counter
    code, out = _run("--endpoint-url", endpoint, "invoke", "--name", "bare", "--max-cost", "1")
    assert code == EXIT_USAGE
    assert "bare has no chain counter, so a cost cap cannot be enforced" in out
    assert "deploy --name bare`" in out


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"pyproject.toml": "[tool]\nrecursectl = 5\n"}, ["info"], "must be a table"),
        ({}, ["--endpoint-url", "ht!tp://::::", "info"], "is not an http(s) URL"),
        ({}, ["--endpoint-url", "http://127.0.0.1:abc", "info"], "is not an http(s) URL"),
        ({"recursectl.toml": 'endpoint_url = "ftp://x"\n'}, ["info"], "is not an http(s) URL"),
    ],
)
def test_bad_settings_are_usage_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    code, out = _run(*args)
    assert code == EXIT_USAGE, out
    assert message in out
    assert "hint:" in out


def test_a_state_folder_that_cannot_be_made_is_an_environment_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RECURSECTL_STATE_DIR", str(blocker / "state"))
    code, out = _run("--local", "info")
    assert code == EXIT_AWS, out
    assert str(blocker / "state") in out
    assert "RECURSECTL_STATE_DIR" in out


def test_an_unexpected_error_exits_70_with_and_without_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The one seam a real bug cannot be summoned through: make `info` itself raise.
    from recursectl.deploy import ops

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ops, "info", boom)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    for debug in ([], ["--debug"]):
        result = CliRunner().invoke(cli, [*debug, "--endpoint-url", "http://127.0.0.1:9", "info"])
        assert result.exit_code == 70, result.output
        assert "unexpected RuntimeError: boom" in result.output
