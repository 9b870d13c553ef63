"""What every benchmark gets: the sizes (full or smoke), one shared local cloud, the floor."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from bench import floor
from bench.cloud import LocalCloud, local_cloud
from bench.harness import Machine, median
from recursectl.local.engine.executor import Limits


@dataclass(frozen=True)
class Sizes:
    chain_short: int = 200  # hops
    chain_long: int = 1000
    chain_repeats: int = 3  # runs of the short chain (the long one runs once)
    floor_samples: int = 300  # per floor measurement
    fanout: int = 4
    fanout_depth: int = 5  # 1 + 4 + ... + 4^5 = 1,365 invocations
    fanout_repeats: int = 2
    follow_repeats: int = 3
    follow_chain: int = 1000  # long enough to be still running while the follower polls
    idle_seconds: float = 30.0
    tail_events: int = 30  # events per transport (follow latency per transport)
    pipeline_events: tuple[int, int] = (100_000, 1_000_000)
    pipeline_repeats: int = 3
    render_sizes: tuple[int, int] = (1000, 10_000)
    render_repeats: int = 3
    deploy_repeats: int = 3
    cold_repeats: int = 5


FULL = Sizes()
SMOKE = Sizes(
    chain_short=8,
    chain_long=16,
    chain_repeats=1,
    floor_samples=20,
    fanout=2,
    fanout_depth=2,
    fanout_repeats=1,
    follow_repeats=1,
    follow_chain=3,
    idle_seconds=2.0,
    tail_events=4,
    pipeline_events=(2_000, 20_000),
    pipeline_repeats=1,
    render_sizes=(50, 200),
    render_repeats=1,
    deploy_repeats=1,
    cold_repeats=1,
)


def bench_limits() -> Limits:
    # Fan-out needs more environments than CPUs: each handler waits on its Invoke calls.
    # Idle environments stay warm for the whole run.
    return Limits(function_concurrency=16, total_concurrency=32, idle_timeout=600.0)


@dataclass
class Context:
    smoke: bool
    machine: Machine
    sizes: Sizes
    notes: list[str] = field(default_factory=list)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _cloud: LocalCloud | None = None
    floors: list[floor.Floor] = field(default_factory=list)

    @property
    def cloud(self) -> LocalCloud:
        """One local cloud for the whole run (started on first use)."""
        if self._cloud is None:
            self._cloud = self._stack.enter_context(local_cloud(bench_limits()))
        return self._cloud

    def measure_floor(self) -> floor.Floor:
        """Measure the hop floor now (benchmarks call this between their own runs)."""
        result = floor.measure(self.sizes.floor_samples)
        self.floors.append(result)
        return result

    @property
    def floor_hop_s(self) -> float:
        return median([f.hop_s for f in self.floors])

    def close(self) -> None:
        self._stack.close()
        self._cloud = None


@contextlib.contextmanager
def context(smoke: bool) -> Iterator[Context]:
    ctx = Context(smoke=smoke, machine=Machine.detect(), sizes=SMOKE if smoke else FULL)
    try:
        yield ctx
    finally:
        ctx.close()
