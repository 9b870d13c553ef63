"""Metrics 3, 6 and 7 on the local cloud: follow latency, deploy cost, cold start."""

from __future__ import annotations

import base64
import itertools
import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from bench.cloud import FUNCTION, LocalCloud
from bench.context import Context
from bench.harness import Row, median, verdict
from recursectl.local.frontdoor.http11 import Request

_READ_PREFIXES = ("Get", "List", "Describe")


def _is_read(call: str) -> bool:
    return call.split(".", 1)[1].startswith(_READ_PREFIXES)


# 6 ---------------------------------------------------------------------------------------------
def deploy_cost(ctx: Context) -> list[Row]:
    cloud = ctx.cloud
    first_calls: list[list[str]] = []
    again_calls: list[list[str]] = []
    first_s: list[float] = []
    again_s: list[float] = []
    for _ in range(ctx.sizes.deploy_repeats):
        name = f"bench-deploy-{uuid.uuid4().hex[:8]}"
        for calls, times in ((first_calls, first_s), (again_calls, again_s)):
            cloud.aws = cloud.new_aws()  # a new command: fresh clients, fresh call record
            started = time.perf_counter()
            cloud.deploy(name)
            times.append(time.perf_counter() - started)
            calls.append(list(cloud.aws.calls))
    first, again = first_calls[-1], again_calls[-1]
    writes = [c for c in again if not _is_read(c)]
    reads = [c for c in again if _is_read(c)]
    ctx.notes.append(
        f"deploy: API calls counted by botocore's before-call hook (Aws.calls). First deploy: "
        f"{len(first)} calls ({', '.join(first)}). Unchanged redeploy: {', '.join(again)}. "
        f"Wall time is a fresh Aws (new clients) per deploy, median of {len(first_s)}"
    )
    return [
        Row("6 deploy, first: API calls", len(first), "calls", "", "info",
            note=f"{sum(not _is_read(c) for c in first)} writes"),
        Row("6 deploy, unchanged redeploy: write calls", len(writes), "calls", "0",
            verdict(not writes)),
        Row("6 deploy, unchanged redeploy: read calls", len(reads), "calls", "<= 4",
            verdict(len(reads) <= 4)),
        Row("6 deploy, first: wall time (local)", median(first_s) * 1000, "ms", "", "info"),
        Row("6 deploy, unchanged redeploy: wall time (local)", median(again_s) * 1000, "ms",
            "", "info"),
    ]  # fmt: skip


# 7 ---------------------------------------------------------------------------------------------
def _init_ms(report: str) -> float | None:
    for part in report.split("\t"):
        if part.startswith("Init Duration: "):
            return float(part.split()[2])
    return None


def _duration_ms(report: str) -> float:
    for part in report.split("\t"):
        if part.startswith("Duration: "):
            return float(part.split()[1])
    raise ValueError(report)


def cold_start(ctx: Context) -> list[Row]:
    """Init Duration of the template on fresh environments vs `python -c "import boto3"`."""
    cloud = ctx.cloud
    name = "bench-cold"
    cloud.deploy(name)
    lam = cloud.aws.lambda_
    base = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    inits: list[float] = []
    firsts: list[float] = []
    floors: list[float] = []
    for i in range(ctx.sizes.cold_repeats):
        # A configuration change retires the warm environment: the next invoke is cold. The
        # deploy's (or the last round's) update may still be in progress: wait it out, as AWS
        # would refuse the change (ResourceConflictException) too.
        lam.get_waiter("function_updated_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        lam.update_function_configuration(
            FunctionName=name, Environment={"Variables": {**base, "BENCH_COLD": str(i)}}
        )
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import boto3"], check=True, timeout=60)
        floors.append((time.perf_counter() - started) * 1000)
        response = lam.invoke(
            FunctionName=name, Payload=json.dumps({"numberOfCalls": 0}).encode(), LogType="Tail"
        )
        response["Payload"].read()
        tail = base64.b64decode(response["LogResult"]).decode()
        report = next(line for line in tail.splitlines() if line.startswith("REPORT "))
        init = _init_ms(report)
        if init is None:
            raise RuntimeError(f"not a cold start: {report}")
        inits.append(init)
        firsts.append(_duration_ms(report))
    init, floor = median(inits), median(floors)
    ctx.notes.append(
        f"cold start: Init Duration from the REPORT of {len(inits)} fresh environments "
        f"(spawn to first /next: interpreter, awslambdaric, handler import); floor = wall time "
        f'of `python -c "import boto3"` in between. The template imports boto3 lazily, on its '
        f"first Invoke: that cold first invocation's Duration was {median(firsts):.0f} ms "
        f"(a numberOfCalls=0 event makes no Invoke, so it is not in this number)"
    )
    return [
        Row("7 cold start: template Init Duration", init, "ms", "<= 1.5x floor",
            verdict(init <= 1.5 * floor), floor=floor),
    ]  # fmt: skip


