"""The declared-runtime cache: its SDK links follow the environment that uses them, and its
runtime client is installed as locked."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

from recursectl.local.worker import interpreters, sandbox


def test_links_left_by_a_removed_environment_are_re_pointed(tmp_path: Path) -> None:
    site = tmp_path / "python3.12-ric"
    site.mkdir()
    (site / "boto3").symlink_to(tmp_path / "gone" / "boto3", target_is_directory=True)
    (site / "botocore").mkdir()  # a real install is left alone
    interpreters._link_sdk(site)
    boto3 = sandbox.origin("boto3")
    assert boto3 is not None
    assert os.readlink(site / "boto3") == str(boto3)
    assert (site / "boto3" / "__init__.py").is_file()
    assert not (site / "botocore").is_symlink()
    assert sorted(p.name for p in site.iterdir() if p.name.startswith(".")) == []


def test_the_runtime_client_is_installed_pinned_and_from_wheels_only(tmp_path: Path) -> None:
    command = interpreters.pip_install("/usr/bin/python3.12", tmp_path)
    assert command[:4] == ["/usr/bin/python3.12", "-m", "pip", "install"]
    assert "--only-binary=:all:" in command
    assert "--no-deps" in command
    assert command[command.index("--target") + 1] == str(tmp_path)
    pins = [arg for arg in command if "==" in arg]
    assert pins == [f"{d}=={metadata.version(d)}" for d in interpreters.RIC_DISTS]
