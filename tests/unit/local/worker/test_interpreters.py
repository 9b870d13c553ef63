"""The declared-runtime cache: its SDK links follow the environment that uses them."""

from __future__ import annotations

import os
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
