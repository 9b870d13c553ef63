"""Metric 14: what persistence costs. Two local clouds in this process, one with its store
(SQLite, WAL, synchronous=FULL, as `local start` runs it) and one in memory only, the same
chains on each, alternated; then the time a restart takes to replay the store."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.cloud import FUNCTION, LocalCloud, Timeline, local_cloud
from bench.context import Context, bench_limits
from bench.harness import INFO, Row, median
from recursectl.local.frontdoor.server import FrontDoor
from recursectl.local.store import Store

GROUP = f"/aws/lambda/{FUNCTION}"


def _prepare(cloud: LocalCloud) -> None:
    cloud.deploy(FUNCTION, max_calls=100_000)
    lam = cloud.aws.lambda_
    conf = lam.get_function_configuration(FunctionName=FUNCTION)
    variables = {**conf["Environment"]["Variables"], "RECURSECTL_MAX_INVOCATIONS": "1000000"}
    lam.update_function_configuration(FunctionName=FUNCTION, Environment={"Variables": variables})
    lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
    _run(cloud, 10, 1)  # warm-up: the environments a chain alternates between
    _run(cloud, 3, 4)  # and as many as a fan-out keeps busy


def _run(cloud: LocalCloud, calls: int, fanout: int) -> Timeline:
    count = sum(fanout**d for d in range(calls + 1))
    before = cloud.invocations(FUNCTION)
    start_ms = int(time.time() * 1000) - 1000
    event: dict[str, object] = {"numberOfCalls": calls, "fanout": fanout}
    if fanout > 1:
        event["_recursectl"] = {"split": fanout}
    root = cloud.invoke(FUNCTION, event)
    cloud.wait_invocations(FUNCTION, before + count, timeout_s=60 + count * 0.2)
    timeline = Timeline.read(cloud.events(GROUP, start_ms))
    timeline.root = root
    found = len(timeline.members(root))
    if found != count:
        raise RuntimeError(f"chain {root}: {found} of {count} invocations in the logs")
    return timeline


def _replay_ms(path: Path) -> tuple[float, int]:
    """A new front door restored from the store at `path` (as `local start` after a stop)."""
    store = Store(path)
    started = time.perf_counter()
    door = FrontDoor(store=store)
    elapsed = (time.perf_counter() - started) * 1000
    requests = door.restored["requests"]
    door.close()
    return elapsed, requests


def persistence_cost(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    hops, depth = sizes.chain_short, sizes.fanout_depth - 1
    count = sum(sizes.fanout**d for d in range(depth + 1))
    hop: dict[bool, list[float]] = {True: [], False: []}
    rate: dict[bool, list[float]] = {True: [], False: []}
    journal, size_kb, replay_ms, replayed = 0, 0.0, 0.0, 0
    with tempfile.TemporaryDirectory(prefix="recursectl-bench-") as keep:
        snapshot = Path(keep) / "copy.sqlite3"
        # moto's state is global to a process, so one local cloud at a time, alternated
        # (the machine's load is shared), each deployed and warmed up.
        for _ in range(sizes.chain_repeats):
            for persist in (True, False):
                with local_cloud(bench_limits(), persist=persist) as cloud:
                    _prepare(cloud)
                    t = _run(cloud, hops, 1)
                    hop[persist].append(median(t.hops_ms(t.root)))
                    t = _run(cloud, depth, sizes.fanout)
                    rate[persist].append(count / (t.span_ms(t.root) / 1000))
                    store = cloud.server.door.store
                    if store is not None:
                        journal = store.journal_size()
                        files = store.path.parent.glob(store.path.name + "*")
                        size_kb = sum(p.stat().st_size for p in files) / 1024
                        snapshot.unlink(missing_ok=True)
                        store.backup(snapshot)
        # The restart: a new front door replays the last store (as `local start` after a stop).
        replay_ms, replayed = _replay_ms(snapshot)
    on_h, off_h = median(hop[True]), median(hop[False])
    on_r, off_r = median(rate[True]), median(rate[False])
    ctx.notes.append(
        f"persistence: the same {hops}-hop chain and --fanout {sizes.fanout} depth {depth} "
        f"tree ({count} invocations) on a local cloud with its store and on one in memory, "
        f"alternated, {sizes.chain_repeats} of each (each cloud deployed and warmed up first); "
        f"hop = median of each chain's hops (on {', '.join(f'{x:.2f}' for x in hop[True])}; "
        f"off {', '.join(f'{x:.2f}' for x in hop[False])} ms), fan-out rates on "
        f"{', '.join(f'{x:.0f}' for x in rate[True])}, off "
        f"{', '.join(f'{x:.0f}' for x in rate[False])}/s; a store then held {journal:,} "
        f"journaled requests ({size_kb:,.0f} KB with its WAL), replayed by a new front door "
        f"({replayed:,} requests) in {replay_ms:,.0f} ms"
    )
    return [
        Row(f"14 hop latency, {hops}-hop chain, store on vs off", on_h, "ms", "", INFO,
            floor=off_h),
        Row(f"14 fan-out, {count} invocations, store on vs off", on_r, "inv/s", "", INFO,
            floor=off_r),
        Row(f"14 restart: replay {replayed:,} journaled requests", replay_ms, "ms", "", INFO),
    ]  # fmt: skip
