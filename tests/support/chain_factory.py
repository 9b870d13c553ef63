"""Realistic CloudWatch Logs events of recursive Lambda chains, for tests and benchmarks.

Each event is a FilterLogEvents dict {message, timestamp, logStreamName, eventId}. Chains are
linear or fan-out trees; the log format is Text, JSON or mixed (per execution environment);
handlers print and log lines; execution environments are reused (warm) when free, so only
some invocations are cold starts, as on AWS.

    events = linear_chain(1000, fmt="mixed")
    events = fanout_tree(fanout=2, depth=3)            # 15 invocations
    spec = ChainSpec(...); events = spec.events()       # full control
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from recursectl.chain import Chain, ChainCollector
from recursectl.protocol import DEFAULT_MAX_INVOCATIONS, MARKER

Event = dict[str, Any]


def request_id(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _iso(ms: int) -> str:
    # A fixed-format UTC timestamp is all a log line needs here (no datetime: speed).
    s, milli = divmod(ms, 1000)
    return f"2026-05-01T12:{(s // 60) % 60:02d}:{s % 60:02d}.{milli:03d}Z"


@dataclass
class Node:
    """One invocation to generate."""

    request_id: str
    parent: str | None
    depth: int
    children: list[str] = field(default_factory=list)
    outcome: str = "ok"  # ok | error | timeout | dropped (never runs) | missing (never runs)
    duration_ms: float = 3.0
    retried: bool = False  # an async retry: the same request id runs twice (error, then ok)


@dataclass
class ChainSpec:
    nodes: list[Node]
    fmt: str = "text"  # text | json | mixed (per invocation)
    markers: bool = True
    app_lines: int = 2
    memory_mb: int = 128
    start_ms: int = 1_777_636_800_000
    latency_ms: int = 12  # from the parent's Invoke to the child's START
    seed: int = 0
    max_calls: int = 25
    dropped_reason: str = "RecursiveInvocationException"

    @property
    def chain_id(self) -> str:
        return self.nodes[0].request_id

    def events(self) -> list[Event]:
        return _generate(self)


def linear_chain(n: int, **kw: Any) -> list[Event]:
    """Events of a linear chain of n invocations (depth 0..n-1)."""
    return linear_spec(n, **kw).events()


def linear_spec(
    n: int,
    *,
    outcomes: dict[int, str] | None = None,
    seed: int = 0,
    durations: list[float] | None = None,
    **kw: Any,
) -> ChainSpec:
    rng = random.Random(seed)
    ids = [request_id(rng) for _ in range(n)]
    nodes = []
    for i, rid in enumerate(ids):
        node = Node(rid, ids[i - 1] if i else None, i)
        if i + 1 < n:
            node.children.append(ids[i + 1])
        node.duration_ms = durations[i] if durations else round(2.0 + rng.random() * 3, 2)
        nodes.append(node)
    for depth, outcome in (outcomes or {}).items():
        nodes[depth].outcome = outcome
    return ChainSpec(nodes, seed=seed, **kw)


def fanout_tree(fanout: int, depth: int, **kw: Any) -> list[Event]:
    """Events of a full tree: every invocation above `depth` invokes `fanout` children."""
    return fanout_spec(fanout, depth, **kw).events()


def fanout_spec(fanout: int, depth: int, *, seed: int = 0, **kw: Any) -> ChainSpec:
    rng = random.Random(seed)
    root = Node(request_id(rng), None, 0)
    nodes = [root]
    level = [root]
    for d in range(1, depth + 1):
        nxt = []
        for parent in level:
            for _ in range(fanout):
                child = Node(request_id(rng), parent.request_id, d)
                child.duration_ms = round(2.0 + rng.random() * 3, 2)
                parent.children.append(child.request_id)
                nxt.append(child)
        nodes.extend(nxt)
        level = nxt
    return ChainSpec(nodes, seed=seed, **kw)


def _platform(record: dict[str, Any]) -> str:
    # AWS writes platform records as compact JSON; awslambdaric's app records use ", ".
    return json.dumps(record, separators=(",", ":"))


def _marker(record: dict[str, Any]) -> str:
    return f"{MARKER} {json.dumps(record, separators=(',', ':'))}\n"


class _Env:
    """An execution environment: one log stream, one request at a time."""

    def __init__(self, name: str, fmt: str) -> None:
        self.name = name
        self.fmt = fmt
        self.free_at = 0
        self.cold = True


def _generate(spec: ChainSpec) -> list[Event]:  # noqa: C901 (one branch per outcome)
    rng = random.Random(spec.seed + 1)
    by_id = {n.request_id: n for n in spec.nodes}
    events: list[tuple[int, int, str, str]] = []  # (ts, seq, stream, message)
    seq = 0
    envs: list[_Env] = []

    def emit(ts: int, env: _Env | str, message: str) -> None:
        nonlocal seq
        stream = env if isinstance(env, str) else env.name
        events.append((ts, seq, stream, message))
        seq += 1

    def env_for(ts: int) -> _Env:
        for env in envs:
            if env.free_at < ts:
                return env
        env = _Env(f"2026/05/01/[$LATEST]{rng.getrandbits(128):032x}", spec.fmt)
        envs.append(env)
        return env

    # Breadth-first in start order: a child starts latency_ms after its parent announced it.
    start_at = {spec.chain_id: spec.start_ms}
    queue = [spec.nodes[0]]
    while queue:
        node = queue.pop(0)
        ts0 = start_at[node.request_id]
        if node.outcome in ("dropped", "missing"):
            if node.outcome == "dropped":
                emit(
                    ts0,
                    "recursectl-local/drops",
                    _marker(
                        {
                            "v": 1,
                            "ev": "dropped",
                            "req": node.request_id,
                            "reason": spec.dropped_reason,
                            "chain": spec.chain_id,
                            "parent": node.parent,
                        }
                    ),
                )
            continue
        attempts = ["error", node.outcome] if node.retried else [node.outcome]
        for attempt, outcome in enumerate(attempts):
            ts = ts0 + attempt * 60_000  # async retries come about a minute later
            env = env_for(ts)
            if spec.fmt == "mixed":
                # Mixed per invocation (a real function has one format; a parser must take both).
                env.fmt = "json" if rng.random() < 0.5 else "text"
            cold = env.cold
            env.cold = False
            init_ms = round(100 + rng.random() * 50, 2) if cold else None
            dur = node.duration_ms
            if outcome == "timeout":
                dur = 3000.0
            end = ts + int(dur) + 1
            env.free_at = end
            _invocation(spec, node, env, ts, end, dur, init_ms, outcome, emit)
            # A handler that fails invokes nobody (it raised before invoke_self).
            if attempt == len(attempts) - 1 and outcome in ("ok", "timeout"):
                child_ts = ts + max(1, int(dur) // 2)
                for child in node.children:
                    start_at[child] = child_ts + spec.latency_ms
                    queue.append(by_id[child])
    events.sort(key=lambda e: (e[0], e[1]))
    base = 38_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000
    return [
        {
            "message": msg,
            "timestamp": ts,
            "logStreamName": stream,
            "eventId": str(base + i),
            "ingestionTime": ts + 200,
        }
        for i, (ts, _s, stream, msg) in enumerate(events)
    ]


def _invocation(  # noqa: C901 (one branch per outcome)
    spec: ChainSpec,
    node: Node,
    env: _Env,
    ts: int,
    end: int,
    dur: float,
    init_ms: float | None,
    outcome: str,
    emit: Any,
) -> None:
    rid = node.request_id
    json_fmt = env.fmt == "json"
    mem = spec.memory_mb
    if init_ms is not None:
        if json_fmt:
            emit(
                ts - int(init_ms),
                env,
                _platform(
                    {
                        "time": _iso(ts - int(init_ms)),
                        "type": "platform.initStart",
                        "record": {
                            "initializationType": "on-demand",
                            "phase": "init",
                            "runtimeVersion": "python:3.12.v27",
                            "runtimeVersionArn": "arn:aws:lambda:us-east-1::runtime:abc",
                            "functionName": "recursive",
                            "functionVersion": "$LATEST",
                        },
                    }
                ),
            )
        else:
            emit(
                ts - int(init_ms),
                env,
                "INIT_START Runtime Version: python:3.12.v27\t"
                "Runtime Version ARN: arn:aws:lambda:us-east-1::runtime:abc\n",
            )
    if json_fmt:
        emit(
            ts,
            env,
            _platform(
                {
                    "time": _iso(ts),
                    "type": "platform.start",
                    "record": {"requestId": rid, "version": "$LATEST"},
                }
            ),
        )
    else:
        emit(ts, env, f"START RequestId: {rid} Version: $LATEST\n")
    if spec.markers:
        emit(
            ts,
            env,
            _marker(
                {
                    "v": 1,
                    "ev": "hop",
                    "chain": spec.chain_id,
                    "req": rid,
                    "parent": node.parent,
                    "depth": node.depth,
                    "max": spec.max_calls,
                    # What a linear chain's guard hands down (the bench's chains are far
                    # longer than any budget: never below 1 here).
                    "budget": max(1, DEFAULT_MAX_INVOCATIONS - node.depth),
                }
            ),
        )
    mid = ts + max(1, int(dur) // 2)
    for k in range(spec.app_lines):
        if k % 2 == 0:
            emit(mid, env, f"received {{'remaining': {spec.max_calls - node.depth}}}\n")
        elif json_fmt:
            emit(
                mid,
                env,
                json.dumps(
                    {
                        "timestamp": _iso(mid),
                        "level": "INFO",
                        "message": f"working on item {k}",
                        "logger": "root",
                        "requestId": rid,
                    }
                ),
            )
        else:
            emit(mid, env, f"[INFO]\t{_iso(mid)}\t{rid}\tworking on item {k}\n")
    if outcome in ("ok", "timeout"):
        for child in node.children:
            if spec.markers:
                emit(
                    mid,
                    env,
                    _marker(
                        {
                            "v": 1,
                            "ev": "child",
                            "chain": spec.chain_id,
                            "req": rid,
                            "child": child,
                            "depth": node.depth + 1,
                        }
                    ),
                )
    if outcome == "error":
        if json_fmt:
            emit(
                end - 1,
                env,
                json.dumps(
                    {
                        "timestamp": _iso(end - 1),
                        "level": "ERROR",
                        "message": "boom",
                        "logger": "root",
                        "requestId": rid,
                        "errorType": "ValueError",
                        "errorMessage": "boom",
                        "stackTrace": ['  File "/var/task/handler.py", line 6, in handler\n'],
                    }
                ),
            )
        else:
            emit(
                end - 1,
                env,
                "[ERROR] ValueError: boom\nTraceback (most recent call last):\n"
                '\u00a0\u00a0File "/var/task/handler.py", line 6, in handler\n',
            )
    billed = int(dur) + 1
    if json_fmt:
        metrics: dict[str, Any] = {
            "durationMs": dur,
            "billedDurationMs": float(billed),
            "memorySizeMB": float(mem),
            "maxMemoryUsedMB": 36.0,
        }
        if init_ms is not None:
            metrics["initDurationMs"] = init_ms
        record: dict[str, Any] = {
            "requestId": rid,
            "status": {"ok": "success", "error": "error", "timeout": "timeout"}[outcome],
            "metrics": metrics,
        }
        if outcome == "error":
            record["errorType"] = "ValueError"
        elif outcome == "timeout":
            record["errorType"] = "Sandbox.Timedout"
        emit(end, env, _platform({"time": _iso(end), "type": "platform.report", "record": record}))
    else:
        emit(end, env, f"END RequestId: {rid}\n")
        line = (
            f"REPORT RequestId: {rid}\tDuration: {dur:.2f} ms\tBilled Duration: {billed} ms\t"
            f"Memory Size: {mem} MB\tMax Memory Used: 36 MB\t"
        )
        if init_ms is not None:
            line += f"Init Duration: {init_ms:.2f} ms\t"
        if outcome == "timeout":
            line += "Status: timeout"
        line += "\n"
        emit(end, env, line)


# Later than any event these factories make: every invocation in a chain has settled by then.
NOW_LATE = 10**13


def chain_of(events: list[Event], *, keep_lines: bool = False) -> Chain:
    """The latest chain in `events`, as the collector sees it once everything has settled."""
    return latest(events, keep_lines=keep_lines)


def collect(events: list[dict[str, Any]], *, keep_lines: bool = False) -> ChainCollector:
    """A collector that has read `events`."""
    c = ChainCollector(keep_lines=keep_lines)
    c.add_events(events)
    return c


def latest(events: list[dict[str, Any]], now: int | None = NOW_LATE, **kw: Any) -> Chain:
    """The latest chain in `events` at `now` (None: the collector's own clock)."""
    chain = collect(events, **kw).latest(now_ms=now)
    assert chain is not None
    return chain


def shape(chain: Chain) -> list[tuple[str, str | None, int | None, str, tuple[str, ...]]]:
    """Each invocation's links and status, in the chain's order."""
    return [(i.request_id, i.parent_id, i.depth, i.status, i.children) for i in chain.invocations]
