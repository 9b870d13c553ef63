"""Linking: the collector's state -> immutable Chain snapshots (tree pre-order or time order)."""

from __future__ import annotations

from dataclasses import dataclass

from recursectl.chain.job import FINAL as JOB_FINAL
from recursectl.chain.job import Checkpoint, HopInfo, JobEvent, job_progress
from recursectl.chain.job_state import HopJob
from recursectl.chain.records import REPORT_TIMEOUT, AppLine, Failure, InitReport, Report
from recursectl.chain.snapshot import Chain, ErrorInfo, Invocation, Line
from recursectl.chain.state import RequestState, State
from recursectl.chain.status import (
    ERROR,
    OK,
    REPORT_STATUS,
    RUNNING,
    TIMEOUT,
    Timing,
    chain_complete,
    status_of,
)

Failures = dict[str, list[Failure | InitReport]]
_new_tuple = tuple.__new__


@dataclass(frozen=True)
class Clock:
    """What a snapshot is judged against: the time it is taken at and the timing rules."""

    now_ms: int | None
    timing: Timing
    architecture: str | None = None  # the function's, for the cost estimate (None: x86_64)


def _failure_of(
    inv: RequestState,
    stream_failures: list[Failure | InitReport] | None,
    first_start: int | None,
    latest_start: int | None,
) -> tuple[str | None, ErrorInfo | None]:
    """(failure status, error) from the error and timeout lines of the latest attempt."""
    failures: list[Failure | InitReport] = list(inv.failures.values()) if inv.failures else []
    if stream_failures:
        failures.extend(stream_failures)
    status: str | None = None
    error: ErrorInfo | None = None
    for fail in failures:
        # Only failures of the latest attempt count towards its status; what was logged
        # before the first START (the init phase) belongs to the first attempt.
        if (
            latest_start is not None
            and fail.ts < latest_start
            and not (first_start == latest_start and fail.ts < first_start)
        ):
            continue
        if fail.status == REPORT_TIMEOUT or status is None:
            status = fail.status
        message = fail.message if isinstance(fail, Failure) else None
        if error is None or (error.message is None and message):
            error = ErrorInfo(fail.error_type, message)
    return status, error


def _lines(inv: RequestState, extra: list[AppLine] | None) -> tuple[Line, ...]:
    recs = list(inv.lines or ())
    if extra:
        recs.extend(extra)
    if not recs:
        return ()
    return tuple(Line(ln.ts, ln.text, ln.level) for ln in sorted(recs, key=lambda r: r.ts))


# C901 (listed in pyproject.toml): one immutable snapshot from the collector's mutable state,
# field by field.
def snapshot(  # noqa: C901
    inv: RequestState,
    children: tuple[str, ...],
    depth: int | None,
    stream_failures: list[Failure | InitReport] | None,
    announced_at: int | None,
    clock: Clock,
    extra_lines: list[AppLine] | None = None,
) -> Invocation:
    starts = inv.starts
    start: int | None
    latest_start: int | None
    if len(starts) == 1:  # the common case, without building iterators
        start = latest_start = next(iter(starts.values()))
    elif starts:
        start, latest_start = min(starts.values()), max(starts.values())
    else:
        start = latest_start = None
    report: Report | None = None
    billed_total = gbs = 0.0
    cold = 0
    for rep in inv.reports.values():
        if report is None or rep.ts > report.ts:
            report = rep
        billed = rep.billed_ms
        if billed is not None:
            billed_total += billed
            if rep.memory_mb is not None:
                gbs += billed * rep.memory_mb / 1024_000.0
        if rep.init_ms is not None:
            cold += 1
    failure_status = error = None
    if inv.failures or stream_failures:  # usually neither
        failure_status, error = _failure_of(inv, stream_failures, start, latest_start)
    r = report
    if r is not None and failure_status is None and (latest_start is None or latest_start <= r.ts):
        # status_of()'s common case (reported, no retry in flight, no failure line), inlined:
        # a snapshot runs this once per invocation; the call cost 6% of a 9,841-invocation
        # tree's snapshot.
        status = REPORT_STATUS.get(r.status, ERROR)
    else:
        status = status_of(
            r.status if r else None,
            bool(starts),  # started
            r is not None and latest_start is not None and latest_start > r.ts,  # restarted
            inv.dropped_reason is not None,  # dropped
            announced_at,
            inv.announced_ts is not None,  # announced
            failure_status,
            clock.now_ms,
            clock.timing.grace_ms,
        )
    if r is not None and status is not RUNNING:
        if r.error_type and (error is None or error.type != r.error_type):
            error = ErrorInfo(r.error_type, error.message if error else None)
        if status is OK:
            error = None
    if status is TIMEOUT and error is None:
        error = ErrorInfo("Task timed out", None)
    n_reports = len(inv.reports)
    # tuple.__new__ with the fields in Invocation's order: the NamedTuple's own __new__ (a
    # Python function of 27 arguments) cost 0.9 us per call against 0.18 us, and a snapshot
    # of a big tree makes one per invocation.
    return _new_tuple(Invocation, (
        inv.request_id, inv.parent_id, depth, status, start,
        r.ts if r else None, r.duration_ms if r else None, r.billed_ms if r else None,
        r.memory_mb if r else None, r.max_memory_mb if r else None, r.init_ms if r else None,
        error, children, max(len(starts), n_reports, 1), n_reports, billed_total, gbs, cold,
        inv.capped, inv.capped_reason, inv.stopped,
        tuple(inv.child_failed.values()) if inv.child_failed else (),
        inv.dropped_reason, inv.budget, announced_at,
        _lines(inv, extra_lines) if inv.lines or extra_lines else (), inv.lines_dropped,
        None if inv.job is None else hop_info(inv.job),
    ))  # fmt: skip


