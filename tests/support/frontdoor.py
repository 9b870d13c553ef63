"""The real front door (real HTTP on loopback, moto and real workers behind it) as fixtures,
registered once from the root conftest: the functional and CLI tiers both use it; and
`record_dir`, where their handlers note what they did."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.localcloud import SERVERS, TOKENS, control


@pytest.fixture(scope="session")
def _front_door() -> Iterator[str]:
    # Imported here: every tier loads this plugin, and the unit tier needs no front door.
    from recursectl.local.engine.executor import Limits
    from recursectl.local.frontdoor.server import serve_in_thread, stop_server

    # Short retry delays keep async-retry tests fast (AWS waits minutes).
    url, server = serve_in_thread(limits=Limits(retry_delays=(0.05, 0.05), idle_timeout=60))
    TOKENS[url] = server.door.token
    SERVERS[url] = server
    yield url
    stop_server(server)


@pytest.fixture
def endpoint(_front_door: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The endpoint URL of a fresh local cloud (state and workers are reset before and after
    each test: moto's backends are process globals, which a test's own front door, such as
    the persistence tests', shares)."""
    control(_front_door, "/moto-api/reset", method="POST")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield _front_door
    control(_front_door, "/moto-api/reset", method="POST")


@pytest.fixture
def record_dir() -> Iterator[Path]:
    """A folder a test's handlers write what they did to, for the test to read: in /dev/shm,
    as the workers' /tmp is each their own; writable by the unprivileged user they run as."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    folder = Path(tempfile.mkdtemp(prefix="recursectl-records-", dir=base))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
