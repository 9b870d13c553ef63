"""Metrics 4 and 5: the log pipeline (parse + link + summarize) and rendering. No I/O."""

from __future__ import annotations

import gc
import io
import json
import re
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench.context import Context
from bench.harness import Row, median, verdict

Event = dict[str, Any]

# The floor's only work per event: which kind of line is it? (What any log tool must do.)
LINE_TYPE = re.compile(r"(?:START|END|REPORT|INIT_START|INIT_REPORT) |RECURSECTL_CHAIN |\{|\[")


def _factory() -> Any:
    # The generator lives with the chain package's tests (realistic Text/JSON/mixed events).
    from tests.support import chain_factory

    return chain_factory


def make_events(target: int, seed: int = 0) -> tuple[list[Event], int]:
    """About `target` events of linear chains (mixed formats, app lines); (events, invocations).

    Big inputs are several chains of at most ~100,000 events each, as a busy log group holds.
    """
    factory = _factory()
    per_invocation = len(factory.linear_spec(10, fmt="mixed", seed=seed).events()) / 10
    out: list[Event] = []
    invocations = 0
    n = 0
    while len(out) < target:
        want = min(target - len(out), 100_000)
        count = max(2, round(want / per_invocation))
        spec = factory.linear_spec(count, fmt="mixed", seed=seed + n, app_lines=2)
        spec.start_ms += n * 3_600_000  # chains an hour apart, in one log group
        events = spec.events()
        for e in events:  # event ids unique across chains
            e["eventId"] = f"{n:04d}{e['eventId']}"
        out += events
        invocations += count
        n += 1
    return out, invocations


def pipeline(events: list[Event]) -> list[Any]:
    """What `recursectl logs` does with the events: parse, link, summarize every chain."""
    from recursectl.chain import ChainCollector

    collector = ChainCollector()
    collector.add_events(events)
    return [chain.summary() for chain in collector.chains()]


def line_type_floor(events: list[Event]) -> int:
    match = LINE_TYPE.match
    n = 0
    for event in events:
        if match(event["message"]):
            n += 1
    return n


def _timed(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return median(times)


def _peak_bytes(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def log_pipeline(ctx: Context) -> list[Row]:
    small_n, big_n = ctx.sizes.pipeline_events
    reps = ctx.sizes.pipeline_repeats
    rows: list[Row] = []
    results: dict[int, tuple[float, int, int]] = {}
    for target in (small_n, big_n):
        events, invocations = make_events(target)
        n = len(events)
        chains = pipeline(events)  # warm-up, and a check that the input is what we think
        linked = sum(s.count for s in chains)
        if linked != invocations:
            raise RuntimeError(f"pipeline linked {linked} invocations, generated {invocations}")
        t_ours = _timed(lambda ev=events: pipeline(ev), reps)  # type: ignore[misc]
        t_floor = _timed(lambda ev=events: line_type_floor(ev), reps)  # type: ignore[misc]
        peak = _peak_bytes(lambda ev=events: pipeline(ev))  # type: ignore[misc]
        results[n] = (t_ours, peak, invocations)
        rate, _floor_rate = n / t_ours, n / t_floor
        rows += [
            Row(f"4 log pipeline, {n:,} events", rate, "ev/s", ">= 200,000 ev/s",
                verdict(rate >= 200_000), note="throughput"),
            Row(f"4 log pipeline, {n:,} events, time vs floor", t_ours * 1000, "ms",
                "<= 3x floor", verdict(t_ours <= 3 * t_floor), floor=t_floor * 1000),
            Row(f"4 log pipeline, {n:,} events, peak memory per invocation",
                peak / invocations, "B", "bounded", "info"),
        ]  # fmt: skip
        del events
    (n1, (t1, p1, i1)), (n2, (t2, p2, i2)) = sorted(results.items())
    scale = (t2 / t1) / (n2 / n1)
    per_inv_growth = (p2 / i2) / (p1 / i1)
    rows += [
        Row(f"4 log pipeline scaling: {n2:,} vs {n1:,} events", t2 * 1000, "ms",
            "<= 1.1x linear", verdict(scale <= 1.1), floor=t1 * 1000 * n2 / n1, ratio=scale),
        Row("4 log pipeline memory per invocation, big / small", p2 / i2, "B", "<= 1.5x",
            verdict(per_inv_growth <= 1.5), floor=p1 / i1, ratio=per_inv_growth),
    ]  # fmt: skip
    ctx.notes.append(
        f"log pipeline: events from tests/support/chain_factory.py (linear chains, Text and JSON "
        f"mixed per invocation, 2 app lines each, ~{n1 / i1:.1f} events per invocation); "
        f"floor = the same loop applying only the line-type regex; time is the median of "
        f"{reps} runs; peak memory by tracemalloc (input events excluded), {i1:,} and {i2:,} "
        f"invocations"
    )
    return rows


def render_bench(ctx: Context) -> list[Row]:
    from rich.console import Console

    from recursectl.chain import ChainCollector
    from recursectl.watch import render

    factory = _factory()
    rows: list[Row] = []
    small, big = ctx.sizes.render_sizes
    reps = ctx.sizes.render_repeats
    specs = [
        (f"{small:,}-invocation chain", factory.linear_spec(small, fmt="mixed")),
        (f"{_tree_size(big):,}-invocation tree", factory.fanout_spec(3, _tree_depth(big))),
    ]
    for label, spec in specs:
        collector = ChainCollector()
        collector.add_events(spec.events())
        chain = collector.get(spec.chain_id)
        if chain is None:
            raise RuntimeError(f"render: no chain {spec.chain_id}")

        def to_terminal(c: Any = chain) -> str:
            console = Console(
                file=io.StringIO(), width=120, force_terminal=True, color_system="truecolor"
            )
            console.print(render.render_chain(c))
            return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]

        def to_json(c: Any = chain) -> str:
            return json.dumps(render.chain_json(c))

        lines = to_terminal().count("\n")
        t_term, t_json = _timed(to_terminal, reps), _timed(to_json, reps)
        big_one = len(chain) > small
        target = "info" if big_one else "< 1 s"
        rows += [
            Row(f"5 render {label}, terminal (collapsed, {lines} lines)", t_term * 1000, "ms",
                "" if big_one else "< 1,000 ms", "info" if big_one else verdict(t_term < 1)),
            Row(f"5 render {label}, JSON", t_json * 1000, "ms",
                "" if big_one else "< 1,000 ms", "info" if big_one else verdict(t_json < 1)),
        ]  # fmt: skip
        del target
    ctx.notes.append(
        f"render: rich Console to a string (120 columns, truecolor) and json.dumps of the --json "
        f"document; median of {reps} runs; the tree is a full fan-out of 3"
    )
    return rows


def _tree_depth(size: int) -> int:
    """The depth of the largest full fan-out-3 tree with at most `size` invocations."""
    depth = 0
    while _size_at(depth + 1) <= size:
        depth += 1
    return depth


def _size_at(depth: int) -> int:
    return sum(3**d for d in range(depth + 1))


def _tree_size(size: int) -> int:
    return _size_at(_tree_depth(size))
