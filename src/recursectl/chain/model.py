"""Link parsed log records into chains of invocations (pure: no I/O, no clock).

Records may arrive in any order (events of a new log stream show up late), more than once
(duplicate event ids), and a retried async invocation repeats its request id with a new
START/REPORT. Everything here is keyed so that adding a record twice changes nothing and
the order of arrival does not change the resulting tree.

Memory is bounded per invocation, not per event: an invocation keeps one entry per attempt,
its announced children, and at most `max_lines` handler lines (only when asked to keep them).
"""

from __future__ import annotations

import gc
from bisect import bisect_right, insort
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from recursectl.chain.parse import (
    FAST,
    FAST_CHILD,
    FAST_CHILD_FIELDS,
    FAST_END,
    FAST_HOP,
    FAST_HOP_FIELDS,
    FAST_JREPORT_FIELDS,
    FAST_JSTART,
    FAST_JSTART_RID,
    FAST_REPORT,
    FAST_REPORT_FIELDS,
    FAST_SKIP,
    FAST_SKIP_PLATFORM,
    FAST_START,
    FAST_START_RID,
    JSON_STATUS,
    REPORT_ERROR,
    REPORT_OK,
    REPORT_TIMEOUT,
    AppLine,
    End,
    Failure,
    InitReport,
    Marker,
    Record,
    Report,
    Start,
    parse_event,
    parse_message,
    report_tail,
)
from recursectl.chain.stats import Summary, summarize
from recursectl.errors import UsageError

# How long an announced child may take to show up after its parent reported before it is
# shown as missing. Async invokes normally start within a second; new log streams can be
# seconds late in FilterLogEvents.
DEFAULT_GRACE_MS = 30_000
DEFAULT_MAX_LINES = 50

OK = "ok"
ERROR = "error"
TIMEOUT = "timeout"
DROPPED = "dropped"
RUNNING = "running"  # started, no REPORT yet (or a retry in flight)
PENDING = "pending"  # announced by its parent, not started yet, still within the grace period
MISSING = "missing"  # announced, never started, grace period over
STATUSES = (OK, ERROR, TIMEOUT, DROPPED, RUNNING, PENDING, MISSING)
FINAL_STATUSES = frozenset({OK, ERROR, TIMEOUT, DROPPED, MISSING})
_STATUS_OF_REPORT = {REPORT_OK: OK, REPORT_ERROR: ERROR, REPORT_TIMEOUT: TIMEOUT}

_Key = Any  # an event id, or (kind, ts, stream) when the event has none


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects.

    The records, per-request state and snapshots built here form no reference cycles, so
    the collector has nothing to find; its passes over a growing heap cost about a third of
    the time of a big batch. Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _key(kind: str, record: Any) -> _Key:
    return record.event_id if record.event_id is not None else (kind, record.ts, record.stream)


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


@dataclass(slots=True)
class Invocation:
    """One request id of a chain, as far as the logs tell (a snapshot: do not mutate).

    Not frozen: a frozen dataclass pays object.__setattr__ per field, and a snapshot of a
    10,000-invocation chain builds 10,000 of these.
    """

    request_id: str
    parent_id: str | None
    depth: int | None
    status: str
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
    capped: int | None = None  # the cap (max calls) that refused a child
    stopped: bool = False  # `recursectl stop` ended the chain here: no child was invoked
    child_failed: tuple[str, ...] = ()
    dropped_reason: str | None = None
    announced_at: int | None = None  # parent's REPORT time, when this one was announced
    lines: tuple[Line, ...] = ()
    lines_dropped: int = 0

    @property
    def short_id(self) -> str:
        return self.request_id[:8]

    @property
    def healthy(self) -> bool:
        return (
            self.status == OK and not self.child_failed and self.capped is None and not self.stopped
        )

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "request_id": self.request_id,
            "parent_id": self.parent_id,
            "depth": self.depth,
            "status": self.status,
            "start": self.start,
            "end": self.end,
            "duration_ms": self.duration_ms,
            "billed_ms": self.billed_ms,
            "memory_mb": self.memory_mb,
            "max_memory_mb": self.max_memory_mb,
            "init_ms": self.init_ms,
            "error": self.error.to_dict() if self.error else None,
            "children": list(self.children),
            "attempts": self.attempts,
            "capped": self.capped,
            "stopped": self.stopped,
            "child_failed": list(self.child_failed),
            "dropped_reason": self.dropped_reason,
        }
        if self.lines:
            doc["lines"] = [{"ts": ln.ts, "level": ln.level, "text": ln.text} for ln in self.lines]
        return doc


