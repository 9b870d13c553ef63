"""Metric 15: what a long job's guarantees cost per hop (docs/jobs.md).

Side by side in one run, on the local cloud, one batch per hop, three functions behind the
helper's entry point (the job function set up as tests/support/jobs.py sets it up):
- job: `recursectl_chain.job()`, a checkpoint per batch, `continue_with(state)`; its state
  small (inline in the next hop's event) or of SPILL_BYTES (over JOB_INLINE_PAYLOAD: spilled
  to the job bucket, loaded and checked by the next hop);
- by hand: the same handler written as people write it today: the state in the payload of a
  plain self-invoke (Event), no claim, no checkpoint (the big state inline too: it fits the
  1 MB async limit).
Per hop = child START minus parent START (log timestamps); in-hop time = REPORT Duration. S3
and DynamoDB calls per hop are counted at the front door (each handler's call, by operation),
and priced at AWS's on-demand list prices.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

from bench.cloud import Timeline
from bench.context import Context
from bench.harness import Row, median

SPILL_BYTES = 300 * 1024  # over the 256 KB a hop's event carries inline (JOB_INLINE_PAYLOAD)
JOB = "bench-job"
HAND = "bench-by-hand"

JOB_SOURCE = r"""
import recursectl_chain

def handler(event, context):
    job = recursectl_chain.job(event, context)
    state = job.state or {"next": 0, "blob": "x" * event["blob"]}
    state["next"] += event["batch"]
    job.checkpoint(state, progress={"done": state["next"], "total": event["total"]})
    if state["next"] >= event["total"]:
        return job.done({"processed": state["next"]})
    return job.continue_with(state)
"""

HAND_SOURCE = r"""
import json, os
import boto3

LAMBDA = boto3.client("lambda")

def handler(event, context):
    state = event.get("state") or {"next": 0, "blob": "x" * event["blob"]}
    state["next"] += event["batch"]
    if state["next"] >= event["total"]:
        return {"processed": state["next"]}
    LAMBDA.invoke(
        FunctionName=os.environ["RECURSECTL_SELF_ARN"],
        InvocationType="Event",
        Payload=json.dumps({**event, "state": state}),
    )
    return {"continued": True}
"""

# On-demand list prices, us-east-1: DynamoDB $0.625 per million write and $0.125 per million
# read request units (items under 1 KB; a bigger item costs a unit per KB), S3 Standard $0.005
# per 1,000 PUTs and $0.0004 per 1,000 GETs.
USD_PER_MILLION = {
    "dynamodb:write": 0.625,
    "dynamodb:read": 0.125,
    "s3:PUT": 5.0,
    "s3:GET": 0.4,
}
_DDB_WRITES = ("PutItem", "UpdateItem", "DeleteItem")


class CallCounter:
    """Counts the handlers' S3 and DynamoDB calls at the front door (in this process)."""

    def __init__(self, door: Any) -> None:
        self.door = door
        self.calls: Counter[str] = Counter()
        self._original = door._moto_checked

    def __enter__(self) -> CallCounter:
        def counted(service: str, session: Any, request: Any, path: str, query: str) -> Any:
            if session is not None and service in ("s3", "dynamodb"):
                if service == "dynamodb":
                    op = (request.headers.get("x-amz-target") or "").rsplit(".", 1)[-1]
                    kind = "write" if op in _DDB_WRITES else "read"
                    self.calls[f"dynamodb:{kind}"] += 1
                else:
                    self.calls[f"s3:{'GET' if request.method in ('GET', 'HEAD') else 'PUT'}"] += 1
            return self._original(service, session, request, path, query)

        self.door._moto_checked = counted
        return self

    def __exit__(self, *exc: object) -> None:
        self.door._moto_checked = self._original


def _deploy(ctx: Context) -> None:
    from tests.support.jobs import deploy_job_function

    many = {"RECURSECTL_MAX_CALLS": "100000", "RECURSECTL_MAX_INVOCATIONS": "1000000"}
    bounds = {"max_hops": 100_000}
    deploy_job_function(ctx.cloud.endpoint, JOB, JOB_SOURCE, timeout=30, env=many, bounds=bounds)
    deploy_job_function(ctx.cloud.endpoint, HAND, HAND_SOURCE, timeout=30, env=many)


