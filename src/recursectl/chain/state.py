"""The collector's state: what is known per request id and per log stream, fed record by record.

Records may arrive in any order (events of a new log stream show up late), more than once
(duplicate event ids), and a retried async invocation repeats its request id with a new
START/REPORT. Everything is keyed so that adding a record twice changes nothing and the order
of arrival does not change the result.

Which markers are trusted (a handler can print anything): a marker counts only when it
appears in the log stream of an execution environment that ran its request (`req`), after
that request's START and before any other request started there; a `dropped` marker only in
a stream that is no execution environment's (the local cloud's `recursectl-local/drops`). A
marker that does not (yet) qualify is parked and tried again when a START of its stream
arrives; one that never qualifies is shown as a handler line, never linked.
"""

from __future__ import annotations

import re
from bisect import bisect_right, insort
from collections import deque
from typing import Any

from recursectl.chain.job_state import HopJob
from recursectl.chain.records import AppLine, Failure, InitReport, Marker, Report
from recursectl.protocol import (
    EV_CAPPED,
    EV_CHILD,
    EV_CHILD_FAILED,
    EV_DROPPED,
    EV_HOP,
    EV_STOPPED,
)

Key = Any  # an event id, or (kind, ts, stream) when the event has none
# AWS names an execution environment's stream `YYYY/MM/DD/[version]<hex>`.
_ENV_STREAM = re.compile(r"\d{4}/\d{2}/\d{2}/\[")
MAX_PARKED = 10_000  # per stream: a handler printing forged markers in a loop stays bounded


def key_of(kind: str, record: Any) -> Key:
    return record.event_id if record.event_id is not None else (kind, record.ts, record.stream)


class RequestState:
    """Mutable per-request state (containers that most requests never need stay None).

    Hand-written rather than a dataclass: one is built per request in the hot loop, and the
    generated __init__ (21 parameters, three default factories) cost 0.57 us against 0.44 us.
    """

    __slots__ = (
        "announced_depth", "announced_ts", "budget", "capped", "capped_reason", "chain_id",
        "child_failed", "child_set", "children", "depth", "dropped_reason", "failures", "job",
        "last_report_ts", "line_keys", "lines", "lines_dropped", "parent_id", "reports",
        "request_id", "starts", "stopped",
    )  # fmt: skip

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.chain_id: str | None = None
        self.parent_id: str | None = None
        self.depth: int | None = None
        self.budget: int | None = None
        self.announced_depth: int | None = None
        self.announced_ts: int | None = None
        self.starts: dict[Key, int] = {}
        self.reports: dict[Key, Report] = {}
        self.last_report_ts: int | None = None  # the latest REPORT's time, kept as they come
        self.children: list[tuple[int, str, str]] = []  # (ts, event id, id)
        self.child_set: set[str] | None = None
        self.capped: int | None = None
        self.capped_reason: str | None = None
        self.stopped = False
        self.child_failed: dict[Key, str] | None = None
        self.dropped_reason: str | None = None
        self.failures: dict[Key, Failure] | None = None
        self.lines: list[AppLine] | None = None
        self.line_keys: set[Key] | None = None
        self.lines_dropped = 0
        self.job: HopJob | None = None  # a hop of a long job (docs/jobs.md)

    def first_start(self) -> int | None:
        return min(self.starts.values()) if self.starts else None