@dataclass
class Chain:
    """A snapshot of one chain: its invocations in tree pre-order (or time order if unlinked).

    `linked` is False when the function logs no recursectl markers: then the invocations are
    a flat list in time order and parent/child edges are unknown.
    """

    chain_id: str
    linked: bool
    invocations: list[Invocation]
    now_ms: int | None = None
    grace_ms: int = DEFAULT_GRACE_MS
    _by_id: dict[str, Invocation] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {inv.request_id: inv for inv in self.invocations}

    def __len__(self) -> int:
        return len(self.invocations)

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

    def status_at(self, inv: Invocation, now_ms: int | None, grace_ms: int) -> str:
        """An invocation's status at another clock (pending becomes missing after grace)."""
        if inv.status in (PENDING, MISSING):
            if (
                now_ms is not None
                and inv.announced_at is not None
                and now_ms >= inv.announced_at + grace_ms
            ):
                return MISSING
            return PENDING
        return inv.status

    def complete(self, now_ms: int | None = None, grace_ms: int | None = None) -> bool:
        """True when nothing more can happen to this chain.

        Linked: every invocation reported (no retry in flight) and every announced child
        started and reported, was dropped, or is missing (grace period over).
        Unlinked: every invocation reported and nothing new for a grace period.
        """
        now = self.now_ms if now_ms is None else now_ms
        grace = self.grace_ms if grace_ms is None else grace_ms
        if not self.invocations:
            return False
        root = self._by_id.get(self.chain_id)
        if self.linked and (root is None or root.status not in FINAL_STATUSES):
            return False
        last_end = 0
        for inv in self.invocations:
            if self.status_at(inv, now, grace) not in FINAL_STATUSES:
                return False
            if inv.end is not None and inv.end > last_end:
                last_end = inv.end
        if not self.linked:
            return now is not None and now >= last_end + grace
        return True

    def summary(self) -> Summary:
        return summarize(self.invocations)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of `recursectl logs --json`."""
        return {
            "chain_id": self.chain_id,
            "complete": self.complete(),
            "linked": self.linked,
            "invocations": [inv.to_dict() for inv in self.invocations],
            "summary": self.summary().to_dict(),
        }


class _Inv:
    """Mutable per-request state inside the collector."""

    __slots__ = (
        "announced_depth",
        "announced_ts",
        "capped",
        "chain_id",
        "child_failed",
        "child_set",
        "children",
        "depth",
        "dropped_reason",
        "failures",
        "hop_seen",
        "last_report_ts",
        "line_keys",
        "lines",
        "lines_dropped",
        "parent_id",
        "reports",
        "request_id",
        "starts",
        "stopped",
    )

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.chain_id: str | None = None
        self.parent_id: str | None = None
        self.depth: int | None = None
        self.announced_depth: int | None = None
        self.announced_ts: int | None = None
        self.hop_seen = False
        self.starts: dict[_Key, int] = {}
        self.reports: dict[_Key, Report] = {}
        self.last_report_ts: int | None = None  # the latest REPORT's time, kept as they come
        self.children: list[tuple[int, str, str]] = []  # (marker ts, event id, child id)
        self.child_set: set[str] | None = None  # containers are created on first use
        self.capped: int | None = None
        self.stopped = False
        self.child_failed: dict[_Key, str] | None = None
        self.dropped_reason: str | None = None
        self.failures: dict[_Key, Failure] | None = None
        self.lines: list[AppLine] | None = None
        self.line_keys: set[_Key] | None = None
        self.lines_dropped = 0


class ChainCollector:
    """Feed it records (or raw events) in any order; ask it for chains.

    `keep_lines=True` keeps up to `max_lines` handler lines per invocation (for `--lines`).
    """

    def __init__(
        self,
        *,
        keep_lines: bool = False,
        max_lines: int = DEFAULT_MAX_LINES,
        grace_ms: int = DEFAULT_GRACE_MS,
    ) -> None:
        self.keep_lines = keep_lines
        self.max_lines = max_lines
        self.grace_ms = grace_ms
        self._invs: dict[str, _Inv] = {}
        self._members: dict[str, list[str]] = {}  # chain id -> request ids (linked chains)
        # Per log stream: sorted (start ts, request id); an execution environment runs one
        # request at a time, so a line without a request id belongs to the last START before it.
        self._stream_starts: dict[str, list[tuple[int, str]]] = {}
        self._stream_failures: dict[str, dict[_Key, Failure | InitReport]] = {}
        self._pending_lines: dict[str, deque[AppLine]] = {}
        self.markers_seen = False
        self.records = 0
        self._handlers: dict[type, Any] = {
            Start: self._add_start,
            Report: self._add_report,
            Marker: self._add_marker,
            AppLine: self._add_line_if_kept,
            Failure: self._add_failure,
            InitReport: self._add_init_report,
            End: self._ignore,
        }

    # feeding ----------------------------------------------------------------------------
    def add_event(self, event: dict[str, Any]) -> None:
        """Parse and add one FilterLogEvents event dict."""
        record = parse_event(event, lines=self.keep_lines)
        if record is not None:
            self.add(record)

    def add_events(self, events: Iterable[dict[str, Any]]) -> None:
        """Parse and add FilterLogEvents event dicts (the hot loop of a follower).

        The lines a chain is made of (START, REPORT, platform.start/report, hop and child
        markers) in their exact layouts are classified and captured by one regex match and
        folded straight into the collector's state: no record object, no dispatch. Every
        other line goes through `parse_message` and `add`, which accept any layout.
        """
        lines = self.keep_lines
        handlers = self._handlers
        parse = parse_message
        fast = FAST.match
        start, report, hop, child = self._start, self._report, self._hop, self._child
        n = 0
        with _gc_paused():
            for event in events:
                message = event.get("message") or ""
                m = fast(message)
                if m is not None:
                    kind = m.lastindex
                    if kind == FAST_START:
                        ts = event.get("timestamp") or 0
                        stream = event.get("logStreamName") or ""
                        eid = event.get("eventId")
                        rid = m[FAST_START_RID]
                        start(rid, ts, stream, ("start", ts, stream) if eid is None else eid)
                    elif kind == FAST_REPORT:
                        rid, dur, billed, mem, max_mem, tail = m.group(*FAST_REPORT_FIELDS)
                        init, status, error_type = (
                            (None, REPORT_OK, None) if not tail else report_tail(tail)
                        )
                        try:
                            rep = Report(
                                rid,
                                event.get("timestamp") or 0,
                                event.get("logStreamName") or "",
                                event.get("eventId"),
                                float(dur),
                                float(billed),
                                float(mem),
                                float(max_mem),
                                init,
                                status,
                                error_type,
                            )
                        except ValueError:  # "1.2.3 ms": not a number, read it tolerantly
                            m = None
                        else:
                            report(rep)
                    elif kind == FAST_END:
                        pass  # counted, nothing else: END carries nothing REPORT does not
                    elif kind in (FAST_SKIP, FAST_SKIP_PLATFORM):
                        continue
                    elif "\\" in message:
                        # A JSON escape: the regex's `[^"]+` would keep it; decode properly.
                        m = None
                    elif kind == FAST_HOP:
                        self.markers_seen = True
                        req, chain, parent, depth = m.group(*FAST_HOP_FIELDS)
                        hop(req, chain, parent, int(depth))
                    elif kind == FAST_CHILD:
                        self.markers_seen = True
                        req, chain, child_id, depth = m.group(*FAST_CHILD_FIELDS)
                        eid = event.get("eventId")
                        child(
                            req, chain, child_id, int(depth), event.get("timestamp") or 0, eid or ""
                        )
                    elif kind == FAST_JSTART:
                        ts = event.get("timestamp") or 0
                        stream = event.get("logStreamName") or ""
                        eid = event.get("eventId")
                        rid = m[FAST_JSTART_RID]
                        start(rid, ts, stream, ("start", ts, stream) if eid is None else eid)
                    else:  # FAST_JREPORT
                        rid, status, error_type, dur, billed, mem, max_mem, init_ms = m.group(
                            *FAST_JREPORT_FIELDS
                        )
                        try:
                            rep = Report(
                                rid,
                                event.get("timestamp") or 0,
                                event.get("logStreamName") or "",
                                event.get("eventId"),
                                float(dur) if dur else None,
                                float(billed) if billed else None,
                                float(mem) if mem else None,
                                float(max_mem) if max_mem else None,
                                float(init_ms) if init_ms else None,
                                JSON_STATUS.get(status, REPORT_ERROR) if status else REPORT_OK,
                                error_type or None,
                            )
                        except ValueError:
                            m = None
                        else:
                            report(rep)
                    if m is not None:
                        n += 1
                        continue
                record = parse(
                    message,
                    event.get("timestamp") or 0,
                    event.get("logStreamName") or "",
                    event.get("eventId"),
                    lines,
                )
                if record is not None:
                    n += 1
                    handlers[record.__class__](record)
        self.records += n

    def add(self, record: Record) -> None:
        """Add one parsed record (idempotent: the same event twice changes nothing)."""
        self.records += 1
        self._handlers[record.__class__](record)

    def _add_init_report(self, record: InitReport) -> None:
        if record.status is not None and record.status != REPORT_OK:
            self._stream_failures.setdefault(record.stream, {})[_key("init", record)] = record

    def _add_line_if_kept(self, record: AppLine) -> None:
        if self.keep_lines:
            self._add_line(record)

    @staticmethod
    def _ignore(record: Any) -> None:
        """END carries nothing REPORT does not."""

    def _inv(self, request_id: str) -> _Inv:
        inv = self._invs.get(request_id)
        if inv is None:
            inv = self._invs[request_id] = _Inv(request_id)
        return inv

    def _join(self, inv: _Inv, chain_id: str | None) -> None:
        if chain_id and inv.chain_id is None:
            inv.chain_id = chain_id
            self._members.setdefault(chain_id, []).append(inv.request_id)

    def _add_start(self, rec: Start) -> None:
        self._start(rec.request_id, rec.ts, rec.stream, _key("start", rec))

    def _start(self, request_id: str, ts: int, stream: str, key: _Key) -> None:
        inv = self._invs.get(request_id)
        if inv is None:
            inv = self._invs[request_id] = _Inv(request_id)
        starts = inv.starts
        if key in starts:
            return
        starts[key] = ts
        by_stream = self._stream_starts.get(stream)
        item = (ts, inv.request_id)
        if by_stream is None:
            self._stream_starts[stream] = [item]
        elif by_stream[-1] <= item:
            by_stream.append(item)
        else:
            insort(by_stream, item)
        if self._pending_lines:
            pending = self._pending_lines.pop(stream, None)
            if pending:
                for line in pending:
                    self._add_line(line)

    def _add_report(self, rec: Report) -> None:
        self._report(rec)

    def _report(self, rec: Report) -> None:
        inv = self._invs.get(rec.request_id)
        if inv is None:
            inv = self._invs[rec.request_id] = _Inv(rec.request_id)
        inv.reports[_key("report", rec)] = rec
        if inv.last_report_ts is None or rec.ts > inv.last_report_ts:
            inv.last_report_ts = rec.ts

    def _hop(self, req: str, chain: str | None, parent: str | None, depth: int | None) -> None:
        inv = self._invs.get(req)
        if inv is None:
            inv = self._invs[req] = _Inv(req)
        inv.hop_seen = True
        inv.parent_id = parent
        if depth is not None:
            inv.depth = depth
        if chain is None:
            parent_inv = self._invs.get(parent) if parent else None
            chain = parent_inv.chain_id if parent_inv is not None else (None if parent else req)
        if chain and inv.chain_id is None:
            self._join(inv, chain)

    def _child(
        self, req: str, chain: str | None, child_id: str, depth: int | None, ts: int, eid: str
    ) -> None:
        invs = self._invs
        parent = invs.get(req)
        if parent is None:
            parent = invs[req] = _Inv(req)
        if chain and parent.chain_id is None:
            self._join(parent, chain)
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
        child = invs.get(child_id)
        if child is None:
            child = invs[child_id] = _Inv(child_id)
        if child.parent_id is None:
            child.parent_id = req
        if child.announced_ts is None or ts < child.announced_ts:
            child.announced_ts = ts
        if depth is not None:
            child.announced_depth = depth
        if child.chain_id is None:
            self._join(child, chain or parent.chain_id)

    def _add_marker(self, rec: Marker) -> None:
        self.markers_seen = True
        req = rec.req
        if req is None:
            return
        ev = rec.ev
        if ev == "hop":
            self._hop(req, rec.chain, rec.parent, rec.depth)
        elif ev == "child":
            if rec.child:
                self._child(req, rec.chain, rec.child, rec.depth, rec.ts, rec.event_id or "")
        elif ev == "capped":
            inv = self._inv(req)
            inv.capped = rec.max if rec.max is not None else (rec.depth or 0)
            self._join(inv, rec.chain)
        elif ev == "stopped":
            inv = self._inv(req)
            inv.stopped = True
            self._join(inv, rec.chain)
        elif ev == "child_failed":
            inv = self._inv(req)
            if inv.child_failed is None:
                inv.child_failed = {}
            inv.child_failed[_key("child_failed", rec)] = rec.error or "invoke failed"
            self._join(inv, rec.chain)
        elif ev == "dropped":
            inv = self._inv(req)
            inv.dropped_reason = rec.reason or "dropped"
            if rec.parent and inv.parent_id is None:
                inv.parent_id = rec.parent
            chain = rec.chain
            if chain is None and inv.parent_id:
                parent = self._invs.get(inv.parent_id)
                chain = parent.chain_id if parent is not None else None
            self._join(inv, chain)

    def _add_failure(self, rec: Failure) -> None:
        if rec.request_id is not None:
            inv = self._inv(rec.request_id)
            if inv.failures is None:
                inv.failures = {}
            inv.failures[_key("failure", rec)] = rec
        else:
            # Resolved when a snapshot is taken, so that arrival order does not matter.
            self._stream_failures.setdefault(rec.stream, {})[_key("failure", rec)] = rec

    def _owner(self, stream: str, ts: int) -> str | None:
        """The request open in `stream` at `ts` (the last START at or before ts)."""
        starts = self._stream_starts.get(stream)
        if not starts:
            return None
        i = bisect_right(starts, (ts, "\uffff")) - 1
        return starts[i][1] if i >= 0 else None

    def _add_line(self, rec: AppLine) -> None:
        rid = rec.request_id or self._owner(rec.stream, rec.ts)
        if rid is None:
            pending = self._pending_lines.get(rec.stream)
            if pending is None:
                pending = self._pending_lines[rec.stream] = deque(maxlen=self.max_lines * 4)
            pending.append(rec)
            return
        inv = self._inv(rid)
        if inv.lines is None:
            inv.lines = []
            inv.line_keys = set()
        key = _key("line", rec)
        assert inv.line_keys is not None
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

    # reading ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._invs)

    def _resolved_failures(self) -> dict[str, list[Failure | InitReport]]:
        """Attribute failures without a request id to a request of the same log stream."""
        out: dict[str, list[Failure | InitReport]] = {}
        for stream, failures in self._stream_failures.items():
            starts = self._stream_starts.get(stream) or []
            for rec in failures.values():
                if isinstance(rec, InitReport) and rec.phase != "invoke":
                    # An init-phase failure precedes the START of the request it fails.
                    i = bisect_right(starts, (rec.ts - 1, "\uffff"))
                    rid = starts[i][1] if i < len(starts) else None
                else:
                    rid = self._owner(stream, rec.ts)
                if rid is not None:
                    out.setdefault(rid, []).append(rec)
        return out

    def _snapshot(
        self,
        inv: _Inv,
        children: tuple[str, ...],
        depth: int | None,
        stream_failures: list[Failure | InitReport] | None,
        announced_at: int | None,
        now_ms: int | None,
        grace_ms: int,
    ) -> Invocation:
        starts = inv.starts
        reports = inv.reports
        start: int | None
        latest_start: int | None
        if len(starts) == 1:  # the common case, without building iterators
            start = latest_start = next(iter(starts.values()))
        elif starts:
            start = min(starts.values())
            latest_start = max(starts.values())
        else:
            start = latest_start = None
        report: Report | None = None
        billed_total = gbs = 0.0
        cold = 0
        for rep in reports.values():
            if report is None or rep.ts > report.ts:
                report = rep
            billed = rep.billed_ms
            if billed is not None:
                billed_total += billed
                if rep.memory_mb is not None:
                    gbs += billed * rep.memory_mb / 1024_000.0
            if rep.init_ms is not None:
                cold += 1
        error: ErrorInfo | None = None
        failure_status: str | None = None
        if inv.failures or stream_failures:  # usually neither
            failures: list[Failure | InitReport] = (
                list(inv.failures.values()) if inv.failures else []
            )
            if stream_failures:
                failures.extend(stream_failures)
            for fail in failures:
                # Only failures of the latest attempt count towards its status.
                if latest_start is not None and fail.ts < latest_start:
                    continue
                if fail.status == REPORT_TIMEOUT or failure_status is None:
                    failure_status = fail.status
                message = fail.message if isinstance(fail, Failure) else None
                if error is None or (error.message is None and message):
                    error = ErrorInfo(fail.error_type, message)

        if report is None:
            if starts:
                status = RUNNING
            elif inv.dropped_reason is not None:
                status = DROPPED
            elif inv.announced_ts is not None:
                status = PENDING
                if (
                    now_ms is not None
                    and announced_at is not None
                    and now_ms >= announced_at + grace_ms
                ):
                    status = MISSING
            else:
                status = RUNNING  # only a marker so far: its START is on its way
        elif latest_start is not None and latest_start > report.ts:
            status = RUNNING
        else:
            status = _STATUS_OF_REPORT.get(report.status, ERROR)
            if status == OK and failure_status is not None:
                status = TIMEOUT if failure_status == REPORT_TIMEOUT else ERROR
            if report.error_type and (error is None or error.type != report.error_type):
                error = ErrorInfo(report.error_type, error.message if error else None)
            if status == OK:
                error = None
        if status == TIMEOUT and error is None:
            error = ErrorInfo("Task timed out", None)
        lines: tuple[Line, ...] = ()
        if inv.lines:
            lines = tuple(
                Line(ln.ts, ln.text, ln.level) for ln in sorted(inv.lines, key=lambda r: r.ts)
            )
        n_reports = len(reports)
        # Positional, in Invocation's field order: a 25-keyword call costs ~4x as much, and a
        # snapshot of a big tree makes one per invocation.
        r = report
        return Invocation(
            inv.request_id,
            inv.parent_id,
            depth,
            status,
            start,
            r.ts if r else None,  # end
            r.duration_ms if r else None,
            r.billed_ms if r else None,
            r.memory_mb if r else None,
            r.max_memory_mb if r else None,
            r.init_ms if r else None,
            error,
            children,
            max(len(starts), n_reports, 1),  # attempts
            n_reports,  # reported_attempts
            billed_total,
            gbs,
            cold,
            inv.capped,
            inv.stopped,
            tuple(inv.child_failed.values()) if inv.child_failed else (),
            inv.dropped_reason,
            announced_at,
            lines,
            inv.lines_dropped,
        )

    @staticmethod
    def _report_end(inv: _Inv) -> int | None:
        return inv.last_report_ts

    @staticmethod
    def _first_start(inv: _Inv) -> int | None:
        return min(inv.starts.values()) if inv.starts else None

    def _linked_chain(
        self,
        chain_id: str,
        failures: dict[str, list[Failure | InitReport]],
        now_ms: int | None,
        grace_ms: int,
    ) -> Chain:
        invs = self._invs
        members = self._members[chain_id]
        member_set = set(members)
        # Children per parent: announced ones first (announced order), then those that only
        # named the parent in their own hop marker (by start time). Invocations whose parent
        # is unknown here (the window started mid-chain, or the parent's markers have not
        # arrived yet) become extra roots, in time order.
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
            rids.sort(key=lambda r: (self._first_start(invs[r]) or 0, r))

        def kids(inv: _Inv) -> tuple[str, ...]:
            children = inv.children
            if not children:
                announced: tuple[str, ...] = ()
            elif len(children) == 1:  # a linear chain
                announced = (children[0][2],)
            else:
                announced = tuple(c for _, _, c in sorted(children))
            more = extra.get(inv.request_id) if extra else None
            return announced + tuple(more) if more else announced

        roots = [chain_id] if chain_id in member_set else []
        orphans.sort(key=lambda r: (self._first_start(invs[r]) or 0, r))
        roots.extend(orphans)

        out: list[Invocation] = []
        seen: set[str] = set()
        snapshot = self._snapshot
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
            children = kids(inv)
            announced_at = None
            if inv.announced_ts is not None:
                parent = invs.get(inv.parent_id) if inv.parent_id else None
                announced_at = parent.last_report_ts if parent is not None else None
            out.append(
                snapshot(
                    inv,
                    children,
                    depth,
                    failures.get(rid) if failures else None,
                    announced_at,
                    now_ms,
                    grace_ms,
                )
            )
            for child in reversed(children):
                if child not in seen:
                    stack.append((child, depth))
        return Chain(chain_id, True, out, now_ms, grace_ms)

    def _unlinked_chain(
        self,
        failures: dict[str, list[Failure | InitReport]],
        now_ms: int | None,
        grace_ms: int,
    ) -> Chain | None:
        # With markers in these logs, a START whose hop marker has not arrived yet is not an
        # unmarked invocation (the marker precedes REPORT in the same stream): wait for it.
        need_report = self.markers_seen
        rids = [
            rid
            for rid, inv in self._invs.items()
            if inv.chain_id is None and (inv.reports or (inv.starts and not need_report))
        ]
        if not rids:
            return None
        invs = self._invs
        rids.sort(key=lambda r: (self._first_start(invs[r]) or self._report_end(invs[r]) or 0, r))
        out = [
            self._snapshot(invs[r], (), None, failures.get(r), None, now_ms, grace_ms) for r in rids
        ]
        return Chain(rids[0], False, out, now_ms, grace_ms)

    def chains(self, now_ms: int | None = None, grace_ms: int | None = None) -> list[Chain]:
        """Every chain seen, oldest first (by start). Unmarked invocations form one unlinked
        chain in time order."""
        grace = self.grace_ms if grace_ms is None else grace_ms
        failures = self._resolved_failures()
        with _gc_paused():
            out = [self._linked_chain(cid, failures, now_ms, grace) for cid in self._members]
            unlinked = self._unlinked_chain(failures, now_ms, grace)
        if unlinked is not None:
            out.append(unlinked)
        out.sort(key=lambda c: (c.start if c.start is not None else 0, c.chain_id))
        return out

    def _root_start(self, chain_id: str) -> int:
        root = self._invs.get(chain_id)
        start = self._first_start(root) if root is not None else None
        if start is None:
            starts = [self._first_start(self._invs[r]) for r in self._members[chain_id]]
            start = min((s for s in starts if s is not None), default=0)
        return start

    def latest(self, now_ms: int | None = None, grace_ms: int | None = None) -> Chain | None:
        """The most recent chain (by its root's start)."""
        grace = self.grace_ms if grace_ms is None else grace_ms
        failures = self._resolved_failures()
        best: tuple[int, str] | None = None
        for cid in self._members:
            cand = (self._root_start(cid), cid)
            if best is None or cand > best:
                best = cand
        unlinked = self._unlinked_chain(failures, now_ms, grace)
        if unlinked is not None and (
            best is None or (unlinked.start is not None and unlinked.start > best[0])
        ):
            return unlinked
        if best is None:
            return None
        with _gc_paused():
            return self._linked_chain(best[1], failures, now_ms, grace)

    def get(
        self, chain_id: str, now_ms: int | None = None, grace_ms: int | None = None
    ) -> Chain | None:
        """The chain with this id, or a unique prefix of it, or containing this request id.

        Raises UsageError when a prefix matches several chains.
        """
        grace = self.grace_ms if grace_ms is None else grace_ms
        failures = self._resolved_failures()
        if chain_id in self._members:
            return self._linked_chain(chain_id, failures, now_ms, grace)
        matches = [cid for cid in self._members if cid.startswith(chain_id)]
        if len(matches) > 1:
            shown = ", ".join(m[:13] for m in sorted(matches)[:5])
            raise UsageError(
                f"chain id '{chain_id}' is ambiguous: it matches {len(matches)} chains ({shown})",
                hint="Give more characters of the chain id.",
            )
        if matches:
            return self._linked_chain(matches[0], failures, now_ms, grace)
        inv = self._invs.get(chain_id)
        if inv is not None and inv.chain_id is not None:
            return self._linked_chain(inv.chain_id, failures, now_ms, grace)
        unlinked = self._unlinked_chain(failures, now_ms, grace)
        if unlinked is not None and any(
            i.request_id.startswith(chain_id) for i in unlinked.invocations
        ):
            return unlinked
        return None

    def __iter__(self) -> Iterator[Chain]:
        return iter(self.chains())
