"""The live view in a real terminal: tmux at 80x24, the screen and its scrollback captured.

A tree taller than the screen must not leave stale frames behind ("chain ... in progress"
pieces in the scrollback), and the final tree is printed exactly once.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.support.cli import BIN, Cli

pytestmark = pytest.mark.e2e

TMUX = shutil.which("tmux")
WIDTH, HEIGHT = 80, 24


def _tmux(*args: str) -> str:
    assert TMUX is not None
    proc = subprocess.run([TMUX, *args], capture_output=True, text=True, timeout=30, check=True)
    return proc.stdout


@pytest.mark.skipif(
    TMUX is None, reason="tmux is not installed (scripts/ensure-tools installs it as root)"
)
def test_live_view_at_80x24_leaves_one_final_tree(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    local_cloud.ok("deploy", "--name", fn_name)
    done = tmp_path / "exit-code"
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in local_cloud.env.items())
    # 1 + 5 + 25 = 31 invocations: taller than the 24-row screen while it runs.
    command = (
        f"cd {shlex.quote(str(local_cloud.cwd))} && env -i {env} TERM=xterm-256color "
        f"{shlex.quote(str(BIN / 'recursectl'))} invoke --name {fn_name} --calls 2 --fanout 5 "
        f"--follow --timeout 90; echo $? > {shlex.quote(str(done))}; sleep 600"
    )
    session = f"recursectl-{uuid.uuid4().hex[:8]}"
    _tmux("new-session", "-d", "-s", session, "-x", str(WIDTH), "-y", str(HEIGHT), command)
    try:
        for _ in range(240):  # bounded: 120 s
            if done.exists() and done.read_text().strip():
                break
            time.sleep(0.5)
        assert done.exists(), _tmux("capture-pane", "-p", "-t", session)
        history = _tmux("capture-pane", "-p", "-J", "-S", "-", "-t", session)
    finally:
        _tmux("kill-session", "-t", session)
    assert done.read_text().strip() == "0", history
    assert "in progress" not in history  # no frame of the live view was left behind
    titles = [line for line in history.splitlines() if line.startswith("chain ")]
    assert len(titles) == 1, history  # the final tree, printed once
    assert "complete" in titles[0]
    assert "31 invocations" in history
    screen = _tmux_lines(history)
    assert all(len(line) <= WIDTH for line in screen), history


def _tmux_lines(history: str) -> list[str]:
    # capture-pane -J joins wrapped lines: a joined line longer than the width was cut or
    # wrapped by the terminal, not laid out by recursectl.
    return [line.rstrip() for line in history.splitlines()]
