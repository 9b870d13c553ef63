"""Seeing a chain through the real CLI: follow modes, the timeline page, script-friendly output,
logs without the function, and printed hints that work when pasted."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.support.cli import BIN, Cli

pytestmark = pytest.mark.e2e


class Running:
    """A recursectl process in the background whose stderr is read line by line."""

    def __init__(self, cli: Cli, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(BIN / "recursectl"), *args],
            env=cli.env,
            cwd=cli.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.err: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._seen:
                self.err.append(line)
                self._seen.notify_all()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        with self._seen:
            ok = self._seen.wait_for(lambda: any(text in line for line in self.err), timeout)
        assert ok, f"never printed {text!r}: {''.join(self.err)}"

    def wait_for_count(self, text: str, n: int, timeout: float = 60) -> None:
        with self._seen:
            ok = self._seen.wait_for(lambda: sum(text in ln for ln in self.err) >= n, timeout)
        assert ok, f"never printed {text!r} {n} times: {''.join(self.err)}"

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        # Not communicate(): it would read stderr too, racing the reader thread for lines.
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return self.proc.returncode, out, "".join(self.err)


@pytest.fixture
def deployed(local_cloud: Cli, fn_name: str) -> str:
    local_cloud.ok("deploy", "--name", fn_name)
    return fn_name


def _chain(cli: Cli, name: str, calls: int = 1) -> str:
    doc = cli.json("invoke", "--name", name, "--calls", str(calls), "--follow", "--timeout", "60")
    assert doc["complete"] is True
    return str(doc["chain_id"])


def test_logs_html_writes_the_timeline_page_with_lines(
    local_cloud: Cli, deployed: str, tmp_path: Path
) -> None:
    chain_id = _chain(local_cloud, deployed, calls=2)
    page = tmp_path / "chain.html"
    proc = local_cloud.run(
        "logs", "--name", deployed, "--chain", chain_id[:8], "--lines", "--html", str(page)
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # the page is the output: no tree on stdout
    assert f"to {page}" in proc.stderr
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") or html.lower().startswith("<!doctype html>")
    assert chain_id in html
    assert "numberOfCalls: 2" in html  # --lines: the handler's own lines are in the page
    without = tmp_path / "bare.html"
    local_cloud.ok("logs", "--name", deployed, "--chain", chain_id, "--html", str(without))
    assert "numberOfCalls: 2" not in without.read_text(encoding="utf-8")


def test_invoke_sync_stdout_is_exactly_the_payload(local_cloud: Cli, deployed: str) -> None:
    proc = local_cloud.run("invoke", "--name", deployed, "--calls", "0", "--sync")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)  # what `| jq` gets: nothing but the document
    assert isinstance(payload, dict)
    assert "returned ok" in proc.stderr


def test_invoke_follow_lines(local_cloud: Cli, deployed: str) -> None:
    proc = local_cloud.run(
        "invoke", "--name", deployed, "--calls", "1", "--follow", "--lines", "--timeout", "60"
    )
    assert proc.returncode == 0, proc.stderr
    assert "received { numberOfCalls: 1 }" in proc.stdout
    assert "received { numberOfCalls: 0 }" in proc.stdout


def test_follow_with_no_chain_waits_for_the_next_one(local_cloud: Cli, deployed: str) -> None:
    old = _chain(local_cloud, deployed)
    follower = Running(local_cloud, "logs", "--name", deployed, "--follow", "--timeout", "90")
    follower.wait_for(f"waiting for the next chain of {deployed}; Ctrl-C to stop")
    new = local_cloud.json("invoke", "--name", deployed, "--calls", "2")["chain_id"]
    code, out, err = follower.finish()
    assert code == 0, err
    assert f"chain {new}" in out
    assert old not in out
    assert "3 invocations" in out


def test_tail_shows_every_new_chain_as_it_completes(local_cloud: Cli, deployed: str) -> None:
    before = _chain(local_cloud, deployed)
    # --timeout bounds the test; a user stops --tail with Ctrl-C.
    tail = Running(local_cloud, "logs", "--name", deployed, "--tail", "--timeout", "45")
    tail.wait_for(f"following every new chain of {deployed}")
    first = _chain(local_cloud, deployed)
    second = _chain(local_cloud, deployed, calls=2)
    code, out, err = tail.finish()
    assert code == 0, err
    assert before not in out  # complete before --tail began: not shown again
    assert out.index(f"chain {first}") < out.index(f"chain {second}")
    assert out.count(f"chain {first}") == 1


def test_logs_of_a_destroyed_function_with_kept_logs(local_cloud: Cli, deployed: str) -> None:
    chain_id = _chain(local_cloud, deployed, calls=2)
    local_cloud.ok("destroy", "--name", deployed, "--keep-logs", "--yes")
    out = local_cloud.ok("logs", "--name", deployed)  # reads /aws/lambda/NAME directly
    assert f"chain {chain_id}" in out
    other = local_cloud.ok("logs", "--name", "anything", "--log-group", f"/aws/lambda/{deployed}")
    assert f"chain {chain_id}" in other
    missing = local_cloud.run("logs", "--name", f"{deployed}-never")
    assert missing.returncode == 4  # neither the function nor its log group


_HINT = re.compile(r"(?:`|^\s+|: )(recursectl [^`\n]+?)(?:`|$)", re.M)


def _hints(text: str) -> list[str]:
    return [m.group(1).strip() for m in _HINT.finditer(text)]


def test_printed_hints_work_when_pasted(local_cloud: Cli, fn_name: str) -> None:
    """Run with --local (not the environment variable), paste every next step printed."""
    env = {k: v for k, v in local_cloud.env.items() if k != "RECURSECTL_LOCAL"}
    env.pop("AWS_REGION", None)
    env.pop("AWS_DEFAULT_REGION", None)

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "recursectl"), *args],
            env=env,
            cwd=local_cloud.cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    # Without --local and with no region, the first error says how to use the local cloud.
    bare = run(["info", "--name", fn_name])
    assert bare.returncode == 3, bare.stderr
    assert "--local" in bare.stderr

    missing = run(["--local", "info", "--name", fn_name])
    assert missing.returncode == 4
    pasted: list[str] = []
    steps = _hints(missing.stderr)
    assert steps == [f"recursectl --local deploy --name {fn_name}"]
    for step in steps:  # deploys the function the hint was about
        assert run(shlex.split(step)[1:]).returncode == 0
        pasted.append(step)

    def paste(output: str) -> None:
        steps = _hints(output)
        assert steps, output
        for step in steps:
            assert step.startswith("recursectl --local "), step
            proc = run(shlex.split(step)[1:])
            assert proc.returncode == 0, f"{step} -> {proc.returncode}\n{proc.stderr}"
            pasted.append(step)

    started = run(["--local", "invoke", "--name", fn_name, "--calls", "1"])
    assert started.returncode == 0, started.stderr
    paste(started.stderr)  # follows the chain it started, to its end
    stopped = run(["--local", "stop", "--name", fn_name])
    assert stopped.returncode == 0, stopped.stderr
    refused = run(["--local", "invoke", "--name", fn_name])
    assert refused.returncode == 6
    paste(stopped.stderr)
    paste(refused.stderr)
    assert any(" logs --follow --chain " in s for s in pasted)
    assert any(" resume --name " in s for s in pasted)


def test_ctrl_c_prints_the_tree_so_far_and_how_to_stop(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    # A module name: deploy refuses file names that Python cannot import (e2e-xxxx.py). Not in
    # the session's shared folder: a deploy there with no --handler would find this handler.
    handler = tmp_path / f"{fn_name.replace('-', '_')}.py"
    handler.write_text(
        "import time\n"
        "import recursectl_chain\n\n"
        "def handler(event, context):\n"
        "    chain = recursectl_chain.begin(event, context)\n"
        "    calls = int(event.get('numberOfCalls', 0))\n"
        "    time.sleep(0.5)\n"
        "    if calls > 0:\n"
        "        chain.invoke_self({'numberOfCalls': calls - 1})\n"
        "    return calls\n"
    )
    local_cloud.ok("deploy", "--name", fn_name, "--handler", str(handler), "--max-calls", "60")
    chain_id = local_cloud.json("invoke", "--name", fn_name, "--calls", "50")["chain_id"]
    for _ in range(120):  # bounded: until the chain is seen running (about 1 s)
        proc = local_cloud.run("logs", "--name", fn_name, "--chain", chain_id, "--json")
        if proc.stdout and len(json.loads(proc.stdout)["invocations"]) >= 2:
            break
    # --debug names every AWS call: a read starts after the one before returned the chain.
    follower = Running(
        local_cloud, "--debug", "logs", "--name", fn_name, "--follow", "--chain", chain_id,
        "--timeout", "120",
    )  # fmt: skip
    try:
        follower.wait_for_count("aws: logs.FilterLogEvents", 3)  # the anchor, then 2 reads
        follower.proc.send_signal(signal.SIGINT)
        code, out, err = follower.finish()
    finally:
        local_cloud.run("stop", "--name", fn_name)  # the chain would run on for 25 s
    assert code == 130, f"stdout:\n{out}\nstderr:\n{err}"
    assert f"chain {chain_id}" in out, err  # the tree so far
    assert "may still be running" in err, out
    assert f"`recursectl --local stop --name {fn_name}` stops it" in err
