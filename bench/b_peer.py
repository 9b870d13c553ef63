"""Metric 9: side by side with the peer, serverless-offline, on the same Node.js handler.

The peer is npm `serverless@3` with `serverless-offline@13` (serverless v4 needs a login, and
serverless-offline 14 needs v4), installed by the bench into recursectl's cache
(`<cache>/bench-peer/`), with the Serverless Framework's telemetry and notifications and npm's
update notifier off. When npm cannot install it, the rows say so and are skipped.

Both run one handler, the seed's self-invoke through the runtime's SDK v3 plus a fan-out
(`fanout` copies of each Invoke) and a fault switch, that logs `PEERHOP {"run", "n", "t"}` on
entry (t: `performance.timeOrigin + performance.now()`, epoch ms with microseconds). Hop latency =
t(child) - t(parent) over a 200-hop chain, and on recursectl again without the counter; fan-out
throughput = invocations of a `fanout 4, depth 5` tree (1,365) over first to last entry;
RSS = the emulator's whole process tree (workers included) after the fan-out; fault = an async
hop that throws: is the error shown at that hop, and does the emulator still answer?
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.harness import Row, median, percentile, verdict
from recursectl import nodejs

PEER_SPECS = ("serverless@3", "serverless-offline@13")
NAME = "bench-peer"
HANDLER = """'use strict';
const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');
const lambda = new LambdaClient({});
exports.hop = async (event, context) => {
  const n = event.numberOfCalls;
  // Microseconds: the same clock as Date.now(), not rounded to the millisecond.
  const t = performance.timeOrigin + performance.now();
  console.log('PEERHOP ' + JSON.stringify({ run: event.run, n, t }));
  if (event.boom === n) throw new Error('boom at ' + n);
  if (n > 0) {
    const payload = JSON.stringify({ ...event, numberOfCalls: n - 1 });
    await Promise.all(Array.from({ length: event.fanout || 1 }, () => lambda.send(
      new InvokeCommand({ FunctionName: context.functionName, InvocationType: 'Event',
        Payload: payload }))));
  }
  return 'ok';
};
"""
_HOP = re.compile(r"PEERHOP (\{[^}]*\})")
_QUIET = {
    "SLS_TELEMETRY_DISABLED": "1",
    "SLS_TRACKING_DISABLED": "1",
    "SLS_NOTIFICATIONS_MODE": "off",
    "SLS_DEPRECATION_DISABLE": "*",
    "SERVERLESS_PLATFORM_STAGE": "",
    "NO_UPDATE_NOTIFIER": "1",
    "npm_config_update_notifier": "false",
    "npm_config_fund": "false",
    "npm_config_audit": "false",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and all its descendants, in MB."""
    from recursectl.local.worker.spawn import descendants

    total = 0
    for each in {pid, *descendants(pid)}:
        with (
            contextlib.suppress(OSError, ValueError, IndexError),
            open(f"/proc/{each}/status", encoding="ascii") as status,
        ):
            for line in status:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def install_peer() -> Path:
    """The peer's node_modules folder, installed once into the cache (RuntimeError if not)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("node and npm are not on PATH")
    dest = nodejs.cache_root() / "bench-peer" / "sls3-offline13"
    binary = dest / "node_modules" / "serverless" / "bin" / "serverless.js"
    if binary.is_file():
        return dest
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "package.json").write_text('{"private": true}\n')
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--no-update-notifier", *PEER_SPECS],
        cwd=tmp, env={**os.environ, **_QUIET}, capture_output=True, text=True, timeout=1200,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        raise RuntimeError(f"npm could not install {' '.join(PEER_SPECS)}: {' '.join(tail)}")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest


@dataclass
class Peer:
    """serverless-offline serving the handler; its output is the log."""

    proc: subprocess.Popen[str]
    port: int
    out: Path
    function: str = f"{NAME}-dev-hop"

    def invoke(self, event: dict[str, Any], sync: bool = False) -> int:
        url = f"http://127.0.0.1:{self.port}/2015-03-31/functions/{self.function}/invocations"
        request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
        request.add_header("X-Amz-Invocation-Type", "RequestResponse" if sync else "Event")
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)

    def hops(self, run: str) -> list[dict[str, Any]]:
        text = self.out.read_text(errors="replace")
        found = (json.loads(m.group(1)) for m in _HOP.finditer(text))
        return [h for h in found if h.get("run") == run]


@contextlib.contextmanager
def peer(folder: Path, sdk: Path) -> Iterator[Peer]:
    work = Path(tempfile.mkdtemp(prefix="recursectl-peer-"))
    port = _free_port()
    (work / "handler.js").write_text(HANDLER)
    # The runtime's SDK, as the handler's own node_modules (serverless-offline's workers do
    # not see NODE_PATH).
    (work / "node_modules").symlink_to(sdk, target_is_directory=True)
    (work / "serverless.yml").write_text(
        f"service: {NAME}\nframeworkVersion: '3'\n"
        "provider:\n  name: aws\n  runtime: nodejs20.x\n  region: us-east-1\n"
        f"  environment:\n    AWS_ENDPOINT_URL: http://127.0.0.1:{port}\n"
        '    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true"\n'
        "functions:\n  hop:\n    handler: handler.hop\n    timeout: 30\n"
        "plugins:\n  - serverless-offline\n"
    )
    out = work / "offline.log"
    env = {**os.environ, **_QUIET, "NODE_PATH": str(sdk), "AWS_ACCESS_KEY_ID": "test"}
    env.update(AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1", HOME=str(work))
    args = [
        shutil.which("node") or "node",
        str(folder / "node_modules" / "serverless" / "bin" / "serverless.js"),
        "offline", "start", "--lambdaPort", str(port), "--httpPort", str(_free_port()),
        "--websocketPort", str(_free_port()), "--albPort", str(_free_port()),
        "--noPrependStageInUrl",
    ]  # fmt: skip
    with open(out, "w") as sink:
        proc = subprocess.Popen(
            args, cwd=work, env=env, stdout=sink, stderr=subprocess.STDOUT, text=True
        )
    running = Peer(proc, port, out)
    try:
        deadline = time.monotonic() + 240  # serverless v3 starts in ~60 s on a busy machine
        while "Offline [http for lambda] listening" not in out.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serverless-offline did not start: {out.read_text()[-500:]}")
            time.sleep(0.2)
        yield running
    finally:
        proc.kill()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def _wait(read: Any, run: str, count: int, timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        hops: list[dict[str, Any]] = read(run)
        if len(hops) >= count or time.monotonic() > deadline:
            return hops
        time.sleep(0.1)


def _hop_ms(hops: list[dict[str, Any]]) -> list[float]:
    """t(child) - t(parent) along a linear chain (n counts down)."""
    by_n = {h["n"]: h["t"] for h in hops}
    return [float(by_n[n - 1] - by_n[n]) for n in by_n if n - 1 in by_n]


def _rate(hops: list[dict[str, Any]]) -> float:
    span = (max(h["t"] for h in hops) - min(h["t"] for h in hops)) / 1000
    return len(hops) / span if span > 0 else float("nan")


@dataclass
class Side:
    hops: list[float]
    rate: float
    rss_mb: float
    survived: bool
    split_hops: list[float] | None = None  # recursectl without the counter
    where: list[Row] | None = None  # recursectl: where a Node hop's time goes
    tree_seen: int = 0  # invocations of the fan-out tree seen before the wait ended


def measure(invoke: Any, read: Any, rss: Any, hops_n: int, fan: int, depth: int) -> Side:
    stamp = str(time.time_ns())
    invoke({"run": f"w{stamp}", "numberOfCalls": 3})
    _wait(read, f"w{stamp}", 4, 60)
    invoke({"run": f"c{stamp}", "numberOfCalls": hops_n})
    chain = _wait(read, f"c{stamp}", hops_n + 1, 60 + hops_n * 0.5)
    total = sum(fan**d for d in range(depth + 1))
    invoke({"run": f"f{stamp}", "numberOfCalls": depth, "fanout": fan})
    tree = _wait(read, f"f{stamp}", total, 120 + total * 0.2)
    memory = rss()
    survived = True
    try:
        invoke({"run": f"b{stamp}", "numberOfCalls": 2, "boom": 1})
        time.sleep(2)
        invoke({"run": f"a{stamp}", "numberOfCalls": 0})
        survived = len(_wait(read, f"a{stamp}", 1, 20)) == 1
    except OSError:
        survived = False
    if len(chain) < hops_n + 1:
        raise RuntimeError(f"incomplete: chain {len(chain)}/{hops_n + 1}")
    # A tree that did not complete in time has no rate (n/a), and the hops still count.
    rate = _rate(tree) if len(tree) >= total else float("nan")
    return Side(_hop_ms(chain), rate, memory, survived, tree_seen=len(tree))


def _ours(ctx: Context, hops_n: int, fan: int, depth: int) -> Side:
    from recursectl.build import node
    from recursectl.deploy.apply import deploy
    from recursectl.settings import Settings

    cloud = ctx.cloud
    folder = Path(tempfile.mkdtemp(prefix="recursectl-peer-ours-"))
    (folder / "handler.js").write_text(HANDLER)
    settings = Settings(
        name=NAME, max_calls=100_000, max_invocations=1_000_000, timeout=30, local=True,
        region="us-east-1", runtime="nodejs22.x",
    )  # fmt: skip
    pkg = node.build(node.parse_handler("handler.js:hop", folder), "nodejs22.x")
    deploy(cloud.aws, settings, pkg)
    # Each run's events are read from its own start: one FilterLogEvents over every run's
    # (over 10,000 events) came back short.
    since = {"ms": 0}

    def invoke(event: dict[str, Any]) -> None:
        since["ms"] = int(time.time() * 1000) - 1000
        if event.get("fanout"):
            event = {**event, "_recursectl": {"split": event["fanout"]}}
        cloud.invoke(NAME, event)

    def read(run: str) -> list[dict[str, Any]]:
        events = cloud.events(f"/aws/lambda/{NAME}", since["ms"])
        found = (_HOP.search(e["message"]) for e in events)
        hops = (json.loads(m.group(1)) for m in found if m)
        return [h for h in hops if h.get("run") == run]

    try:
        side = measure(invoke, read, lambda: _tree_rss_mb(os.getpid()), hops_n, fan, depth)
        side.where = _where(invoke, read, hops_n, "counter")
        side.split_hops = _without_counter(ctx, invoke, read, hops_n)
        side.where += _where(invoke, read, hops_n, "no counter")
        return side
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _without_counter(ctx: Context, invoke: Any, read: Any, hops_n: int) -> list[float]:
    """The same chain with RECURSECTL_COUNTER_TABLE removed (the guard's split rule): what
    the exact budget's counter adds to a Node hop, beside the peer (which has no budget)."""
    lam = ctx.cloud.aws.lambda_
    env = lam.get_function_configuration(FunctionName=NAME)["Environment"]["Variables"]
    env.pop("RECURSECTL_COUNTER_TABLE", None)
    lam.update_function_configuration(FunctionName=NAME, Environment={"Variables": env})
    lam.get_waiter("function_updated_v2").wait(FunctionName=NAME)
    stamp = str(time.time_ns())
    invoke({"run": f"sw{stamp}", "numberOfCalls": 3})  # new environments: warm them
    _wait(read, f"sw{stamp}", 4, 60)
    invoke({"run": f"s{stamp}", "numberOfCalls": hops_n})
    chain = _wait(read, f"s{stamp}", hops_n + 1, 60 + hops_n * 0.5)
    if len(chain) < hops_n + 1:
        raise RuntimeError(f"incomplete: chain without the counter {len(chain)}/{hops_n + 1}")
    return _hop_ms(chain)


def _where(invoke: Any, read: Any, hops_n: int, label: str) -> list[Row]:
    """One more chain with the local cloud's steps timed (bench.b_oneway.stamped): the parent
    handler's entry -> the front door has its Invoke (the handler, the guard, the SDK v3 call,
    the transport), then each step of the local cloud to the child's entry."""
    from bench.b_oneway import LOCAL_SEGMENTS, local_steps, stamped

    run = f"x{time.time_ns()}"
    with stamped(NAME) as stamps:
        invoke({"run": run, "numberOfCalls": hops_n})
        chain = _wait(read, run, hops_n + 1, 60 + hops_n * 0.5)
    by_n = {h["n"]: h["t"] / 1000 for h in chain}
    hops = []
    for n, parent in by_n.items():
        child = by_n.get(n - 1)
        found = local_steps(parent, child, stamps) if child is not None else None
        if found is not None:
            hops.append({"start": parent, **found})
    if not hops:
        return []
    segments = [("the parent's entry (handler, guard, SDK v3) -> front door", "start", "door")]
    rows = []
    for name, start, end in [*segments, *LOCAL_SEGMENTS]:
        values = [(hop[end] - hop[start]) * 1000 for hop in hops]
        rows.append(
            Row(f"10 where a Node hop goes ({label}): {name}, median", median(values), "ms")
        )
    return rows


def peer_side_by_side(ctx: Context) -> list[Row]:
    if ctx.smoke:
        ctx.notes.append("10 (peer): skipped at smoke sizes (installing serverless takes minutes)")
        return [Row("10 peer: serverless-offline", float("nan"), "", note="skipped (smoke)")]
    try:
        folder = install_peer()
        sdk = nodejs.ensure_sdk()
    except (RuntimeError, OSError, subprocess.SubprocessError, nodejs.NodeError) as exc:
        ctx.notes.append(f"10 (peer): skipped: {exc}")
        return [Row("10 peer: serverless-offline", float("nan"), "", note=f"skipped: {exc}")]
    hops_n, fan, depth = ctx.sizes.chain_short, ctx.sizes.fanout, ctx.sizes.fanout_depth
    ours = _ours(ctx, hops_n, fan, depth)
    with peer(folder, sdk) as running:
        theirs = measure(
            running.invoke, running.hops, lambda: _tree_rss_mb(running.proc.pid),
            hops_n, fan, depth,
        )  # fmt: skip
    ctx.notes.append(
        f"10 (peer): serverless@3 + serverless-offline@13 from {folder}; the same handler on "
        f"both; {hops_n}-hop chain, fan-out {fan} depth {depth}; RSS of each emulator's whole "
        "process tree (recursectl: the bench process with its workers). Fault: an async hop "
        f"that throws; recursectl survived: {ours.survived}, peer survived: {theirs.survived}. "
        f"Fan-out invocations seen: recursectl {ours.tree_seen}, peer {theirs.tree_seen} of "
        f"{sum(fan**d for d in range(depth + 1))} (n/a: the tree did not complete in time)."
    )
    med, p95 = median(ours.hops), percentile(ours.hops, 95)
    peer_med, peer_p95 = median(theirs.hops), percentile(theirs.hops, 95)
    split = ours.split_hops or []
    s_med, s_p95 = median(split), percentile(split, 95)
    return [
        Row("10 peer: hop median", med, "ms", "<= peer", verdict(med <= peer_med), peer_med),
        Row("10 peer: hop p95", p95, "ms", "<= peer", verdict(p95 <= peer_p95), peer_p95),
        Row(
            "10 peer: hop median, without the counter (split rule)",
            s_med,
            "ms",
            "<= peer",
            verdict(s_med <= peer_med),
            peer_med,
        ),
        Row(
            "10 peer: hop p95, without the counter (split rule)",
            s_p95,
            "ms",
            "<= peer",
            verdict(s_p95 <= peer_p95),
            peer_p95,
        ),
        Row(
            "10 peer: fan-out throughput",
            ours.rate,
            "inv/s",
            ">= peer",
            # a peer tree that never completed is behind any rate of ours that did
            verdict(
                ours.rate >= theirs.rate or (math.isnan(theirs.rate) and not math.isnan(ours.rate))
            ),
            theirs.rate,
        ),
        Row("10 peer: emulator RSS", ours.rss_mb, "MB", floor=theirs.rss_mb),
        *(ours.where or []),
        Row(
            "10 peer: fault (async hop throws), survives",
            float(ours.survived),
            "",
            "survives",
            verdict(ours.survived),
            float(theirs.survived),
        ),
    ]
