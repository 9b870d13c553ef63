"""Running the real `recursectl` executable (and the AWS CLI) as a subprocess against a local
cloud: the e2e tier's helpers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from recursectl import nodejs

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cli:
    """Runs recursectl (and the AWS CLI) against one local cloud."""

    env: dict[str, str]
    port: int
    cwd: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(
        self,
        *args: str,
        timeout: float = 120,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "recursectl"), *args],
            env=self.env,
            cwd=cwd or self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, timeout: float = 120, cwd: Path | None = None) -> str:
        proc = self.run(*args, timeout=timeout, cwd=cwd)
        assert proc.returncode == 0, f"{args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def json(self, *args: str, timeout: float = 120) -> Any:
        return json.loads(self.ok(*args, "--json", timeout=timeout))

    def invocations(self, name: str, chain: str | None = None) -> list[dict[str, Any]]:
        """The invocations `recursectl logs --json` shows now (the latest chain, or `chain`)."""
        args = ["logs", "--name", name, "--json", *(["--chain", chain] if chain else [])]
        proc = self.run(*args, timeout=60)
        if not proc.stdout.strip():
            return []
        doc = json.loads(proc.stdout)
        return list(doc.get("invocations", []))

    def aws(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "aws"), "--endpoint-url", self.endpoint, "--region", "us-east-1", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def wait_until(what: str, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll `condition` (bounded) instead of sleeping a fixed time; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def start_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """A local cloud on a free port, with its own state directory, stopped at the end."""
    state = tmp_path_factory.mktemp("state")
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RECURSECTL_"))}
    env.update(
        HOME=str(home),
        RECURSECTL_LOCAL="1",
        RECURSECTL_LOCAL_PORT=str(free_port()),
        RECURSECTL_STATE_DIR=str(state),
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_EC2_METADATA_DISABLED="true",
        NO_COLOR="1",
        # The machine's Node runtime client (built once per machine), not one per HOME.
        RECURSECTL_NODE_CACHE=str(nodejs.cache_root()),
    )
    cli = Cli(env=env, port=int(env["RECURSECTL_LOCAL_PORT"]), cwd=Path(home))
    cli.ok("local", "start")
    try:
        yield cli
    finally:
        cli.run("local", "stop")
