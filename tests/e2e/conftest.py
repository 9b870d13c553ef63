"""End-to-end: the real `recursectl` executable as a subprocess against a real local cloud."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import BIN, Cli, free_port, start_cloud, wait_until


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """One local cloud for the e2e session, on a free port, with its own state directory."""
    yield from start_cloud(tmp_path_factory)


@pytest.fixture
def fn_name() -> str:
    """A fresh function name per test, so tests never see each other's chains."""
    return f"e2e-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """moto's own server (`moto_server`, an AWS implementation nobody here wrote) on a free
    loopback port, as a second endpoint for the AWS path: recursectl reaches it as it reaches
    AWS, through AWS_ENDPOINT_URL. Its Lambda runs no code (no Docker): the moto-api switch
    `use_docker: false` makes Invoke answer without running anything."""
    import urllib.request

    home = tmp_path_factory.mktemp("moto-home")
    port = free_port()
    log = (home / "moto_server.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RECURSECTL_"))}
    env.update(
        HOME=str(home),
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_EC2_METADATA_DISABLED="true",
        RECURSECTL_STATE_DIR=str(home / "state"),
        NO_COLOR="1",
    )
    cli = Cli(env=env, port=port, cwd=Path(home))

    def config_accepted() -> bool:
        request = urllib.request.Request(
            f"{cli.endpoint}/moto-api/config",
            data=json.dumps({"lambda": {"use_docker": False}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return bool(200 <= response.status < 300)
        except OSError:
            assert proc.poll() is None, "moto_server exited"
            return False

    try:
        wait_until("moto_server to answer", config_accepted, timeout=30)
        yield cli
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
