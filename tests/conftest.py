"""Shared fixtures."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test may see the developer's AWS config, credentials or recursectl variables."""
    for key in list(os.environ):
        if key.startswith(("AWS_", "RECURSECTL_")) or key == "NO_COLOR":
            monkeypatch.delenv(key, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    # Never fall back to EC2 instance metadata (a network call) when looking for credentials.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def node_ready() -> None:
    """The Node runtime client and the runtime's SDK, built once per machine into its cache;
    the test skips where node or npm is missing."""
    import shutil

    from recursectl import nodejs

    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not on PATH")
    tc = nodejs.toolchain()
    nodejs.ensure_ric(tc)
    nodejs.ensure_sdk(tc)
