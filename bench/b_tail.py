"""Metric 3 per transport: how soon a follower's collector has an event after its PutLogEvents
returned, over Live Tail and over the FilterLogEvents poller, and what each costs in
FilterLogEvents calls (the account's quota is 5 a second, shared by every reader)."""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid

from bench.b_cloud import CallLog
from bench.context import Context
from bench.harness import Row, median, percentile, verdict
from recursectl.chain import ChainCollector
from recursectl.watch.follow import live_follower
from recursectl.watch.livefeed import LiveFollower
from recursectl.watch.poller import Poller, make_poller


def _measure(ctx: Context, live: bool, calls: CallLog) -> tuple[list[float], float, str]:
    """(latencies in ms, FilterLogEvents calls a minute while events flow, the transport)."""
    cloud = ctx.cloud
    logs = cloud.aws.logs
    group = f"/bench/tail-{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    aws = cloud.new_aws()
    poller = make_poller(aws, group, int(time.time() * 1000) - 1000)
    feed: Poller | LiveFollower = live_follower(aws, group, poller) if live else poller
    collector = ChainCollector()
    seen: dict[str, float] = {}
    stop = threading.Event()

    def follow() -> None:
        for batch in feed.follow(done=stop.is_set, deadline_s=120):
            collector.add_events(batch)
            now = time.time()
            for event in batch:
                seen.setdefault(event["message"], now)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    if isinstance(feed, LiveFollower):
        time.sleep(feed.handover_s + 1.5)  # past the session's first FilterLogEvents reads
    put: dict[str, float] = {}
    rng = random.Random(7)
    began = time.time()
    for i in range(ctx.sizes.tail_events):
        time.sleep(rng.uniform(0.2, 0.6))  # out of step with any 1 s schedule
        message = f"tail-bench {i}"
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[{"timestamp": int(time.time() * 1000), "message": message}],
        )
        put[message] = time.time()
    deadline = time.time() + 10
    while len(seen) < len(put) and time.time() < deadline:
        time.sleep(0.05)
    ended = time.time()
    stop.set()
    thread.join(timeout=5)
    missing = set(put) - set(seen)
    if missing:
        raise RuntimeError(f"follower never saw {len(missing)} of {len(put)} events")
    transport, fallbacks = "poll", []
    if isinstance(feed, LiveFollower):
        transport, fallbacks = feed.transport, feed.fallbacks
    if live and (transport != "live" or fallbacks):
        raise RuntimeError(f"Live Tail was not used (fell back: {fallbacks})")
    made = calls.between(began, ended)
    # From the gaps between consecutive calls: a short window says little per minute.
    gaps = [b - a for a, b in itertools.pairwise(made)]
    rate = 0.0 if not made else (60 / median(gaps) if gaps else 60 / (ended - began))
    return [(seen[m] - put[m]) * 1000 for m in put], rate, transport


def transport_latency(ctx: Context) -> list[Row]:
    calls = CallLog(ctx.cloud)
    rows: list[Row] = []
    notes: list[str] = []
    measured = []
    try:
        for label, live in (("Live Tail", True), ("FilterLogEvents", False)):
            measured.append((label, live, *_measure(ctx, live, calls)[:2]))
    finally:
        calls.close()
    for label, live, latencies, rate in measured:
        p90 = percentile(latencies, 90)
        med = median(latencies)
        notes.append(f"{label}: median {med:.0f} ms, p90 {p90:.0f} ms, {rate:.0f} calls/min")
        rows += [
            Row(f"3 follow latency ({label}): PutLogEvents -> collector", med, "ms",
                "<= 1,000 ms", verdict(med <= 1000), note=f"p90 {p90:.0f} ms"),
            Row(f"3 follow ({label}): FilterLogEvents calls while events flow", rate, "/min",
                "0/min" if live else "<= 60/min", verdict(rate == 0 if live else rate <= 60)),
        ]  # fmt: skip
    ctx.notes.append(
        f"follow per transport: a follower in this process (recursectl's Live Tail follower, "
        f"then the FilterLogEvents poller alone) of a new log group while "
        f"{ctx.sizes.tail_events} events are written one by one 0.2-0.6 s apart; latency = "
        f"the collector having the event minus its PutLogEvents returning. The Live Tail "
        f"follower is measured after its session's first FilterLogEvents reads (5 s; it "
        f"waits 6.5 s). "
        f"The local cloud sends an update every second, as AWS does; on AWS FilterLogEvents "
        f"also shows events of new streams late, which Live Tail does not. " + "; ".join(notes)
    )
    return rows
