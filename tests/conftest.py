"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.seed import SEED_HANDLERS

# Fixtures more than one tier uses (the functional and CLI tiers' real front door).
pytest_plugins = ["tests.support.frontdoor"]


@pytest.fixture(scope="session")
def _aws_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One empty folder for every test's AWS config and credentials paths. (A folder per test
    cost ~0.2 s over the unit tier: pytest numbers each new one by listing the base folder.)"""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, _aws_home: Path) -> Iterator[None]:
    """No test may see the developer's AWS config, credentials or recursectl variables."""
    for key in list(os.environ):
        if key.startswith(("AWS_", "RECURSECTL_")) or key == "NO_COLOR":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(_aws_home / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(_aws_home / "credentials"))
    # Never fall back to EC2 instance metadata (a network call) when looking for credentials.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield
    # The folder is shared, so nothing may be left in it (a test that needs a config sets its own).
    assert not any(_aws_home.iterdir()), f"a test wrote into the shared AWS home {_aws_home}"


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


@pytest.fixture(params=sorted(SEED_HANDLERS))
def seed_js(request: pytest.FixtureRequest) -> Path:
    """A seed-style handler.js (export `recursiveExample`, counter `numberOfCalls`): the
    project's example, and the original seed when ../shared/ is there (skipped otherwise)."""
    path = SEED_HANDLERS[request.param]
    if not path.is_file():
        pytest.skip(f"{path} is not there (../shared/ is not beside the repository)")
    return path
