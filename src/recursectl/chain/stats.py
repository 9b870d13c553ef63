"""Chain statistics: counts, wall time, billed time, GB-seconds and an estimated cost."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recursectl import pricing
from recursectl.chain.status import DROPPED, ERROR, MISSING, OK, TIMEOUT

if TYPE_CHECKING:
    from recursectl.chain.snapshot import Invocation


def gb_seconds(billed_ms: float, memory_mb: float) -> float:
    """Lambda's compute unit: billed duration times configured memory (1 GB = 1024 MB)."""
    return billed_ms * memory_mb / 1024.0 / 1000.0


@dataclass(frozen=True)
class Summary:
    """What a chain cost and how it went. Durations in ms; cost is an estimate in USD."""

    count: int  # invocations in the chain, including dropped and missing ones
    ok: int
    errors: int
    timeouts: int
    dropped: int
    missing: int
    running: int  # started and not reported, or announced and not started yet (pending)
    cold_starts: int
    retries: int  # extra attempts of the same request id (async retries)
    wall_ms: float | None  # first START to last REPORT
    billed_ms: float  # every attempt that reported
    gb_seconds: float
    requests: int  # attempts that ran (each is a billed request)
    estimated_cost_usd: float
    capped: int = 0  # invocations where the guard refused a child (depth cap or budget)
    stopped: int = 0  # invocations where the guard ended a chain begun before `stop`
    child_failed: int = 0  # invocations whose Invoke of a child failed
    cost_basis: str = "x86 list price"  # which price the estimate is at

    @property
    def failed(self) -> bool:
        """An invocation errored or timed out, or the chain was cut somewhere."""
        return bool(
            self.errors
            or self.timeouts
            or self.dropped
            or self.missing
            or self.capped
            or self.stopped
            or self.child_failed
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "ok": self.ok,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "dropped": self.dropped,
            "missing": self.missing,
            "running": self.running,
            "cold_starts": self.cold_starts,
            "retries": self.retries,
            "wall_ms": self.wall_ms,
            "billed_ms": self.billed_ms,
            "gb_seconds": round(self.gb_seconds, 6),
            "requests": self.requests,
            "estimated_cost_usd": round(self.estimated_cost_usd, 10),
            "capped": self.capped,
            "stopped": self.stopped,
            "cost_is_estimate": True,
            "cost_basis": self.cost_basis,
        }


# C901 (listed in pyproject.toml): one pass over the invocations, a counter per status.
def summarize(  # noqa: C901
    invocations: Iterable[Invocation], architecture: str | None = None
) -> Summary:
    """Aggregate a chain's invocations (one pass)."""
    count = ok = errors = timeouts = dropped = missing = running = 0
    cold = retries = requests = capped = stopped = child_failed = 0
    billed = gbs = 0.0
    first: int | None = None
    last: int | None = None
    # Each invocation unpacked once (in Invocation's field order) instead of 14 attribute
    # reads: a NamedTuple field read is a descriptor call that 3.11 does not specialize.
    for (
        _rid, _parent, _depth, status, start, end, _dur, _billed, _mem, _max_mem, _init,
        _error, _children, attempts, reported, billed_total, inv_gbs, cold_starts, inv_capped,
        capped_reason, inv_stopped, inv_child_failed, _dropped, _budget, _announced, _lines,
        _lines_dropped, _job,
    ) in invocations:  # fmt: skip
        count += 1
        # Identity against the members: a snapshot's statuses are always Status members, and
        # `==` on a str-mixin enum takes the generic compare.
        if status is OK:
            ok += 1
        elif status is ERROR:
            errors += 1
        elif status is TIMEOUT:
            timeouts += 1
        elif status is DROPPED:
            dropped += 1
        elif status is MISSING:
            missing += 1
        else:
            running += 1
        cold += cold_starts
        if attempts > 1:
            retries += attempts - 1
        requests += reported
        billed += billed_total
        gbs += inv_gbs
        if inv_capped is not None or capped_reason is not None:
            capped += 1
        if inv_stopped:
            stopped += 1
        if inv_child_failed:
            child_failed += 1
        if start is not None and (first is None or start < first):
            first = start
        if end is not None and (last is None or end > last):
            last = end
    wall = float(last - first) if first is not None and last is not None else None
    return Summary(
        count=count,
        ok=ok,
        errors=errors,
        timeouts=timeouts,
        dropped=dropped,
        missing=missing,
        running=running,
        cold_starts=cold,
        retries=retries,
        wall_ms=wall,
        billed_ms=billed,
        gb_seconds=gbs,
        requests=requests,
        estimated_cost_usd=pricing.estimate_usd(gbs, requests, architecture),
        capped=capped,
        stopped=stopped,
        child_failed=child_failed,
        cost_basis=pricing.label(architecture),
    )
