"""Snapshot types: what a chain looked like at one moment. Immutable once built.

`Invocation` is a NamedTuple rather than a frozen dataclass: a snapshot of a 10,000-invocation
chain builds 10,000 of them, and a frozen dataclass's __init__ (object.__setattr__ per field)
costs 6.0 us for 27 fields against 0.8 us for a tuple (measured on the bench machine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from recursectl.chain.job import FAILED, HopInfo, JobProgress
from recursectl.chain.stats import Summary, summarize
from recursectl.chain.status import Status
from recursectl.protocol import REASON_BUDGET, REASON_COST, REASON_COUNTER, REASON_DEPTH

# Why a chain was cut at an invocation (Invocation.cut), most telling first.
CUT_DEPTH = REASON_DEPTH  # the guard refused a child: the depth cap (max_calls)
CUT_BUDGET = REASON_BUDGET  # the guard refused a child: the chain's invocation budget
CUT_COST = REASON_COST  # the guard refused a child: the chain's cost cap (invoke --max-cost)
CUT_COUNTER = REASON_COUNTER  # the guard refused a child: the chain counter was unreachable
_GUARD_CUTS = {REASON_BUDGET: CUT_BUDGET, REASON_COST: CUT_COST, REASON_COUNTER: CUT_COUNTER}
CUT_STOPPED = "stopped"  # the guard refused a child: the chain began before `recursectl stop`
CUT_LOOP = "loop_detection"  # AWS's recursive loop detection dropped this invocation
CUT_DROPPED = "dropped"  # dropped for another reason (event age, ...)
CUT_MISSING = "missing"  # announced, never started (on AWS: also how loop detection shows)
CUT_INVOKE_FAILED = "invoke_failed"  # the Invoke call for a child failed
LOOP_DETECTED = "RecursiveInvocationException"


@dataclass(frozen=True)
class ErrorInfo:
    type: str | None
    message: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"type": self.type, "message": self.message}


@dataclass(frozen=True)
class Line:
    ts: int
    text: str
    level: str | None = None


class Invocation(NamedTuple):
    """One request id of a chain, as far as the logs tell."""

    request_id: str
    parent_id: str | None
    depth: int | None
    status: Status
    start: int | None  # ms epoch of the first START
    end: int | None  # ms epoch of the last REPORT
    duration_ms: float | None
    billed_ms: float | None
    memory_mb: float | None
    max_memory_mb: float | None
    init_ms: float | None  # Init Duration: this attempt was a cold start
    error: ErrorInfo | None
    children: tuple[str, ...]  # in announced order, then unannounced ones by start
    attempts: int = 1
    reported_attempts: int = 0
    billed_total_ms: float = 0.0  # over every attempt
    gb_seconds: float = 0.0
    cold_starts: int = 0
    capped: int | None = None  # the depth cap (max calls) when the guard refused a child
    capped_reason: str | None = None  # "depth" or "budget" (None: an old helper, depth)
    stopped: bool = False  # `recursectl stop` ended the chain here: no child was invoked
    child_failed: tuple[str, ...] = ()
    dropped_reason: str | None = None
    budget: int | None = None  # invocations this subtree could still make (its hop marker)
    announced_at: int | None = None  # parent's REPORT time, when this one was announced
    lines: tuple[Line, ...] = ()
    lines_dropped: int = 0
    job: HopInfo | None = None  # a hop of a long job (docs/jobs.md)

    @property
    def short_id(self) -> str:
        return self.request_id[:8]

    @property
    def cut(self) -> str | None:
        """Why the chain was cut here (a CUT_* value), or None."""
        status = self.status
        if (
            status == "ok"
            and self.capped is None
            and self.capped_reason is None
            and not self.stopped
            and not self.child_failed
        ):
            return None  # the common case, first: asked of every invocation of a big tree
        if self.capped is not None or self.capped_reason is not None:
            return _GUARD_CUTS.get(self.capped_reason or "", CUT_DEPTH)
        if self.stopped:
            return CUT_STOPPED
        if status == "dropped":
            return CUT_LOOP if self.dropped_reason == LOOP_DETECTED else CUT_DROPPED
        if status == "missing":
            return CUT_MISSING
        if self.child_failed:
            return CUT_INVOKE_FAILED
        return None

    @property
    def healthy(self) -> bool:
        # `cut is None`, spelled out: the renderer asks every invocation of a big tree.
        return (
            self.status == "ok"
            and self.capped is None
            and self.capped_reason is None
            and not self.stopped
            and not self.child_failed
        )

    def to_dict(self) -> dict[str, Any]:
        # One unpacking instead of 27 attribute reads (and the `cut` property inlined for
        # the common case): the --json document of a 9,841-invocation tree calls this for
        # every invocation.
        (
            request_id, parent_id, depth, status, start, end, duration_ms, billed_ms,
            memory_mb, max_memory_mb, init_ms, error, children, attempts, _reported,
            _billed_total, _gbs, _cold, capped, capped_reason, stopped, child_failed,
            dropped_reason, budget, _announced, lines, _dropped, job,
        ) = self  # fmt: skip
        healthy = (
            status == "ok"
            and capped is None
            and capped_reason is None
            and not stopped
            and not child_failed
        )
        doc: dict[str, Any] = {
            "request_id": request_id,
            "parent_id": parent_id,
            "depth": depth,
            "status": status,  # a str: json.dumps writes its value
            "start": start,
            "end": end,
            "duration_ms": duration_ms,
            "billed_ms": billed_ms,
            "memory_mb": memory_mb,
            "max_memory_mb": max_memory_mb,
            "init_ms": init_ms,
            "error": error.to_dict() if error else None,
            "children": list(children),
            "attempts": attempts,
            "budget": budget,
            "capped": capped,
            "capped_reason": capped_reason,
            "stopped": stopped,
            "child_failed": list(child_failed),
            "dropped_reason": dropped_reason,
            "cut": None if healthy else self.cut,
        }
        if lines:
            doc["lines"] = [{"ts": ln.ts, "level": ln.level, "text": ln.text} for ln in lines]
        if job is not None:
            doc["job"] = job.to_dict()
        return doc


@dataclass(frozen=True)
class Chain:
    """A snapshot of one chain: its invocations in tree pre-order (or time order if unlinked).

    `linked` is False when the function logs no recursectl markers: then the invocations are
    a flat list in time order and parent/child edges are unknown. `is_complete` was decided
    when the snapshot was taken (chain/status.py), at `now_ms`.
    """

    chain_id: str
    linked: bool
    invocations: tuple[Invocation, ...]
    now_ms: int | None
    is_complete: bool
    architecture: str | None = None  # the function's, for the cost estimate (None: x86_64)
    job: JobProgress | None = None  # the chain runs a long job (docs/jobs.md): its line
    _by_id: dict[str, Invocation] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id = {inv.request_id: inv for inv in self.invocations}
        object.__setattr__(self, "_by_id", by_id)

    def __len__(self) -> int:
        return len(self.invocations)

    def complete(self) -> bool:
        return self.is_complete

    @property
    def root(self) -> Invocation | None:
        return self._by_id.get(self.chain_id) or (self.invocations[0] if self.invocations else None)

    @property
    def start(self) -> int | None:
        starts = [inv.start for inv in self.invocations if inv.start is not None]
        return min(starts) if starts else None

    def get(self, request_id: str) -> Invocation | None:
        return self._by_id.get(request_id)

    def children_of(self, request_id: str) -> list[Invocation]:
        inv = self._by_id.get(request_id)
        if inv is None:
            return []
        return [self._by_id[c] for c in inv.children if c in self._by_id]

    def cuts(self) -> list[Invocation]:
        """The invocations where the chain was cut (by the guard, AWS, or a failed Invoke)."""
        return [inv for inv in self.invocations if inv.cut is not None]

    @property
    def failed(self) -> bool:
        """An invocation errored or timed out, or the chain was cut somewhere; a job's chain
        failed when the job did (a hop that failed and was retried is part of a job's run)."""
        if self.job is not None:
            return self.job.status == FAILED
        return self.summary().failed

    def summary(self) -> Summary:
        return summarize(self.invocations, self.architecture)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of `recursectl logs --json`."""
        summary = self.summary()
        doc: dict[str, Any] = {
            "chain_id": self.chain_id,
            "complete": self.is_complete,
            "failed": summary.failed if self.job is None else self.failed,
            "linked": self.linked,
        }
        if self.job is not None:
            doc["job"] = self.job.to_dict()
        doc["invocations"] = [inv.to_dict() for inv in self.invocations]
        doc["summary"] = summary.to_dict()
        return doc
