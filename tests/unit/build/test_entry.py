"""build(settings): the package decided and made from the settings, without click or a
terminal (what a person should see arrives through the callbacks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recursectl.build.entry import build
from recursectl.errors import UsageError
from recursectl.settings import Settings

HANDLER = "def handler(event, context):\n    return event\n"


def _project(tmp_path: Path, toml: str = 'name = "demo"\n') -> Settings:
    (tmp_path / "handler.py").write_text(HANDLER)
    (tmp_path / "recursectl.toml").write_text(toml)
    return Settings(name="demo", config_path=tmp_path / "recursectl.toml", project_dir=tmp_path)


def test_a_discovered_python_handler_is_named_in_the_settings_and_the_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    said: list[str] = []
    warned: list[str] = []
    built = build(_project(tmp_path), info=said.append, warn=warned.append)
    assert built.settings.handler == "handler.py"
    assert built.node is False
    assert built.note is not None
    assert "found in this folder" in built.note
    assert built.package.handler.endswith("handler")
    assert [f.path for f in built.package.listing if f.origin == "source"] == ["handler.py"]
    assert any(line.startswith("Packaged handler") for line in said)
    assert warned == []
    assert built.statements == ()


def test_quiet_says_nothing_and_builds_the_same_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    said: list[str] = []
    loud = build(_project(tmp_path))
    quiet = build(_project(tmp_path), quiet=True, info=said.append)
    assert said == []
    assert quiet.package.code_sha256 == loud.package.code_sha256


def test_a_missing_iam_policy_file_is_refused_before_packaging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    said: list[str] = []
    settings = _project(tmp_path).with_overrides(iam_policy_file="policy.json")
    with pytest.raises(UsageError) as info:
        build(settings, info=said.append)
    assert "IAM policy file policy.json does not exist" in info.value.message
    assert said == []  # nothing was packaged


def test_the_iam_policy_file_statements_come_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policy.json").write_text(
        '{"Version": "2012-10-17", "Statement": '
        '[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}'
    )
    settings = _project(tmp_path).with_overrides(iam_policy_file="policy.json")
    built = build(settings)
    assert built.statements == ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},)
