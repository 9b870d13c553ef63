"""A real front door (real HTTP on loopback, moto behind it) for functional tests."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from recursectl.local.server import serve_in_thread


@pytest.fixture(scope="session")
def _front_door() -> Iterator[str]:
    url, server = serve_in_thread()
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(_front_door: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The endpoint URL of a fresh local cloud (moto's state is reset after each test)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield _front_door
    request = urllib.request.Request(f"{_front_door}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10):
        pass