def _run(ctx: Context, name: str, hops: int, blob: int) -> tuple[list[float], list[float]]:
    """One job of `hops` hops: (per-hop latencies, in-hop durations) in ms."""
    cloud = ctx.cloud
    before = cloud.invocations(name)
    start_ms = int(time.time() * 1000) - 1000
    root = cloud.invoke(name, {"total": hops, "batch": 1, "blob": blob})
    cloud.wait_invocations(name, before + hops, timeout_s=60 + hops * 2.0)
    timeline = Timeline.read(cloud.events(f"/aws/lambda/{name}", start_ms))
    members = timeline.members(root)
    if len(members) != hops:
        raise RuntimeError(f"{name} job {root}: {len(members)} of {hops} hops")
    durations = []
    for req in members:
        line = timeline.report_line.get(req, "")
        if "\tDuration: " in line:
            durations.append(float(line.split("\tDuration: ", 1)[1].split(" ", 1)[0]))
    return timeline.hops_ms(root), durations


def _environ() -> dict[str, str | None]:
    """The tests' deploy helper makes plain boto3 clients: the local cloud's credentials."""
    wanted = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in wanted}
    for key, value in wanted.items():
        os.environ.setdefault(key, value)
    return saved


def job_overhead(ctx: Context) -> list[Row]:
    """Per hop: the job API (inline and spilled state) against the same job by hand."""
    saved = _environ()
    try:
        return _measure(ctx)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _measure(ctx: Context) -> list[Row]:
    _deploy(ctx)
    hops = max(4, ctx.sizes.chain_short // 4)
    modes = {"job": (JOB, 16), "spilled": (JOB, SPILL_BYTES),
             "hand": (HAND, 16), "hand_big": (HAND, SPILL_BYTES)}  # fmt: skip
    for name, blob in set(modes.values()):
        _run(ctx, name, 3, blob)  # warm environments, unmeasured
    latency: dict[str, list[float]] = {m: [] for m in modes}
    inside: dict[str, list[float]] = {m: [] for m in modes}
    calls: dict[str, Counter[str]] = {m: Counter() for m in modes}
    for _ in range(max(1, ctx.sizes.chain_repeats)):
        for mode, (name, blob) in modes.items():  # alternated: the machine is shared
            with CallCounter(ctx.cloud.server.door) as counter:
                hop_ms, durations = _run(ctx, name, hops, blob)
            latency[mode] += hop_ms
            inside[mode] += durations
            calls[mode] += counter.calls
    runs = max(1, ctx.sizes.chain_repeats)

    def per_hop(mode: str, kind: str) -> float:
        return calls[mode][kind] / (hops * runs)

    def usd(mode: str) -> float:
        return sum(per_hop(mode, k) * price for k, price in USD_PER_MILLION.items())

    ctx.notes.append(
        f"jobs (metric 15): {runs} run(s) per mode of a {hops}-hop job, one batch a hop, "
        f"modes alternated; spilled = {SPILL_BYTES // 1024} KB of state (over the 256 KB "
        "carried inline); by hand = the same handler with its state in a plain self-invoke's "
        "payload (the big one inline: under the 1 MB async limit); calls counted at the front "
        "door per handler call; $ at on-demand list prices (DynamoDB $0.625/$0.125 per "
        "million write/read units of items under 1 KB, S3 $5/$0.40 per million PUT/GET); "
        "calls per hop: " + "; ".join(f"{m} {dict(sorted(calls[m].items()))}" for m in modes)
    )
    rows = [
        Row("15 job hop, inline state, median", median(latency["job"]), "ms", "", "info",
            floor=median(latency["hand"])),
        Row(f"15 job hop, spilled state ({SPILL_BYTES // 1024} KB), median",
            median(latency["spilled"]), "ms", "", "info", floor=median(latency["hand_big"])),
        Row("15 job in-hop time (REPORT Duration), inline, median", median(inside["job"]),
            "ms", "", "info", floor=median(inside["hand"])),
        Row("15 job in-hop time (REPORT Duration), spilled, median", median(inside["spilled"]),
            "ms", "", "info", floor=median(inside["hand_big"])),
        Row("15 job DynamoDB calls per hop, inline",
            per_hop("job", "dynamodb:write") + per_hop("job", "dynamodb:read"), "calls", "",
            "info", floor=per_hop("hand", "dynamodb:write") + per_hop("hand", "dynamodb:read")),
        Row("15 job S3 calls per hop, inline",
            per_hop("job", "s3:PUT") + per_hop("job", "s3:GET"), "calls", "", "info"),
        Row("15 job S3 calls per hop, spilled",
            per_hop("spilled", "s3:PUT") + per_hop("spilled", "s3:GET"), "calls", "", "info"),
        Row("15 job on AWS: $ per million hops (requests), inline", usd("job"), "$", "",
            "info", floor=usd("hand")),
        Row("15 job on AWS: $ per million hops (requests), spilled", usd("spilled"), "$", "",
            "info", floor=usd("hand_big")),
    ]  # fmt: skip
    return rows
