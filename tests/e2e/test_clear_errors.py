"""Bad state and odd terminals through the real executable: a garbled or empty control token,
a full disk at start, a stdout that cannot encode recursectl's symbols. Each is a clear
one-line error with the file and the remedy (exit 2 or 3), or output that degrades."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Cli, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_cloud(local_cloud: Cli, tmp_path: Path) -> Iterator[Cli]:
    env = dict(local_cloud.env)
    port = free_port()
    env.update(RECURSECTL_LOCAL_PORT=str(port), RECURSECTL_STATE_DIR=str(tmp_path / "state"))
    cli = Cli(env=env, port=port, cwd=tmp_path)
    try:
        yield cli
    finally:
        cli.run("local", "stop")


def _clear(proc: subprocess.CompletedProcess[str], code: int, *says: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "this is a bug" not in proc.stderr
    for text in says:
        assert text in proc.stderr, proc.stderr


# Fixed bytes (not os.urandom at collection: pytest-xdist's workers must collect the same ids).
GARBLED = bytes(range(256))[::5] + b"\xff\xfe\x00\x80"


@pytest.mark.parametrize(
    "content",
    [GARBLED, b"", b"not-the-token-of-this-cloud\n"],
    ids=["garbled", "empty", "foreign"],
)
def test_a_garbled_empty_or_wrong_token_is_a_clear_error(own_cloud: Cli, content: bytes) -> None:
    own_cloud.ok("local", "start")
    token = Path(own_cloud.env["RECURSECTL_STATE_DIR"]) / f"local-{own_cloud.port}.token"
    token.write_bytes(content)
    _clear(own_cloud.run("local", "status"), 3, str(token), "local stop", "local start")
    # The remedy works: stop finds the local cloud by its pid, start writes a new token.
    stopped = own_cloud.run("local", "stop", timeout=30)
    assert stopped.returncode == 0, stopped.stderr
    own_cloud.ok("local", "start")
    assert "Local cloud at" in own_cloud.ok("local", "status")


def _mount_tmpfs(where: Path, size: str) -> bool:
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def test_a_full_disk_at_start_is_a_clear_error(own_cloud: Cli, tmp_path: Path) -> None:
    state = tmp_path / "small-disk"
    if not _mount_tmpfs(state, "256k"):
        pytest.skip("no small tmpfs here (needs root and mount); tests/unit simulates ENOSPC")
    try:
        with contextlib.suppress(OSError), open(state / "filler", "wb") as filler:
            while True:  # fill it to the last block
                filler.write(b"\0" * 4096)
                filler.flush()
        own_cloud.env["RECURSECTL_STATE_DIR"] = str(state)
        proc = own_cloud.run("local", "start")
        _clear(proc, 3, str(state), "full", "free some space")
        assert "(empty log)" not in proc.stderr
    finally:
        subprocess.run(["umount", "-l", str(state)], capture_output=True, check=False)


def test_an_ascii_only_stdout_degrades_instead_of_failing(local_cloud: Cli) -> None:
    name = f"ascii-{uuid.uuid4().hex[:8]}"
    local_cloud.ok("deploy", "--name", name)
    local_cloud.ok("invoke", "--name", name, "--calls", "1", "--follow", "--timeout", "60")
    env = {**local_cloud.env, "PYTHONIOENCODING": "ascii"}
    ascii_cli = Cli(env=env, port=local_cloud.port, cwd=local_cloud.cwd)
    for args in (("local", "status"), ("info", "--name", name), ("logs", "--name", name)):
        proc = ascii_cli.run(*args)
        assert proc.returncode == 0, (args, proc.stderr)
        proc.stdout.encode("ascii")  # nothing it could not write
    status = ascii_cli.run("local", "status").stdout
    assert "Invocations" in status
    assert " - errors " in status
    assert "~ $" in ascii_cli.run("info", "--name", name).stdout  # "≈" became "~"
