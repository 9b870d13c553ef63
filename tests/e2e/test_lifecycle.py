"""The local cloud's lifecycle and Ctrl-C, through the real executable."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.support.cli import BIN, Cli, free_port, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_cloud(local_cloud: Cli, tmp_path: Path) -> Cli:
    """A second, private local cloud (same environment, other port and state directory)."""
    env = dict(local_cloud.env)
    port = free_port()
    env.update(RECURSECTL_LOCAL_PORT=str(port), RECURSECTL_STATE_DIR=str(tmp_path / "state"))
    return Cli(env=env, port=port, cwd=tmp_path)


def _descendants(pid: int) -> list[int]:
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_start_reuses_and_stop_leaves_no_process(own_cloud: Cli, fn_name: str) -> None:
    own_cloud.ok("local", "start")
    first = json.loads(own_cloud.ok("local", "status", "--json"))
    own_cloud.ok("local", "start")  # a second start reuses the running one
    second = json.loads(own_cloud.ok("local", "status", "--json"))
    assert first["pid"] == second["pid"]

    own_cloud.ok("deploy", "--name", fn_name)
    own_cloud.ok("invoke", "--name", fn_name, "--calls", "2", "--follow", "--timeout", "60")
    pids = [first["pid"], *_descendants(first["pid"])]
    assert len(pids) > 1  # the daemon and its worker processes

    own_cloud.ok("local", "stop")
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in pids if _alive(p)] == []
    assert "No local cloud is running" in own_cloud.run("local", "status").stderr


def test_port_in_use_is_a_clear_error(own_cloud: Cli) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", own_cloud.port))
        squatter.listen()
        proc = own_cloud.run("local", "start")
    assert proc.returncode != 0
    assert str(own_cloud.port) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "--port" in proc.stderr


def test_ctrl_c_during_follow_prints_the_tree_so_far(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text(
        "import time\nimport recursectl_chain\n\n"
        "def handler(event, context):\n"
        "    chain = recursectl_chain.begin(event, context)\n"
        "    time.sleep(0.2)\n"
        "    if event['numberOfCalls'] > 0:\n"
        "        chain.invoke_self({'numberOfCalls': event['numberOfCalls'] - 1})\n"
    )
    local_cloud.ok("deploy", "--name", fn_name, "--handler", str(handler), "--max-calls", "40")
    proc = subprocess.Popen(
        [str(BIN / "recursectl"), "invoke", "--name", fn_name, "--calls", "40", "--follow"],
        env=local_cloud.env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Interrupt mid-chain: once the second hop has reported, with many to go.
        wait_until("two invocations", lambda: len(local_cloud.invocations(fn_name)) >= 2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        local_cloud.run("stop", "--name", fn_name)  # don't leave the chain running
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "in progress" in out, err  # the tree so far, with its summary
    assert "invocations" in out
