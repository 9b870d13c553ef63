"""A long job as the logs show it (docs/jobs.md): each hop's facts, and the job's progress line.

`HopInfo` is an invocation's place in its job (hop number, delivery, checkpoints, the
statuses it logged, a duplicate delivery); `JobProgress` is the one line `invoke --follow`
and `logs` show above the tree, computed once per snapshot from the job's hops. Pure: the
time is the snapshot's.

Order between hops comes from the markers (hop number, then delivery), never from the hops'
clocks (two execution environments' clocks may disagree); a timestamp orders only what one
hop wrote itself, and gives the elapsed time and the estimate, which are for display.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recursectl import pricing
from recursectl.chain.records import Progress
from recursectl.chain.values import json_num

if TYPE_CHECKING:
    from recursectl.chain.snapshot import Invocation

RUNNING = "running"
DONE = "done"
FAILED = "failed"
PAUSED = "paused"
CANCELLED = "cancelled"
RETRY = "retry"  # a `job` marker's status for a hop handed to a retry: the job runs on
FINAL = frozenset({DONE, FAILED, PAUSED, CANCELLED})


@dataclass(frozen=True)
class Checkpoint:
    ts: int
    progress: Progress = ()
    nbytes: int | None = None
    spilled: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "progress": dict(self.progress),
            "bytes": self.nbytes,
            "spilled": self.spilled,
        }


@dataclass(frozen=True)
class JobEvent:
    ts: int
    status: str
    error: str | None = None


@dataclass(frozen=True)
class HopInfo:
    """One invocation as a hop of a job."""

    job: str
    seq: int | None = None
    attempt: int | None = None
    checkpoints: tuple[Checkpoint, ...] = ()  # in the hop's own time order
    checkpoints_dropped: int = 0
    events: tuple[JobEvent, ...] = ()
    duplicate_of: str | None = None  # a duplicate delivery: the request that holds the claim

    @property
    def ran(self) -> bool:
        """A hop's delivery (its hop marker names the attempt, or it checkpointed), not the
        delivery of a failure record that only said `retry` or `failed` about the hop."""
        return self.attempt is not None or bool(self.checkpoints) or self.duplicate_of is not None

    @property
    def order(self) -> tuple[int, int]:
        """Where the hop stands in its job: hop number, then delivery."""
        return (-1 if self.seq is None else self.seq, self.attempt or 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.job,
            "seq": self.seq,
            "attempt": self.attempt,
            "checkpoints": [c.to_dict() for c in self.checkpoints],
            "checkpoints_dropped": self.checkpoints_dropped,
            "statuses": [{"ts": e.ts, "status": e.status, "error": e.error} for e in self.events],
            "duplicate_of": self.duplicate_of,
        }


@dataclass(frozen=True)
class JobProgress:
    """The job line: how far the job has come, what it cost, how it stands."""

    job_id: str
    status: str  # running | paused | done | failed | cancelled
    hops: int  # hops that ran the handler (each number once)
    seq: int | None  # the latest hop's number
    attempts: int  # deliveries that ran the handler (hops + retries)
    duplicates: int  # duplicate deliveries, ignored
    checkpoints: int
    spilled: int  # checkpoints whose state went to the job bucket
    progress: Progress  # the latest checkpoint's, as the handler wrote it
    done: float | None  # progress["done"] and ["total"] when both are numbers
    total: float | None
    started_ms: int | None
    elapsed_ms: float | None
    eta_ms: float | None  # time left at the recent rate (an estimate; None: unknown)
    spend_usd: float  # the job's invocations at the list price (chain/stats' cost model)
    cost_basis: str
    error: str | None = None
    first_seq: int | None = None  # the first hop in these logs (above 0: a resumed job's run)
    # A running job whose next hop was invoked and never started (the grace time is over) and
    # nothing else runs: stopped (reserved concurrency 0), throttled, or its event queued.
    waiting: int | None = None

    @property
    def retries(self) -> int:
        return max(0, self.attempts - self.hops)

    @property
    def fraction(self) -> float | None:
        if self.done is None or not self.total or self.total <= 0:
            return None
        return min(1.0, max(0.0, self.done / self.total))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.job_id,
            "status": self.status,
            "hops": self.hops,
            "seq": self.seq,
            "attempts": self.attempts,
            "retries": self.retries,
            "duplicates": self.duplicates,
            "checkpoints": self.checkpoints,
            "spilled": self.spilled,
            "progress": dict(self.progress),
            "done": self.done,
            "total": self.total,
            "fraction": None if self.fraction is None else round(self.fraction, 6),
            "started": self.started_ms,
            "elapsed_ms": self.elapsed_ms,
            "eta_ms": None if self.eta_ms is None else round(self.eta_ms),
            "spend_usd": round(self.spend_usd, 10),
            "cost_is_estimate": True,
            "cost_basis": self.cost_basis,
            "error": self.error,
            "first_seq": self.first_seq,
            "waiting": self.waiting,
        }


def _latest_status(hops: Sequence[HopInfo]) -> tuple[str, str | None]:
    """The job's status from the hops' `job` markers.

    A final word (done, failed, paused, cancelled) ends the job in this chain (a resume starts
    a new one), so it outranks a `retry`: the `failed` after the last attempt is written by
    the delivery of that attempt's failure record, which is no numbered attempt itself.
    Among words of one kind, the latest hop's (by number and delivery), then its own clock.
    """
    best: tuple[bool, tuple[int, int], int, str, str | None] | None = None
    for hop in hops:
        for ev in hop.events:
            cand = (ev.status in FINAL, hop.order, ev.ts, ev.status, ev.error)
            if best is None or cand[:3] > best[:3]:
                best = cand
    if best is None or best[3] not in FINAL:
        return RUNNING, None
    return best[3], best[4]


def _progress_rate(points: Sequence[tuple[tuple[int, int], Checkpoint]]) -> float | None:
    """Items per ms between the first and the latest checkpoint that report `done`."""
    done = [
        (c.ts, d)
        for _, c in points
        if c.progress and (d := json_num(dict(c.progress).get("done"))) is not None
    ]
    if len(done) < 2:
        return None
    (t0, d0), (t1, d1) = done[0], done[-1]
    if t1 <= t0 or d1 <= d0:
        return None
    return (d1 - d0) / (t1 - t0)


def _waiting(invs: Sequence[Invocation]) -> int | None:
    """The number of a hop that was announced and never started, when nothing else runs."""
    missing: int | None = None
    for inv in invs:
        if inv.status in ("running", "pending"):
            return None  # the job is moving
        if inv.status == "missing" and inv.job is not None:
            seq = inv.job.seq if inv.job.seq is not None else -1
            missing = seq if missing is None else max(missing, seq)
    return missing


def _dup(inv: Invocation) -> str | None:
    return inv.job.duplicate_of if inv.job is not None else None


def job_progress(
    invocations: Sequence[Invocation], now_ms: int | None, architecture: str | None = None
) -> JobProgress | None:
    """The job line of a chain's invocations, or None when no hop of a job is among them."""
    from recursectl.chain.stats import summarize

    first = next((inv.job for inv in invocations if inv.job is not None), None)
    if first is None:
        return None
    job_id = first.job
    invs = [inv for inv in invocations if inv.job is not None and inv.job.job == job_id]
    hops = [inv.job for inv in invs if inv.job is not None]
    # A duplicate delivery under its own request id (Lambda may deliver an event twice with
    # one id) is a second attempt of a hop that ran: counted as a duplicate, not a retry.
    delivered = [inv for inv in invs if inv.job is not None and inv.job.ran]
    runs = [inv for inv in delivered if _dup(inv) in (None, inv.request_id)]
    twice = sum(1 for inv in runs if _dup(inv) == inv.request_id)
    seqs = {inv.job.seq for inv in runs if inv.job is not None and inv.job.seq is not None}
    hop_count = len(seqs) if seqs else len(runs)
    attempts = sum(max(1, inv.attempts) for inv in runs) - twice
    # A hop numbers its deliveries: attempt 2 of a hop says one delivery failed before it,
    # even when that one left no job marker (a first hop that crashed before checkpointing).
    last_attempt: dict[int, int] = {}
    for inv in runs:
        if inv.job is not None and inv.job.seq is not None and inv.job.attempt:
            seq = inv.job.seq
            last_attempt[seq] = max(last_attempt.get(seq, 1), inv.job.attempt)
    attempts = max(attempts, hop_count + sum(a - 1 for a in last_attempt.values()))
    points = sorted(
        ((inv.job.order, c) for inv in runs if inv.job is not None for c in inv.job.checkpoints),
        key=lambda p: (p[0], p[1].ts),
    )
    # continue_with() checkpoints the state it hands on without a progress of its own: the
    # progress shown is the latest one a checkpoint reported.
    reported = [p for p in points if p[1].progress]
    latest = reported[-1][1] if reported else None
    progress = latest.progress if latest is not None else ()
    values = dict(progress)
    done, total = json_num(values.get("done")), json_num(values.get("total"))
    status, error = _latest_status(hops)
    starts = [inv.start for inv in invs if inv.start is not None]
    ends = [inv.end for inv in invs if inv.end is not None]
    started = min(starts) if starts else None
    if started is None:
        elapsed = None
    elif status == RUNNING and now_ms is not None:
        elapsed = float(max(0, now_ms - started))
    else:
        elapsed = float(max([*ends, *starts]) - started)
    waiting = _waiting(invs) if status == RUNNING else None
    eta = None
    moving = status == RUNNING and waiting is None
    if moving and done is not None and total is not None and total > done:
        rate = _progress_rate(points)
        if rate is None and latest is not None and started is not None and done > 0:
            span = latest.ts - started
            rate = done / span if span > 0 else None
        eta = (total - done) / rate if rate else None
        if eta is not None and not math.isfinite(eta):
            eta = None  # a progress of 1e308 items: no estimate
    summary = summarize(invs, architecture)
    return JobProgress(
        job_id=job_id,
        status=status,
        hops=hop_count,
        seq=max(seqs) if seqs else None,
        attempts=attempts,
        duplicates=len(delivered) - len(runs) + twice,
        checkpoints=len(points),
        spilled=sum(1 for _, c in points if c.spilled),
        progress=progress,
        done=done,
        total=total,
        started_ms=started,
        elapsed_ms=elapsed,
        eta_ms=eta,
        spend_usd=summary.estimated_cost_usd,
        cost_basis=pricing.label(architecture),
        error=error,
        first_seq=min(seqs) if seqs else None,
        waiting=waiting,
    )