class State:
    """Per request and per stream state; the `ChainCollector` feeds it and reads it."""

    def __init__(self, *, keep_lines: bool, max_lines: int) -> None:
        self.keep_lines = keep_lines
        self.max_lines = max_lines
        self.invs: dict[str, RequestState] = {}
        self.members: dict[str, list[str]] = {}  # chain id -> request ids (linked chains)
        # Per log stream: sorted (start ts, request id); an execution environment runs one
        # request at a time, so a line without a request id belongs to the last START before it.
        self.stream_starts: dict[str, list[tuple[int, str]]] = {}
        self.stream_failures: dict[str, dict[Key, Failure | InitReport]] = {}
        self.pending_lines: dict[str, deque[AppLine]] = {}
        self.parked: dict[str, dict[Key, Marker]] = {}  # markers not trusted (yet), per stream
        self.markers_seen = False
        self.env_starts: dict[str, int] = {}  # stream -> its (earliest) INIT_START's time

    def inv(self, request_id: str) -> RequestState:
        inv = self.invs.get(request_id)
        if inv is None:
            inv = self.invs[request_id] = RequestState(request_id)
        return inv

    def join(self, inv: RequestState, chain_id: str | None) -> None:
        if chain_id and inv.chain_id is None:
            inv.chain_id = chain_id
            self.members.setdefault(chain_id, []).append(inv.request_id)

    def env_start(self, stream: str, ts: int) -> None:
        known = self.env_starts.get(stream)
        if known is None or ts < known:
            self.env_starts[stream] = ts

    # trust ---------------------------------------------------------------------------------
    def trusted(self, req: str, stream: str, ts: int) -> bool:
        """Did `req` run in `stream` at `ts` (its START at or before, no other START between)?"""
        starts = self.stream_starts.get(stream)
        if not starts:
            return False
        last_ts, last_rid = starts[-1]
        if last_rid == req and last_ts <= ts:
            return True  # the common case: the marker follows its own START
        i = bisect_right(starts, (ts, "\uffff")) - 1
        # Starts at exactly `ts` may be the next request's (1 ms resolution): any of them,
        # or the group just before, may own the marker.
        while i >= 0 and starts[i][0] == ts:
            if starts[i][1] == req:
                return True
            i -= 1
        if i < 0:
            return False
        group = starts[i][0]
        while i >= 0 and starts[i][0] == group:
            if starts[i][1] == req:
                return True
            i -= 1
        return False

    def park(self, rec: Marker) -> None:
        parked = self.parked.get(rec.stream)
        if parked is None:
            parked = self.parked[rec.stream] = {}
        if len(parked) < MAX_PARKED:
            parked[key_of("marker", rec)] = rec

    def _retry_parked(self, stream: str) -> None:
        parked = self.parked.get(stream)
        if not parked:
            return
        for k, rec in list(parked.items()):
            if self.trusted(rec.req, stream, rec.ts):
                del parked[k]
                self.apply_marker(rec)

    # feeding -------------------------------------------------------------------------------
    def start(self, request_id: str, ts: int, stream: str, key: Key) -> None:
        inv = self.invs.get(request_id)
        if inv is None:
            inv = self.invs[request_id] = RequestState(request_id)
        starts = inv.starts
        if key in starts:
            return
        starts[key] = ts
        by_stream = self.stream_starts.get(stream)
        item = (ts, request_id)
        if by_stream is None:
            self.stream_starts[stream] = [item]
        elif by_stream[-1] <= item:
            by_stream.append(item)
        else:
            insort(by_stream, item)
        if self.parked:
            self._retry_parked(stream)
        if self.pending_lines:
            pending = self.pending_lines.pop(stream, None)
            if pending:
                for line in pending:
                    self.add_line(line)

    def report(self, rec: Report) -> None:
        inv = self.invs.get(rec.request_id)
        if inv is None:
            inv = self.invs[rec.request_id] = RequestState(rec.request_id)
        inv.reports[key_of("report", rec)] = rec
        if inv.last_report_ts is None or rec.ts > inv.last_report_ts:
            inv.last_report_ts = rec.ts

    def hop(
        self, req: str, chain: str | None, parent: str | None, depth: int | None, budget: int | None
    ) -> None:
        inv = self.invs.get(req)
        if inv is None:
            inv = self.invs[req] = RequestState(req)
        inv.parent_id = parent
        if depth is not None:
            inv.depth = depth
        if budget is not None:
            inv.budget = budget
        if chain is None:
            parent_inv = self.invs.get(parent) if parent else None
            chain = parent_inv.chain_id if parent_inv is not None else (None if parent else req)
        if chain and inv.chain_id is None:
            self.join(inv, chain)

    def child(
        self, req: str, chain: str | None, child_id: str, depth: int | None, ts: int, eid: str
    ) -> None:
        invs = self.invs
        parent = invs.get(req)
        if parent is None:
            parent = invs[req] = RequestState(req)
        if chain and parent.chain_id is None:
            self.join(parent, chain)
        if parent.child_set is None:
            parent.child_set = {child_id}
            parent.children.append((ts, eid, child_id))
        elif child_id not in parent.child_set:
            parent.child_set.add(child_id)
            parent.children.append((ts, eid, child_id))
        else:
            # Keep the earliest announcement, whatever order the events arrive in.
            for k, (k_ts, k_eid, cid) in enumerate(parent.children):
                if cid == child_id and (ts, eid) < (k_ts, k_eid):
                    parent.children[k] = (ts, eid, child_id)
        kid = invs.get(child_id)
        if kid is None:
            kid = invs[child_id] = RequestState(child_id)
        if kid.parent_id is None:
            kid.parent_id = req
        if kid.announced_ts is None or ts < kid.announced_ts:
            kid.announced_ts = ts
        if depth is not None:
            kid.announced_depth = depth
        if kid.chain_id is None:
            self.join(kid, chain or parent.chain_id)

    def marker(self, rec: Marker) -> None:
        """A marker from the tolerant path: trusted, parked, or shown as a handler line."""
        self.markers_seen = True
        if rec.owner is not None and rec.owner != rec.req:
            # Written inside another request's logging record: that request's own text.
            self.add_line(AppLine(rec.owner, rec.ts, rec.stream, rec.event_id, rec.text))
            return
        if rec.ev == EV_DROPPED:
            if _ENV_STREAM.match(rec.stream) is None:
                self.apply_marker(rec)
            else:
                self.park(rec)  # a handler's print, never trusted: shown as its line
        elif self.trusted(rec.req, rec.stream, rec.ts):
            self.apply_marker(rec)
        else:
            self.park(rec)

    def hop_job(self, inv: RequestState, job: str) -> HopJob | None:
        """The request's job state; None when a marker names another job than its first (a
        request is a hop of one job, as a child keeps the first parent that named it)."""
        hop = inv.job
        if hop is None:
            hop = inv.job = HopJob(job)
        return hop if hop.job == job else None

    def job_marker(self, rec: Marker) -> None:
        """A job's marker (docs/jobs.md): the hop's place in its job, checkpoints, status."""
        if rec.job is None:
            return  # a checkpoint of no job: nothing to attach it to
        if rec.ev == EV_HOP:
            hop = self.hop_job(self.inv(rec.req), rec.job)
            if hop is not None:
                hop.place(rec.seq, rec.attempt)
        elif rec.ev == EV_CHILD:
            # The continuation's number is known before it starts (its own hop marker says
            # it again, with its attempt).
            kid = self.hop_job(self.inv(rec.child), rec.job) if rec.child else None
            if kid is not None and kid.seq is None:
                kid.seq = rec.seq
        else:
            inv = self.inv(rec.req)
            hop = self.hop_job(inv, rec.job)
            if hop is not None:
                hop.add(rec, key_of("job", rec))
            self.join(inv, rec.chain)

    def apply_marker(self, rec: Marker) -> None:
        req = rec.req
        ev = rec.ev
        if rec.job is not None:
            self.job_marker(rec)
        if ev == EV_HOP:
            self.hop(req, rec.chain, rec.parent, rec.depth, rec.budget)
        elif ev == EV_CHILD:
            if rec.child:
                self.child(req, rec.chain, rec.child, rec.depth, rec.ts, rec.event_id or "")
        elif ev == EV_CAPPED:
            inv = self.inv(req)
            inv.capped = rec.max if rec.max is not None else rec.depth
            inv.capped_reason = rec.reason
            self.join(inv, rec.chain)
        elif ev == EV_STOPPED:
            inv = self.inv(req)
            inv.stopped = True
            self.join(inv, rec.chain)
        elif ev == EV_CHILD_FAILED:
            inv = self.inv(req)
            if inv.child_failed is None:
                inv.child_failed = {}
            inv.child_failed[key_of("child_failed", rec)] = rec.error or "invoke failed"
            self.join(inv, rec.chain)
        elif ev == EV_DROPPED:
            inv = self.inv(req)
            inv.dropped_reason = rec.reason or "dropped"
            if rec.parent and inv.parent_id is None:
                inv.parent_id = rec.parent
            chain = rec.chain
            if chain is None and inv.parent_id:
                parent = self.invs.get(inv.parent_id)
                chain = parent.chain_id if parent is not None else None
            self.join(inv, chain)

    def failure(self, rec: Failure) -> None:
        if self.keep_lines and rec.text:
            # The error line itself (for an import error: which module is missing).
            self.add_line(
                AppLine(rec.request_id, rec.ts, rec.stream, rec.event_id, rec.text, "ERROR")
            )
        if rec.request_id is not None:
            inv = self.inv(rec.request_id)
            if inv.failures is None:
                inv.failures = {}
            inv.failures[key_of("failure", rec)] = rec
        else:
            # Resolved when a snapshot is taken, so that arrival order does not matter.
            self.stream_failures.setdefault(rec.stream, {})[key_of("failure", rec)] = rec

    def init_report(self, rec: InitReport) -> None:
        if self.keep_lines and rec.text:
            self.add_line(AppLine(None, rec.ts, rec.stream, rec.event_id, rec.text))
        if rec.status is not None and rec.status != "ok":
            self.stream_failures.setdefault(rec.stream, {})[key_of("init", rec)] = rec

    def owner(self, stream: str, ts: int) -> str | None:
        """The request a line without request id at `ts` in `stream` belongs to.

        The last START at or before ts; before the stream's first START, that first request:
        an execution environment initialises once, before its first request, so its init
        lines (an import error, INIT_REPORT) belong to the request that waited for them.
        Only when the stream's INIT_START was seen at or before ts: otherwise the line may be
        the tail of a request that started before the window read.
        """
        starts = self.stream_starts.get(stream)
        if not starts:
            return None
        i = bisect_right(starts, (ts, "\uffff")) - 1
        if i >= 0:
            return starts[i][1]
        init = self.env_starts.get(stream)
        return starts[0][1] if init is not None and init <= ts else None

    def add_line(self, rec: AppLine) -> None:
        if not self.keep_lines:
            return
        rid = rec.request_id or self.owner(rec.stream, rec.ts)
        if rid is None:
            pending = self.pending_lines.get(rec.stream)
            if pending is None:
                pending = self.pending_lines[rec.stream] = deque(maxlen=self.max_lines * 4)
            pending.append(rec)
            return
        inv = self.inv(rid)
        if inv.lines is None or inv.line_keys is None:
            inv.lines = []
            inv.line_keys = set()
        key = key_of("line", rec)
        if key in inv.line_keys:
            return
        if len(inv.lines) >= self.max_lines:
            # Count each dropped line once even if delivered twice (keys kept up to a bound).
            if len(inv.line_keys) < self.max_lines * 20:
                inv.line_keys.add(key)
            inv.lines_dropped += 1
            return
        inv.line_keys.add(key)
        inv.lines.append(rec)

    def parked_lines(self) -> dict[str, list[AppLine]]:
        """Markers never trusted, as the handler lines of the request open where they appear."""
        out: dict[str, list[AppLine]] = {}
        if not self.keep_lines:
            return out
        for stream, parked in self.parked.items():
            for rec in parked.values():
                rid = self.owner(stream, rec.ts)
                if rid is not None:
                    line = AppLine(rid, rec.ts, stream, rec.event_id, rec.text)
                    out.setdefault(rid, []).append(line)
        return out

    def resolved_failures(self) -> dict[str, list[Failure | InitReport]]:
        """Attribute failures without a request id to a request of the same log stream."""
        out: dict[str, list[Failure | InitReport]] = {}
        for stream, failures in self.stream_failures.items():
            starts = self.stream_starts.get(stream) or []
            for rec in failures.values():
                if isinstance(rec, InitReport) and rec.phase != "invoke":
                    # An init-phase failure precedes the START of the request it fails.
                    i = bisect_right(starts, (rec.ts - 1, "\uffff"))
                    rid = starts[i][1] if i < len(starts) else None
                else:
                    rid = self.owner(stream, rec.ts)  # before the first START: that one
                if rid is not None:
                    out.setdefault(rid, []).append(rec)
        return out