def hop_info(hop: HopJob) -> HopInfo:
    """The immutable view of a hop's job state (checkpoints and statuses in the hop's order)."""
    return HopInfo(
        hop.job,
        hop.seq,
        hop.attempt,
        tuple(Checkpoint(ts, p, n, sp) for ts, _k, p, n, sp in sorted(hop.checkpoints.values())),
        hop.checkpoints_dropped,
        tuple(JobEvent(ts, st, err) for ts, _k, st, err in sorted(hop.events.values())),
        hop.holder,
    )


def _start_key(inv: RequestState) -> tuple[int, str]:
    return (inv.first_start() or 0, inv.request_id)


def _kids(state: State, chain_id: str) -> tuple[dict[str, list[str]], list[str]]:
    """Children that only named their parent in their own hop marker (by start time), and
    the roots: the chain's root, then members whose parent is unknown here (the window
    started mid-chain, or the parent's markers have not arrived yet), in time order."""
    invs = state.invs
    members = state.members[chain_id]
    member_set = set(members)
    extra: dict[str, list[str]] = {}
    orphans: list[str] = []
    for rid in members:
        pid = invs[rid].parent_id
        if pid is not None and pid in member_set:
            if rid not in (invs[pid].child_set or ()):
                extra.setdefault(pid, []).append(rid)
        elif rid != chain_id:
            orphans.append(rid)
    for rids in extra.values():
        rids.sort(key=lambda r: _start_key(invs[r]))
    orphans.sort(key=lambda r: _start_key(invs[r]))
    roots = [chain_id] if chain_id in member_set else []
    return extra, roots + orphans


def linked_chain(
    state: State,
    chain_id: str,
    failures: Failures,
    parked: dict[str, list[AppLine]],
    clock: Clock,
) -> Chain:
    invs = state.invs
    extra, roots = _kids(state, chain_id)
    out: list[Invocation] = []
    seen: set[str] = set()
    jobs = False
    # Iterative pre-order DFS: a 1,000-deep linear chain must not hit recursion limits.
    stack: list[tuple[str, int | None]] = [(r, None) for r in reversed(roots)]
    while stack:
        rid, parent_depth = stack.pop()
        if rid in seen:
            continue
        seen.add(rid)
        inv = invs[rid]
        depth = inv.depth
        if depth is None:
            depth = inv.announced_depth
        if depth is None and parent_depth is not None:
            depth = parent_depth + 1
        if depth is None and rid == chain_id:
            depth = 0
        kids = inv.children
        if not kids:
            children: tuple[str, ...] = ()
        elif len(kids) == 1:  # a linear chain
            children = (kids[0][2],)
        else:
            children = tuple(c for _, _, c in sorted(kids))
        more = extra.get(rid) if extra else None
        if more:
            children += tuple(more)
        announced_at = None
        if inv.announced_ts is not None:
            parent = invs.get(inv.parent_id) if inv.parent_id else None
            announced_at = parent.last_report_ts if parent is not None else None
        fails = failures.get(rid) if failures else None
        lines = parked.get(rid) if parked else None
        jobs = jobs or inv.job is not None
        out.append(snapshot(inv, children, depth, fails, announced_at, clock, lines))
        for child in reversed(children):
            if child not in seen:
                stack.append((child, depth))
    return _chain(chain_id, True, out, clock, jobs)


def unlinked_chain(
    state: State, failures: Failures, parked: dict[str, list[AppLine]], clock: Clock
) -> Chain | None:
    """Invocations no marker links, in time order, as one chain."""
    # With markers in these logs, a START whose hop marker has not arrived yet is not an
    # unmarked invocation (the marker precedes REPORT in the same stream): wait for it.
    need_report = state.markers_seen
    invs = state.invs
    rids = [
        rid
        for rid, inv in invs.items()
        if inv.chain_id is None and (inv.reports or (inv.starts and not need_report))
    ]
    if not rids:
        return None
    rids.sort(key=lambda r: (invs[r].first_start() or invs[r].last_report_ts or 0, r))
    out = [snapshot(invs[r], (), None, failures.get(r), None, clock, parked.get(r)) for r in rids]
    return _chain(rids[0], False, out, clock)


def _chain(
    chain_id: str, linked: bool, out: list[Invocation], clock: Clock, jobs: bool = False
) -> Chain:
    # Pre-order: a linked chain's root, when seen, comes first.
    root = out[0] if out and (not linked or out[0].request_id == chain_id) else None
    complete = chain_complete(linked, root, out, clock.now_ms, clock.timing)
    job = job_progress(out, clock.now_ms, clock.architecture) if jobs else None
    if job is not None and job.status not in JOB_FINAL and job.waiting is None:
        # A job runs on until a hop says it ended (done, failed, paused, cancelled): a hop
        # that failed is retried by a delivery nothing announces, so a quiet tree is not the
        # end of it. One whose next hop never started is waiting on something else (a
        # stopped function): as far as these logs go, that is where it stands.
        complete = False
    return Chain(chain_id, linked, tuple(out), clock.now_ms, complete, clock.architecture, job)
