"""Metrics 1 and 2: hop latency of linear chains, fan-out throughput (local cloud)."""

from __future__ import annotations

import contextlib
import time

from bench.cloud import FUNCTION, Timeline
from bench.context import Context
from bench.harness import Row, median, percentile, verdict

GROUP = f"/aws/lambda/{FUNCTION}"


def _ensure_deployed(ctx: Context) -> None:
    cloud = ctx.cloud
    if cloud.invocations(FUNCTION) == 0:
        cloud.deploy(FUNCTION, max_calls=100_000)
        # The chains here (1,000 hops; a 1,365-invocation tree) are larger than the default
        # budget of 1,000 invocations per chain: raise it on the function.
        lam = cloud.aws.lambda_
        conf = lam.get_function_configuration(FunctionName=FUNCTION)
        variables = {**conf["Environment"]["Variables"], "RECURSECTL_MAX_INVOCATIONS": "1000000"}
        lam.update_function_configuration(
            FunctionName=FUNCTION, Environment={"Variables": variables}
        )
        lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
        # Warm-up (not measured): start the environments a linear chain alternates between.
        run_chain(ctx, {"numberOfCalls": 10})


def run_chain(ctx: Context, event: dict[str, int | str], expected: int | None = None) -> Timeline:
    """Invoke the template, wait for every invocation, return the chain's timeline."""
    cloud = ctx.cloud
    calls = int(event["numberOfCalls"])
    fanout = int(event.get("fanout", 1))
    count = expected or sum(fanout**d for d in range(calls + 1))
    before = cloud.invocations(FUNCTION)
    start_ms = int(time.time() * 1000) - 1000
    root_event: dict[str, object] = dict(event)
    if fanout > 1:  # the budget's split hint, as `recursectl invoke --fanout K` sets it
        root_event["_recursectl"] = {"split": fanout}
    root = cloud.invoke(FUNCTION, root_event)
    cloud.wait_invocations(FUNCTION, before + count, timeout_s=60 + count * 0.2)
    timeline = Timeline.read(cloud.events(GROUP, start_ms))
    timeline.root = root
    members = timeline.members(root)
    if len(members) != count:
        raise RuntimeError(f"chain {root}: {len(members)} of {count} invocations in the logs")
    return timeline


def hop_latency(ctx: Context) -> list[Row]:
    """Per hop = child START minus parent START, from the logs; floor measured alongside."""
    _ensure_deployed(ctx)
    sizes = ctx.sizes
    short: list[float] = []
    ctx.measure_floor()
    for _ in range(sizes.chain_repeats):
        t = run_chain(ctx, {"numberOfCalls": sizes.chain_short})
        short += t.hops_ms(t.root)
        ctx.measure_floor()
    t = run_chain(ctx, {"numberOfCalls": sizes.chain_long})
    long = t.hops_ms(t.root)
    ctx.measure_floor()
    floor_ms = ctx.floor_hop_s * 1000
    med_s, p95_s = median(short), percentile(short, 95)
    med_l, p95_l = median(long), percentile(long, 95)
    growth = med_l / med_s if med_s else float("nan")
    f = ctx.floors[-1]
    ctx.notes.append(
        f"hop floor (median of {len(ctx.floors)} measurements): botocore Event invoke "
        f"{median([x.invoke_s for x in ctx.floors]) * 1000:.2f} ms + Runtime API dispatch "
        f"{median([x.dispatch_s for x in ctx.floors]) * 1000:.2f} ms (last: "
        f"{f.invoke_s * 1000:.2f} + {f.dispatch_s * 1000:.2f}); hops are log timestamps "
        f"(1 ms resolution), {len(short)} hops of {sizes.chain_repeats} x {sizes.chain_short}-hop "
        f"chains and {len(long)} of one {sizes.chain_long}-hop chain"
    )
    s, lg = f"{sizes.chain_short:,}", f"{sizes.chain_long:,}"
    return [
        Row(f"1 hop latency, {s}-hop chain, median", med_s, "ms", "<= 2x floor",
            verdict(med_s <= 2 * floor_ms), floor=floor_ms),
        Row(f"1 hop latency, {s}-hop chain, p95", p95_s, "ms", "<= 4x floor",
            verdict(p95_s <= 4 * floor_ms), floor=floor_ms),
        Row(f"1 hop latency, {lg}-hop chain, median", med_l, "ms", "<= 2x floor",
            verdict(med_l <= 2 * floor_ms), floor=floor_ms),
        Row(f"1 hop latency, {lg}-hop chain, p95", p95_l, "ms", "<= 4x floor",
            verdict(p95_l <= 4 * floor_ms), floor=floor_ms),
        Row(f"1 growth: {lg}-hop median / {s}-hop median", med_l, "ms", "<= 1.10x",
            verdict(growth <= 1.10), floor=med_s, ratio=growth),
    ]  # fmt: skip


def fanout_throughput(ctx: Context) -> list[Row]:
    """Invocations per second of a full fan-out tree vs the floor's rate times the cores."""
    _ensure_deployed(ctx)
    sizes = ctx.sizes
    event: dict[str, int | str] = {"numberOfCalls": sizes.fanout_depth, "fanout": sizes.fanout}
    count = sum(sizes.fanout**d for d in range(sizes.fanout_depth + 1))
    # Warm-up (not measured): as many environments as the tree keeps busy.
    run_chain(ctx, {"numberOfCalls": 3, "fanout": sizes.fanout})
    rates = []
    cloud_ms, worker_ms = [], []
    for _ in range(sizes.fanout_repeats):
        before = _cpu_s()
        t = run_chain(ctx, event, count)
        after = _cpu_s()
        rates.append(count / (t.span_ms(t.root) / 1000))
        cloud_ms.append((after[0] - before[0]) * 1000 / count)
        worker_ms.append((after[1] - before[1]) * 1000 / count)
    if not ctx.floors:
        ctx.measure_floor()
    cores = ctx.machine.cores
    floor_rate = cores / ctx.floor_hop_s
    rate = median(rates)
    ctx.notes.append(
        f"fan-out: --fanout {sizes.fanout} depth {sizes.fanout_depth} = {count:,} invocations, "
        f"first START to last REPORT, median of {len(rates)} runs "
        f"({', '.join(f'{r:.0f}' for r in rates)}/s); floor = {cores} cores / floor hop. CPU "
        "per invocation (user + system, from the invoke to the last REPORT): this process (the "
        "local cloud, moto included) and its descendants (the workers)"
    )
    budget_ms = cores / (0.5 * floor_rate) * 1000  # all the CPU there is, at half the floor
    return [
        Row(f"2 fan-out throughput, {count:,} invocations", rate, "inv/s", ">= 50% of floor",
            verdict(rate >= 0.5 * floor_rate), floor=floor_rate),
        Row("2 fan-out: CPU per invocation, local cloud", median(cloud_ms), "ms"),
        Row("2 fan-out: CPU per invocation, workers", median(worker_ms), "ms"),
        Row("2 fan-out: CPU per invocation, both, vs all the CPU at half the floor",
            median(cloud_ms) + median(worker_ms), "ms", floor=budget_ms),
    ]  # fmt: skip


def _cpu_s() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its live descendants."""
    import psutil

    me = psutil.Process()
    own = sum(me.cpu_times()[:2])
    workers = 0.0
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):  # gone meanwhile
            workers += sum(child.cpu_times()[:2])
    return own, workers
