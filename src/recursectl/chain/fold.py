"""The collector's hot loop, next to the one regex whose group numbers it uses.

One match per event classifies the lines a chain is made of, in the exact layouts AWS and
the guard write, and captures their fields; the loop folds them straight into the state
(chain/state.py) without building a record. Anything that does not match (other layouts,
app lines, errors, garbled text) goes through the tolerant parser (chain/parse.py), which
must give the same result for any line the regex takes (tests/property/chain/test_fuzz.py).
Hence the regex only takes what is valid as a whole: JSON objects up to their closing brace
and the end of the line, JSON numbers without leading zeros or stray dots, numbers short
enough that int() and float() neither refuse nor overflow; what float() still refuses
("3.0.1") is handed to the tolerant path.

Written for the regex engine's speed (a third of the pipeline's time is spent in here):
- every alternative ends in an empty named group, the last group to close, so that
  `match.lastindex` tells in one integer which alternative matched;
- alternatives start with a literal (the engine skips them on the first character) and
  share their prefixes (a platform record's envelope is read once, not once per type);
- JSON strings are `[^"]+`, which the engine scans like memchr; `[^"\\]` is 2-3x slower per
  character. So a capture may hold a backslash escape: the loop sends any JSON line that
  contains a backslash to the tolerant path (`"\\" in message` costs ~20 ns).
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from recursectl.chain.markers import MARKER_PREFIX
from recursectl.chain.parse import parse_message, report_tail
from recursectl.chain.records import JSON_STATUS, REPORT_ERROR, REPORT_OK, Marker, Report
from recursectl.chain.state import State

# Single-character-class repeats only: an alternation or a repeated group per number (say
# `(0|[1-9]\d*)` or `\d+(?:\.\d+)?`) made the hop and REPORT matches 1.5-2x slower.
_INT = r"(?!0\d)(\d{1,18})"  # a JSON integer (no leading zero) that int() takes at once
_DEC = r"([\d.]{1,300})"  # float() raises on "3.0.1" (-> tolerant path), cannot overflow
_JNUM = r"(?!0\d)(\d[\d.]{0,300})(?<!\.)"  # a JSON number: no ".5", "1." or "01"
FAST = re.compile(
    # START RequestId: <id> Version: $LATEST
    # The id: up to the first space, not ending in whitespace (what the tolerant reading's
    # split(" ") and rstrip() give); `[^ ]*` scans like memchr, `\S+` cost 3,800 instructions
    # a line against 3,000.
    r"START RequestId: ([^ ]*\S) (?P<start>)"
    # RECURSECTL_CHAIN {"v":1,"ev":"hop","chain":..,"req":..,"parent":..|null,"depth":N,
    #   "max":N[,"budget":N]}
    # RECURSECTL_CHAIN {"v":1,"ev":"child","chain":..,"req":..,"child":..,"depth":N
    #   [,"budget":N]}
    rf'|{MARKER_PREFIX}\{{"v":1,"ev":"'
    r'(?:hop","chain":"([^"]+)","req":"([^"]+)","parent":(?:"([^"]+)"|null),'
    rf'"depth":{_INT},"max":{_INT}(?:,"budget":{_INT})?\}}\s*\Z(?P<hop>)'
    r'|child","chain":"([^"]+)","req":"([^"]+)","child":"([^"]+)","depth":'
    rf'{_INT}(?:,"budget":{_INT})?\}}\s*\Z(?P<child>))'
    # REPORT RequestId: <id>\tDuration: 3.01 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\t
    # Max Memory Used: 36 MB\t, then the rest of the line (Init Duration, Status, Error Type:
    # empty for most invocations, read with report_tail()).
    # The id is `[^\t]+` (memchr-like; `\S+` cost 1,100 more instructions a line): one with a
    # space or a newline goes to the tolerant reading, which ends the id at either.
    rf"|REPORT RequestId: ([^\t]+)\tDuration: {_DEC} ms\tBilled Duration: {_DEC} ms\t"
    rf"Memory Size: {_DEC} MB\tMax Memory Used: {_DEC} MB(\t?)([^\n]*)(?P<report>)"
    # {"time":..,"type":"platform.start","record":{"requestId":..
    # {"time":..,"type":"platform.report","record":{"requestId":.., then status, errorType and
    #   metrics in any order; metrics in AWS's order, initDurationMs only on a cold start.
    # {"time":..,"type":"platform.<anything else>": nothing a chain needs (initStart, ...);
    #   initReport goes to the tolerant path (it names an init failure).
    r'|\{"time":"[^"]*","type":"platform\.'
    r'(?:start","record":\{"requestId":"([^"]+)"[,}](?P<jstart>)'
    r'|report","record":\{"requestId":"([^"]+)"'
    r'(?:,"status":"(\w+)"|,"errorType":"([^"]*)"'
    rf'|,"metrics":\{{"durationMs":{_JNUM},"billedDurationMs":{_JNUM},"memorySizeMB":{_JNUM},'
    rf'"maxMemoryUsedMB":{_JNUM}(?:,"initDurationMs":{_JNUM})?\}})*\}}\}}\s*\Z(?P<jreport>)'
    r'|(?!start"|report"|initReport")(?P<skip_platform>))'
    # END carries nothing REPORT does not.
    r"|END RequestId: \S(?P<end>)"
    # INIT_START: the cold start shows as REPORT's Init Duration.
    r"|INIT_START (?P<skip>)"
)
# Which alternative matched (`match.lastindex`), and where its fields are (group numbers).
START = FAST.groupindex["start"]
HOP = FAST.groupindex["hop"]
CHILD = FAST.groupindex["child"]
REPORT = FAST.groupindex["report"]
JSTART = FAST.groupindex["jstart"]
JREPORT = FAST.groupindex["jreport"]
END = FAST.groupindex["end"]
SKIP = FAST.groupindex["skip"]
SKIP_PLATFORM = FAST.groupindex["skip_platform"]
START_RID = START - 1
HOP_FIELDS = tuple(HOP - k for k in (5, 6, 4, 3, 1))  # req, chain, parent, depth, budget
CHILD_FIELDS = tuple(CHILD - k for k in (4, 5, 3, 2))  # req, chain, child, depth
# rid, duration, billed, memory, max memory, the tab after MB, the rest of the line
REPORT_FIELDS = tuple(range(REPORT - 7, REPORT))
JSTART_RID = JSTART - 1
# rid, status, error type, duration, billed, memory, max memory, init
JREPORT_FIELDS = tuple(range(JREPORT - 8, JREPORT))


@contextmanager
def gc_paused() -> Iterator[None]:
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


def _park(state: State, message: str, event: dict[str, Any]) -> None:
    """A hop or child marker that names a request not running where it was written."""
    ts = event.get("timestamp") or 0
    rec = parse_message(message, ts, event.get("logStreamName") or "", event.get("eventId"))
    if isinstance(rec, Marker):
        state.park(rec)


# C901 (listed in pyproject.toml): the hot loop, inlined on purpose (a call per event is what
# the log pipeline bench pays for).
def fold(  # noqa: C901
    state: State, events: Iterable[dict[str, Any]], handlers: dict[type, Callable[[Any], None]]
) -> int:
    """Fold FilterLogEvents event dicts into `state`; returns the number of records.

    One function of about 100 lines on purpose: it runs once per event (a million in the
    benchmark, ~1.5 us each), and every helper call per event would add a Python call
    (50-100 ns) to each; the branches are short and each reads its own group numbers.

    `handlers[type(record)](record)` takes what the tolerant parser returns for the lines the
    regex does not take.
    """
    lines = state.keep_lines
    parse = parse_message
    fast = FAST.match
    trusted = state.trusted
    stream_starts = state.stream_starts
    start, report, hop, child = state.start, state.report, state.hop, state.child
    n = 0
    with gc_paused():
        for event in events:
            message = event.get("message") or ""
            m = fast(message)
            if m is not None:
                kind = m.lastindex
                # Markers first: 2 of the ~6.5 events of an invocation.
                if kind in (HOP, CHILD):
                    if "\\" in message:
                        m = None  # a JSON escape: the regex's `[^"]+` kept it; decode properly
                    else:
                        state.markers_seen = True
                        ts = event.get("timestamp") or 0
                        stream = event.get("logStreamName") or ""
                        # One group() call per marker, its fields unpacked once.
                        if kind == HOP:
                            req, chain, parent, depth, budget = m.group(*HOP_FIELDS)
                        else:
                            req, chain, child_id, depth = m.group(*CHILD_FIELDS)
                        # state.trusted(), its common case inlined: the marker follows its
                        # START.
                        starts = stream_starts.get(stream)
                        last = starts[-1] if starts else None
                        if (last is not None and last[1] == req and last[0] <= ts) or trusted(
                            req, stream, ts
                        ):
                            if kind == HOP:
                                hop(req, chain, parent, int(depth), int(budget) if budget else None)
                            else:
                                child(
                                    req, chain, child_id, int(depth), ts, event.get("eventId") or ""
                                )
                        else:
                            _park(state, message, event)
                elif kind == START:
                    ts = event.get("timestamp") or 0
                    stream = event.get("logStreamName") or ""
                    eid = event.get("eventId")
                    start(m[START_RID], ts, stream, ("start", ts, stream) if eid is None else eid)
                elif kind == REPORT:
                    rid, dur, billed, mem, max_mem, tab, tail = m.group(*REPORT_FIELDS)
                    if " " in rid or "\n" in rid:
                        m = None  # the tolerant reading ends the id there
                    elif not tail:
                        init, status, error_type = None, REPORT_OK, None
                    elif tab or tail.isspace():
                        init, status, error_type = report_tail(tail)
                    else:  # "MBInit Duration: ...": the tolerant reading splits it its way
                        m = None
                    if m is not None:
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
                        except ValueError:  # "3.0.1 ms": not a number, read it tolerantly
                            m = None
                        else:
                            report(rep)
                elif kind == END:
                    pass  # counted, nothing else: END carries nothing REPORT does not
                elif kind in (SKIP, SKIP_PLATFORM):
                    # INIT_START / platform.initStart (once per execution environment): what
                    # the stream logs before its first START is that request's init phase.
                    if kind == SKIP or '"type":"platform.initStart"' in message:
                        ts = event.get("timestamp") or 0
                        state.env_start(event.get("logStreamName") or "", ts)
                        n += 1
                    continue
                elif "\\" in message:
                    # A JSON escape: the regex's `[^"]+` would keep it; decode properly.
                    m = None
                elif kind == JSTART:
                    ts = event.get("timestamp") or 0
                    stream = event.get("logStreamName") or ""
                    eid = event.get("eventId")
                    start(m[JSTART_RID], ts, stream, ("start", ts, stream) if eid is None else eid)
                elif message.count('"metrics":') > 1:
                    m = None  # a repeated group keeps an earlier capture: let json decide
                else:  # JREPORT
                    rid, status, error_type, dur, billed, mem, max_mem, init_ms = m.group(
                        *JREPORT_FIELDS
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
                    except ValueError:  # "1.2.3": no JSON, let json decide
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
    return n
