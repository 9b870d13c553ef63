"""The real front door (real HTTP on loopback, moto and real workers behind it) as fixtures,
registered once from the root conftest: the functional and CLI tiers both use it."""

from __future__ import annotations

from collections.abc import Iterator

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