# 3 ---------------------------------------------------------------------------------------------
class CallLog:
    """Times of every FilterLogEvents request the front door serves."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.times: list[float] = []
        door = self._door = cloud.server.door
        self._saved = door.__dict__.get("handle")  # None: the class's own
        inner = door.handle

        def handle(request: Request) -> Any:
            if request.headers.get("x-amz-target", "").endswith(".FilterLogEvents"):
                self.times.append(time.time())
            return inner(request)

        door.handle = handle  # type: ignore[method-assign]

    def close(self) -> None:
        """The door's handle as it was (the metrics after this one see the door unwrapped)."""
        if self._saved is None:
            self._door.__dict__.pop("handle", None)
        else:
            self._door.handle = self._saved  # type: ignore[method-assign]

    def between(self, start: float, end: float) -> list[float]:
        return [t for t in self.times if start <= t <= end]


def _follower(cloud: LocalCloud, name: str, *args: str, live: bool = True) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RECURSECTL_"))}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", NO_COLOR="1", COLUMNS="120")
    env["RECURSECTL_LIVE_TAIL"] = "1" if live else "0"
    return subprocess.Popen(
        [sys.executable, "-m", "recursectl", "--endpoint-url", cloud.endpoint, "--region",
         "us-east-1", "logs", "--name", name, "--follow", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _chain_latency(ctx: Context, calls: CallLog, live: bool) -> tuple[list[float], list[float]]:
    """`logs --follow --chain ID --json` right after invoking: (latencies ms, call gaps s)."""
    cloud = ctx.cloud
    hops = ctx.sizes.follow_chain
    latencies: list[float] = []
    gaps: list[float] = []
    for _ in range(ctx.sizes.follow_repeats):
        root = cloud.invoke(FUNCTION, {"numberOfCalls": hops})
        began = time.time()
        proc = _follower(cloud, FUNCTION, "--chain", root, "--json", "--since", "5m", live=live)
        out, err = proc.communicate(timeout=120)
        shown = time.time()
        if proc.returncode != 0:
            raise RuntimeError(f"logs --follow exited {proc.returncode}: {err.strip()[-500:]}")
        doc = json.loads(out)
        if not doc.get("complete") or doc["summary"]["count"] != hops + 1:
            raise RuntimeError(f"logs --follow showed an incomplete chain: {doc.get('summary')}")
        last_report = max(inv["end"] for inv in doc["invocations"] if inv.get("end"))
        latencies.append(shown * 1000 - last_report)
        polls = calls.between(began, shown)
        gaps += [b - a for a, b in itertools.pairwise(polls)]
    return latencies, gaps


def follow_latency(ctx: Context) -> list[Row]:
    from bench import b_chain, b_tail

    cloud = ctx.cloud
    b_chain._ensure_deployed(ctx)
    calls = CallLog(cloud)
    hops = ctx.sizes.follow_chain
    try:
        latencies, _ = _chain_latency(ctx, calls, live=True)
        polled, flow_rates = _chain_latency(ctx, calls, live=False)
        idle_s = ctx.sizes.idle_seconds or 3.0
        # Idle: a polling follower of a function that logs nothing; its polls slow to one
        # per 5 s.
        began = time.time()
        proc = _follower(cloud, FUNCTION, "--since", "1s", "--timeout", str(idle_s), live=False)
        threading.Thread(target=proc.communicate, kwargs={"timeout": idle_s + 60}).start()
        proc.wait(timeout=idle_s + 60)
        ended = time.time()
    finally:
        calls.close()
    idle = calls.between(began, ended)
    gaps = [b - a for a, b in itertools.pairwise(idle)]
    steady = gaps[len(gaps) // 2 :]
    idle_rate_steady = 60 / median(steady) if steady else math.nan
    idle_rate_all = len(idle) / (ended - began) * 60
    ctx.notes.append(
        f"follow: `recursectl logs --follow --chain ID --json` as a subprocess, started right "
        f"after invoking a {hops}-hop chain, over Live Tail (the default) and with "
        f"RECURSECTL_LIVE_TAIL=0 (FilterLogEvents only); latency = its exit minus the last "
        f"REPORT's timestamp, median of {len(latencies)} "
        f"(Live Tail {', '.join(f'{x:.0f}' for x in latencies)} ms; "
        f"FilterLogEvents {', '.join(f'{x:.0f}' for x in polled)} ms). Idle: a polling "
        f"follower of a silent function for {idle_s:.0f} s made {len(idle)} FilterLogEvents "
        f"calls ({idle_rate_all:.1f}/min including its back-off ramp); steady state is the "
        f"median gap of the second half"
    )
    # Rates from the gaps between consecutive calls (a short window says nothing per minute).
    flow = 60 / median(flow_rates) if flow_rates else math.nan
    judged = not math.isnan(flow)
    return [
        Row("3 follow latency (Live Tail): last REPORT -> complete shown", median(latencies),
            "ms", "<= 1,000 ms", verdict(median(latencies) <= 1000)),
        Row("3 follow latency (FilterLogEvents): last REPORT -> complete shown",
            median(polled), "ms", "<= 1,000 ms", verdict(median(polled) <= 1000)),
        Row("3 follow: FilterLogEvents calls while events flow", flow, "/min", "<= 60/min",
            verdict(flow <= 60) if judged else "info"),
        Row("3 follow: FilterLogEvents calls when idle (steady)", idle_rate_steady, "/min",
            "<= 12/min",
            verdict(idle_rate_steady <= 12.01) if steady else "info"),
        *b_tail.transport_latency(ctx),
    ]  # fmt: skip
