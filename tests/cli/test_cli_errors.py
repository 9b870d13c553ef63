"""Errors through the real click entry point: one line, a hint, the documented exit code."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from recursectl.cli import cli
from recursectl.errors import EXIT_AWS, EXIT_NOT_FOUND, EXIT_USAGE


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _run("invoke")
    assert code == EXIT_USAGE
    assert "No AWS region" in out


def test_unknown_profile() -> None:
    code, out = _run("--profile", "nobody", "--region", "us-east-1", "invoke")
    assert code == EXIT_USAGE
    assert "nobody" in out


def test_function_not_found(endpoint: str) -> None:
    code, out = _run("--endpoint-url", endpoint, "invoke", "--name", "ghost")
    assert code == EXIT_NOT_FOUND
    assert "'ghost' does not exist" in out
    assert "recursectl deploy" in out


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
