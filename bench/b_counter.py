"""Metric 13: what the exact budget's chain counter (and the cost cap) cost per hop.

Side by side in one run, on the local cloud (moto's DynamoDB behind the front door), the
template deployed by recursectl's deploy, linear chains alternated between three modes:
- split: the function without RECURSECTL_COUNTER_TABLE (the guard's counter-free rule);
- counter: as deployed (one conditional UpdateItem before each child's Invoke);
- counter + cost cap: the root's context carries `max_cost` (one more UpdateItem per
  invocation, at its end).
Per hop = child START minus parent START (log timestamps, 1 ms resolution). The counter's own
round trip (one UpdateItem from this process, the same request the guard makes) is timed
call by call. Dollars per million hops are AWS's on-demand list price for the writes.
"""

from __future__ import annotations

import time

from bench.cloud import Timeline
from bench.context import Context
from bench.harness import Row, median, percentile

NAME = "bench-counter"
GROUP = f"/aws/lambda/{NAME}"
TABLE = f"{NAME}-recursectl-chains"
# DynamoDB on-demand, us-east-1, since November 2024: $0.625 per million write request units
# (an item under 1 KB is one unit per write).
WRITE_USD_PER_MILLION = 0.625


def _deploy(ctx: Context) -> dict[str, str]:
    cloud = ctx.cloud
    cloud.deploy(NAME, max_calls=100_000)
    lam = cloud.aws.lambda_
    env = lam.get_function_configuration(FunctionName=NAME)["Environment"]["Variables"]
    env["RECURSECTL_MAX_INVOCATIONS"] = "1000000"
    return dict(env)


def _set_env(ctx: Context, env: dict[str, str]) -> None:
    ctx.cloud.set_env(NAME, env)
    _chain(ctx, 6, None)  # the change retired the warm environments: start them, unmeasured
    # and as many as a fan-out keeps busy (else the tree's rate is mostly cold starts)
    _tree_rate(ctx, max(1, ctx.sizes.fanout_depth - 2), ctx.sizes.fanout)


def _chain(ctx: Context, hops: int, max_cost: float | None) -> list[float]:
    cloud = ctx.cloud
    before = cloud.invocations(NAME)
    start_ms = int(time.time() * 1000) - 1000
    event: dict[str, object] = {"numberOfCalls": hops}
    if max_cost is not None:
        event["_recursectl"] = {"max_cost": max_cost}
    root = cloud.invoke(NAME, event)
    cloud.wait_invocations(NAME, before + hops + 1, timeout_s=60 + hops * 0.2)
    timeline = Timeline.read(cloud.events(GROUP, start_ms))
    if len(timeline.members(root)) != hops + 1:
        raise RuntimeError(f"chain {root}: {len(timeline.members(root))} of {hops + 1} hops")
    return timeline.hops_ms(root)


def _tree_rate(ctx: Context, depth: int, fanout: int) -> float:
    """Invocations per second of a `--fanout F` tree (first START to last REPORT)."""
    cloud = ctx.cloud
    count = sum(fanout**d for d in range(depth + 1))
    before = cloud.invocations(NAME)
    start_ms = int(time.time() * 1000) - 1000
    event = {"numberOfCalls": depth, "fanout": fanout, "_recursectl": {"split": fanout}}
    root = cloud.invoke(NAME, event)
    cloud.wait_invocations(NAME, before + count, timeout_s=60 + count * 0.2)
    timeline = Timeline.read(cloud.events(GROUP, start_ms))
    if len(timeline.members(root)) != count:
        raise RuntimeError(f"tree {root}: {len(timeline.members(root))} of {count} invocations")
    return count / (timeline.span_ms(root) / 1000)


def _update_item_ms(ctx: Context, samples: int) -> list[float]:
    ddb = ctx.cloud.aws.client("dynamodb")
    out = []
    for i in range(samples):
        t = time.perf_counter()
        ddb.update_item(
            TableName=TABLE,
            Key={"chain": {"S": f"bench-{i % 8}"}},
            UpdateExpression="ADD #n :one SET #e = :ttl",
            ConditionExpression="(attribute_not_exists(#n) OR #n < :max)",
            ExpressionAttributeNames={"#n": "n", "#e": "expires"},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":max": {"N": "999999999"},
                ":ttl": {"N": str(int(time.time()) + 172800)},
            },
            ReturnValues="UPDATED_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        out.append((time.perf_counter() - t) * 1000)
    return out


def counter_cost(ctx: Context) -> list[Row]:
    """Hop latency with and without the counter, and with the cost cap; the counter's call."""
    counted = _deploy(ctx)
    split = {k: v for k, v in counted.items() if k != "RECURSECTL_COUNTER_TABLE"}
    hops = ctx.sizes.chain_short
    modes: dict[str, list[float]] = {"split": [], "counter": [], "cost": []}
    rates: dict[str, list[float]] = {"split": [], "counter": []}
    depth, fanout = ctx.sizes.fanout_depth - 1, ctx.sizes.fanout
    for _ in range(max(2, ctx.sizes.chain_repeats)):
        _set_env(ctx, split)
        modes["split"] += _chain(ctx, hops, None)
        rates["split"].append(_tree_rate(ctx, depth, fanout))
        _set_env(ctx, counted)
        modes["counter"] += _chain(ctx, hops, None)
        modes["cost"] += _chain(ctx, hops, 1000.0)
        rates["counter"].append(_tree_rate(ctx, depth, fanout))
    tree = sum(fanout**d for d in range(depth + 1))
    call = _update_item_ms(ctx, ctx.sizes.floor_samples)
    base = median(modes["split"])
    ctx.notes.append(
        f"counter (metric 13): {len(modes['split'])} hops per mode, linear chains of {hops}, "
        "modes alternated; the counter's UpdateItem timed "
        f"{len(call)} times from this process (median {median(call):.2f} ms, "
        f"p95 {percentile(call, 95):.2f} ms); fan-out {fanout} depth {depth} ({tree} "
        f"invocations) per mode: split {', '.join(f'{r:.0f}' for r in rates['split'])}/s, "
        f"counter {', '.join(f'{r:.0f}' for r in rates['counter'])}/s; $ per million hops "
        f"at DynamoDB on-demand list price (${WRITE_USD_PER_MILLION} per million writes): "
        "counter 1 write per hop, cost cap 1 more per invocation"
    )
    rows = [
        Row("13 hop latency, split rule (no counter), median", base, "ms", "", "info"),
        Row("13 hop latency, with the counter, median", median(modes["counter"]), "ms",
            "", "info", floor=base),
        Row("13 hop latency, counter + cost cap, median", median(modes["cost"]), "ms",
            "", "info", floor=base),
        Row(f"13 fan-out, {tree} invocations, split rule (no counter)",
            median(rates["split"]), "inv/s", "", "info"),
        Row(f"13 fan-out, {tree} invocations, with the counter", median(rates["counter"]),
            "inv/s", "", "info", floor=median(rates["split"])),
        Row("13 counter UpdateItem round trip (local cloud), median", median(call), "ms",
            "", "info"),
        Row("13 counter on AWS: $ per million hops (1 write)", WRITE_USD_PER_MILLION, "$",
            "", "info"),
        Row("13 counter + cost cap on AWS: $ per million hops (2 writes)",
            2 * WRITE_USD_PER_MILLION, "$", "", "info"),
    ]  # fmt: skip
    return rows
