"""Parse one CloudWatch Logs event of a Lambda function into a small typed record.

Accepts both Lambda log formats (Text and JSON, see ../shared/samples/README.md) and
recursectl's own marker lines (`RECURSECTL_CHAIN {json}`, see templates/python/recursectl_chain.py).

Speed matters (a follower may parse a million events): every message is first dispatched on
its first character and a prefix test, so most lines cost one `str.startswith` and one object;
regular expressions and `json.loads` only run on the lines that need them.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeAlias

MARKER = "RECURSECTL_CHAIN"
_MARKER_PREFIX = MARKER + " "

# Status values of a Report, normalised from both formats.
REPORT_OK = "ok"
REPORT_ERROR = "error"
REPORT_TIMEOUT = "timeout"

JSON_STATUS = {
    "success": REPORT_OK,
    "failure": REPORT_ERROR,
    "error": REPORT_ERROR,
    "timeout": REPORT_TIMEOUT,
}

# Fast paths for the exact layouts AWS and our helper write; anything else falls back to the
# tolerant readers below, so a new field or another order costs speed, never correctness.
_REPORT_FAST = re.compile(
    r"REPORT RequestId: (\S+)\tDuration: ([\d.]+) ms\tBilled Duration: ([\d.]+) ms\t"
    r"Memory Size: ([\d.]+) MB\tMax Memory Used: ([\d.]+) MB\t"
    r"(?:Init Duration: ([\d.]+) ms\t?)?(?:Status: (\w+)\t?)?(?:Error Type: (\S+)\t?)?"
    r"\s*(?:\n|$)"
)
_ID = r'"([^"\\]*)"'
_HOP_FAST = re.compile(
    rf'\{{"v":1,"ev":"hop","chain":{_ID},"req":{_ID},"parent":(?:{_ID}|null),'
    r'"depth":(\d+),"max":(\d+)[,}]'
)
_CHILD_FAST = re.compile(
    rf'\{{"v":1,"ev":"child","chain":{_ID},"req":{_ID},"child":{_ID},"depth":(\d+)[,}}]'
)

# One match per event classifies the lines a chain is made of, in the exact layouts AWS and
# our helper write, and captures their fields; the collector's hot loop folds them into its
# state without building a record (model.ChainCollector.add_events). Anything that does not
# match (other layouts, app lines, errors) goes through parse_message, which is tolerant.
#
# Written for the regex engine's speed (a third of the pipeline's time is spent in here):
# - every alternative ends in an empty named group, the last group to close, so that
#   `match.lastindex` tells in one integer which alternative matched;
# - alternatives start with a literal (the engine skips them on the first character) and
#   share their prefixes (a platform record's envelope is read once, not once per type);
# - JSON strings are `[^"]+`, which the engine scans like memchr; `[^"\\]` is 2-3x slower per
#   character. So a capture may hold a backslash escape: the caller sends any JSON line that
#   contains a backslash to the tolerant path (`"\\" in message` costs ~20 ns).
_NUM = r"([\d.]+)"  # float() checks it
FAST = re.compile(
    # START RequestId: <id> Version: $LATEST
    r"START RequestId: ([^ ]+) (?P<start>)"
    # RECURSECTL_CHAIN {"v":1,"ev":"hop","chain":..,"req":..,"parent":..|null,"depth":N,"max":N}
    # RECURSECTL_CHAIN {"v":1,"ev":"child","chain":..,"req":..,"child":..,"depth":N}
    rf'|{_MARKER_PREFIX}\{{"v":1,"ev":"'
    r'(?:hop","chain":"([^"]+)","req":"([^"]+)","parent":(?:"([^"]+)"|null),'
    r'"depth":(\d+),"max":(\d+)[,}](?P<hop>)'
    r'|child","chain":"([^"]+)","req":"([^"]+)","child":"([^"]+)","depth":(\d+)[,}](?P<child>))'
    # REPORT RequestId: <id>\tDuration: 3.01 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\t
    # Max Memory Used: 36 MB\t, then the rest of the line (Init Duration, Status, Error Type:
    # empty for most invocations, read by the caller with report_tail()).
    r"|REPORT RequestId: ([^\t]+)\tDuration: ([\d.]+) ms\tBilled Duration: ([\d.]+) ms\t"
    r"Memory Size: ([\d.]+) MB\tMax Memory Used: ([\d.]+) MB\t?([^\n]*)(?P<report>)"
    # {"time":..,"type":"platform.start","record":{"requestId":..
    # {"time":..,"type":"platform.report","record":{"requestId":.., then status, errorType and
    #   metrics in any order; metrics in AWS's order, initDurationMs only on a cold start.
    # {"time":..,"type":"platform.<anything else>": nothing a chain needs (initStart, ...).
    r'|\{"time":"[^"]*","type":"platform\.'
    r'(?:start","record":\{"requestId":"([^"]+)"[,}](?P<jstart>)'
    r'|report","record":\{"requestId":"([^"]+)"'
    r'(?:,"status":"(\w+)"|,"errorType":"([^"]*)"'
    rf'|,"metrics":\{{"durationMs":{_NUM},"billedDurationMs":{_NUM},"memorySizeMB":{_NUM},'
    rf'"maxMemoryUsedMB":{_NUM}(?:,"initDurationMs":{_NUM})?\}})*\}}\}}\s*\Z(?P<jreport>)'
    r'|(?!start"|report")(?P<skip_platform>))'
    # END carries nothing REPORT does not.
    r"|END RequestId: \S(?P<end>)"
    # INIT_START: the cold start shows as REPORT's Init Duration.
    r"|INIT_START (?P<skip>)"
)
# Which alternative matched (`match.lastindex`), and where its fields are (group numbers).
FAST_START = FAST.groupindex["start"]
FAST_HOP = FAST.groupindex["hop"]
FAST_CHILD = FAST.groupindex["child"]
FAST_REPORT = FAST.groupindex["report"]
FAST_JSTART = FAST.groupindex["jstart"]
FAST_JREPORT = FAST.groupindex["jreport"]
FAST_END = FAST.groupindex["end"]
FAST_SKIP = FAST.groupindex["skip"]
FAST_SKIP_PLATFORM = FAST.groupindex["skip_platform"]
FAST_START_RID = FAST_START - 1
FAST_HOP_FIELDS = tuple(FAST_HOP - k for k in (4, 5, 3, 2))  # req, chain, parent, depth
FAST_CHILD_FIELDS = tuple(FAST_CHILD - k for k in (3, 4, 2, 1))  # req, chain, child, depth
# rid, duration, billed, memory, max memory, the rest of the line
FAST_REPORT_FIELDS = tuple(range(FAST_REPORT - 6, FAST_REPORT))
FAST_JSTART_RID = FAST_JSTART - 1
# rid, status, error type, duration, billed, memory, max memory, init
FAST_JREPORT_FIELDS = tuple(range(FAST_JREPORT - 8, FAST_JREPORT))

# "Key: value unit" pairs of a REPORT line whose tabs were lost (e.g. `sls logs`, copy/paste).
# The unit of the previous value ("ms", "MB") must not become part of the next key.
_KV_RE = re.compile(r"(?:^|\s)(?:(?:ms|MB)\s+)?([A-Z][A-Za-z ]*?): (\S+)")
# Older runtimes: "<timestamp> <request-id> Task timed out after 3.00 seconds".
_TIMEOUT_RE = re.compile(r"(?:^|\s)(\S+) Task timed out after ([\d.]+) seconds")
# "[ERROR] Type: message" (first line of an uncaught exception in the Text format).
_ERROR_RE = re.compile(r"\[ERROR\]\s+([A-Za-z_][\w.]*)(?::\s?(.*))?")


class Start:
    """A START line (Text) or a platform.start record (JSON): an attempt began."""

    __slots__ = ("event_id", "request_id", "stream", "ts")
    kind = "start"

    def __init__(self, request_id: str, ts: int, stream: str, event_id: str | None) -> None:
        self.request_id = request_id
        self.ts = ts
        self.stream = stream
        self.event_id = event_id

    def __repr__(self) -> str:
        return f"Start({self.request_id!r}, ts={self.ts})"


class End:
    """An END line (Text only: the JSON format has no END at the default log level)."""

    __slots__ = ("event_id", "request_id", "stream", "ts")
    kind = "end"

    def __init__(self, request_id: str, ts: int, stream: str, event_id: str | None) -> None:
        self.request_id = request_id
        self.ts = ts
        self.stream = stream
        self.event_id = event_id


class Report:
    """A REPORT line or platform.report record: an attempt ended, with its metrics."""

    __slots__ = (
        "billed_ms",
        "duration_ms",
        "error_type",
        "event_id",
        "init_ms",
        "max_memory_mb",
        "memory_mb",
        "request_id",
        "status",
        "stream",
        "ts",
    )
    kind = "report"

    def __init__(
        self,
        request_id: str,
        ts: int,
        stream: str,
        event_id: str | None,
        duration_ms: float | None = None,
        billed_ms: float | None = None,
        memory_mb: float | None = None,
        max_memory_mb: float | None = None,
        init_ms: float | None = None,
        status: str = REPORT_OK,
        error_type: str | None = None,
    ) -> None:
        self.request_id = request_id
        self.ts = ts
        self.stream = stream
        self.event_id = event_id
        self.duration_ms = duration_ms
        self.billed_ms = billed_ms
        self.memory_mb = memory_mb
        self.max_memory_mb = max_memory_mb
        self.init_ms = init_ms
        self.status = status
        self.error_type = error_type

    def __repr__(self) -> str:
        return f"Report({self.request_id!r}, {self.status}, {self.duration_ms} ms)"


class InitReport:
    """INIT_REPORT (Text): the init phase failed or timed out; no request id on the line."""

    __slots__ = ("error_type", "event_id", "init_ms", "phase", "status", "stream", "ts")
    kind = "init_report"

    def __init__(
        self,
        ts: int,
        stream: str,
        event_id: str | None,
        init_ms: float | None,
        phase: str | None,
        status: str | None,
        error_type: str | None,
    ) -> None:
        self.ts = ts
        self.stream = stream
        self.event_id = event_id
        self.init_ms = init_ms
        self.phase = phase
        self.status = status
        self.error_type = error_type


class Failure:
    """An error or timeout logged by the runtime or the handler, outside of REPORT.

    `status` is "error" (uncaught exception) or "timeout" (old "Task timed out" line).
    `request_id` is None when the line carries none (Text `[ERROR]` lines): the linker
    attributes it to the request open in the same log stream at `ts`.
    """

    __slots__ = ("error_type", "event_id", "message", "request_id", "status", "stream", "ts")
    kind = "failure"

    def __init__(
        self,
        request_id: str | None,
        ts: int,
        stream: str,
        event_id: str | None,
        status: str,
        error_type: str | None,
        message: str | None,
    ) -> None:
        self.request_id = request_id
        self.ts = ts
        self.stream = stream
        self.event_id = event_id
        self.status = status
        self.error_type = error_type
        self.message = message


class AppLine:
    """A line the handler wrote (print or logging); request_id None for print lines."""

    __slots__ = ("event_id", "level", "request_id", "stream", "text", "ts")
    kind = "line"

    def __init__(
        self,
        request_id: str | None,
        ts: int,
        stream: str,
        event_id: str | None,
        text: str,
        level: str | None = None,
    ) -> None:
        self.request_id = request_id
        self.ts = ts
        self.stream = stream
        self.event_id = event_id
        self.text = text
        self.level = level


class Marker:
    """A `RECURSECTL_CHAIN {json}` record (ev: hop, child, capped, child_failed, dropped,
    stopped)."""

    __slots__ = (
        "chain",
        "child",
        "depth",
        "error",
        "ev",
        "event_id",
        "max",
        "parent",
        "reason",
        "req",
        "stream",
        "ts",
    )
    kind = "marker"

    def __init__(
        self,
        ev: str,
        ts: int,
        stream: str,
        event_id: str | None,
        req: str | None = None,
        chain: str | None = None,
        parent: str | None = None,
        child: str | None = None,
        depth: int | None = None,
        max: int | None = None,
        error: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.ev = ev
        self.ts = ts
        self.stream = stream
        self.event_id = event_id
        self.req = req
        self.chain = chain
        self.parent = parent
        self.child = child
        self.depth = depth
        self.max = max
        self.error = error
        self.reason = reason

    def __repr__(self) -> str:
        return f"Marker({self.ev!r}, req={self.req!r}, child={self.child!r})"


Record: TypeAlias = Start | End | Report | InitReport | Failure | AppLine | Marker

MARKER_EVENTS = frozenset({"hop", "child", "capped", "child_failed", "dropped", "stopped"})


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _opt_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def parse_marker(payload: str, ts: int, stream: str, event_id: str | None) -> Marker | None:
    """The JSON after `RECURSECTL_CHAIN ` -> Marker, or None if malformed or of an unknown ev."""
    m = _HOP_FAST.match(payload)
    if m is not None:
        chain, req, parent, depth, cap = m.groups()
        return Marker("hop", ts, stream, event_id, req, chain, parent, None, int(depth), int(cap))
    m = _CHILD_FAST.match(payload)
    if m is not None:
        chain, req, child, depth = m.groups()
        return Marker("child", ts, stream, event_id, req, chain, None, child, int(depth))
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    ev = data.get("ev")
    if ev not in MARKER_EVENTS:
        return None
    req = data.get("req")
    if req.__class__ is not str:
        req = _opt_str(req)
    if not req:
        return None
    get = data.get
    parent = get("parent")
    child = get("child")
    chain = get("chain")
    depth = get("depth")
    return Marker(
        ev,
        ts,
        stream,
        event_id,
        req,
        chain if chain.__class__ is str else _opt_str(chain),
        parent if parent.__class__ is str or parent is None else _opt_str(parent),
        child if child.__class__ is str or child is None else _opt_str(child),
        depth if depth.__class__ is int else _opt_int(depth),
        _opt_int(get("max")),
        _opt_str(get("error")),
        _opt_str(get("reason")),
    )


def _report_fields(body: str) -> dict[str, str]:
    """Tolerant key/value reading of a REPORT / INIT_REPORT body ("Key: value unit" pairs)."""
    fields: dict[str, str] = {}
    if "\t" in body:
        for part in body.split("\t"):
            key, sep, value = part.partition(": ")
            if sep:
                # "3.01 ms" -> "3.01"; "error" stays "error"; "Runtime.X" stays.
                fields[key.strip()] = value.split(" ", 1)[0]
    else:
        for match in _KV_RE.finditer(body):
            fields[match.group(1).strip()] = match.group(2)
    return fields


def report_tail(tail: str) -> tuple[float | None, str, str | None]:
    """(init ms, status, error type) from what follows `Max Memory Used: N MB` on a REPORT."""
    if not tail or tail.isspace():
        return None, REPORT_OK, None
    fields = _report_fields(tail)
    init = fields.get("Init Duration")
    status = fields.get("Status")
    return (
        _number(init) if init else None,
        JSON_STATUS.get(status, REPORT_ERROR) if status else REPORT_OK,
        fields.get("Error Type"),
    )


def _text_report(message: str, ts: int, stream: str, event_id: str | None) -> Report | None:
    m = _REPORT_FAST.match(message)
    if m is not None:
        rid, duration, billed, memory, max_memory, init, status, error_type = m.groups()
        try:
            return Report(
                rid,
                ts,
                stream,
                event_id,
                float(duration),
                float(billed),
                float(memory),
                float(max_memory),
                float(init) if init else None,
                JSON_STATUS.get(status, REPORT_ERROR) if status else REPORT_OK,
                error_type,
            )
        except ValueError:  # "3.0.1 ms" matches [\d.]+ but is no number: read it tolerantly
            pass
    # The XRAY line of a traced function is appended after a newline: ignore it.
    first = message.split("\n", 1)[0]
    fields = _report_fields(first[7:])
    request_id = fields.get("RequestId")
    if not request_id:
        return None
    get = fields.get
    duration = get("Duration")
    billed = get("Billed Duration")
    memory = get("Memory Size")
    max_memory = get("Max Memory Used")
    init = get("Init Duration")
    status = get("Status")
    return Report(
        request_id,
        ts,
        stream,
        event_id,
        duration_ms=_number(duration) if duration else None,
        billed_ms=_number(billed) if billed else None,
        memory_mb=_number(memory) if memory else None,
        max_memory_mb=_number(max_memory) if max_memory else None,
        init_ms=_number(init) if init else None,
        status=JSON_STATUS.get(status, REPORT_ERROR) if status else REPORT_OK,
        error_type=get("Error Type"),
    )


def _text_init_report(message: str, ts: int, stream: str, event_id: str | None) -> InitReport:
    fields = _report_fields(message[12:].split("\n", 1)[0])
    init = fields.get("Init Duration")
    status = fields.get("Status")
    return InitReport(
        ts,
        stream,
        event_id,
        _number(init) if init else None,
        fields.get("Phase"),
        JSON_STATUS.get(status, REPORT_ERROR) if status else None,
        fields.get("Error Type"),
    )


def _error_line(
    text: str, request_id: str | None, ts: int, stream: str, event_id: str | None
) -> Failure:
    match = _ERROR_RE.match(text)
    error_type = match.group(1) if match else None
    message = match.group(2) if match else None
    if message is not None:
        message = message.split("\n", 1)[0].strip() or None
    return Failure(request_id, ts, stream, event_id, REPORT_ERROR, error_type, message)


def _logging_line(
    message: str, ts: int, stream: str, event_id: str | None, lines: bool
) -> Record | None:
    """`[LEVEL]\t<timestamp>\t<request-id>\t<message>` (awslambdaric's Text formatter)."""
    if not lines and MARKER not in message and not message.startswith("[ERROR]"):
        return None  # fast path: a handler line nobody asked for
    parts = message.split("\t", 3)
    if len(parts) == 4:
        level = parts[0][1:-1]
        request_id = parts[2] or None
        text = parts[3]
        if text.startswith(_MARKER_PREFIX):
            return parse_marker(text[len(_MARKER_PREFIX) :], ts, stream, event_id)
        if level == "ERROR" and text.startswith("[ERROR]"):
            return _error_line(text, request_id, ts, stream, event_id)
        if not lines:
            return None
        return AppLine(request_id, ts, stream, event_id, text.rstrip("\n"), level)
    if message.startswith("[ERROR]"):
        # An uncaught exception: "[ERROR] Type: message\nTraceback ..." in one event.
        return _error_line(message, None, ts, stream, event_id)
    if not lines:
        return None
    return AppLine(None, ts, stream, event_id, message.rstrip("\n"))


_START_TYPE = '"type":"platform.start"'
_REQUEST_ID_KEY = '"requestId":"'


def _json_record(
    message: str, ts: int, stream: str, event_id: str | None, lines: bool
) -> Record | None:
    if '"platform.' in message:
        # Fast path for AWS's compact platform.start record; anything else is decoded.
        if _START_TYPE in message:
            i = message.find(_REQUEST_ID_KEY)
            if i > 0:
                i += len(_REQUEST_ID_KEY)
                j = message.find('"', i)
                if j > i and "\\" not in message[i:j]:  # an escape: let json decode it
                    return Start(message[i:j], ts, stream, event_id)
        elif (
            message.startswith('{"time":')
            and '"type":"platform.report"' not in message
            and '"type":"platform.' in message
        ):
            return None  # initStart, runtimeDone, extension, ...: nothing a chain needs
    elif not lines and MARKER not in message and '"errorType"' not in message:
        return None  # fast path: an application record nobody asked for
    try:
        data = json.loads(message)
    except ValueError:
        return AppLine(None, ts, stream, event_id, message.rstrip("\n")) if lines else None
    if not isinstance(data, dict):
        return AppLine(None, ts, stream, event_id, message.rstrip("\n")) if lines else None
    rtype = data.get("type")
    if isinstance(rtype, str) and rtype.startswith("platform."):
        record = data.get("record")
        if not isinstance(record, dict):
            return None
        if rtype == "platform.start":
            request_id = _opt_str(record.get("requestId"))
            return Start(request_id, ts, stream, event_id) if request_id else None
        if rtype == "platform.report":
            return _json_report(record, ts, stream, event_id)
        return None  # initStart, runtimeDone, extension, telemetrySubscription, ...
    # An application record (awslambdaric's JSON formatter or the uncaught-error record).
    request_id = _opt_str(data.get("requestId"))
    text = data.get("message")
    if isinstance(text, str) and text.startswith(_MARKER_PREFIX):
        return parse_marker(text[len(_MARKER_PREFIX) :], ts, stream, event_id)
    error_type = data.get("errorType")
    if error_type:
        return Failure(
            request_id,
            ts,
            stream,
            event_id,
            REPORT_ERROR,
            str(error_type),
            _opt_str(data.get("errorMessage")),
        )
    if not lines:
        return None
    level = data.get("level") or data.get("log_level")
    shown = text if isinstance(text, str) else message.rstrip("\n")
    return AppLine(request_id, ts, stream, event_id, shown, _opt_str(level))


def _json_report(
    record: dict[str, Any], ts: int, stream: str, event_id: str | None
) -> Report | None:
    request_id = _opt_str(record.get("requestId"))
    if not request_id:
        return None
    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        metrics = {}

    def num(key: str) -> float | None:
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return None

    status = record.get("status")
    return Report(
        request_id,
        ts,
        stream,
        event_id,
        duration_ms=num("durationMs"),
        billed_ms=num("billedDurationMs"),
        memory_mb=num("memorySizeMB"),
        max_memory_mb=num("maxMemoryUsedMB"),
        init_ms=num("initDurationMs"),
        status=JSON_STATUS.get(str(status), REPORT_ERROR) if status else REPORT_OK,
        error_type=_opt_str(record.get("errorType")),
    )


def parse_message(
    message: str,
    ts: int,
    stream: str = "",
    event_id: str | None = None,
    lines: bool = True,
) -> Record | None:
    """One log event's message -> a record, or None for lines that matter to nobody.

    With `lines=False`, plain handler lines (print/logging output that is neither a marker
    nor an error) return None without building an object: the fast path of a follower that
    does not show handler output.
    """
    if not message:
        return None
    c = message[0]
    if c == "R":
        if message.startswith(_MARKER_PREFIX):
            return parse_marker(message[len(_MARKER_PREFIX) :], ts, stream, event_id)
        if message.startswith("REPORT RequestId: "):
            return _text_report(message, ts, stream, event_id)
    elif c == "S":
        if message.startswith("START RequestId: "):
            request_id = message[17:].split(" ", 1)[0].rstrip()
            return Start(request_id, ts, stream, event_id) if request_id else None
    elif c == "E":
        if message.startswith("END RequestId: "):
            request_id = message[15:].rstrip()
            return End(request_id, ts, stream, event_id) if request_id else None
    elif c == "I":
        if message.startswith("INIT_START"):
            return None  # nothing a chain needs: the cold start shows as REPORT's Init Duration
        if message.startswith("INIT_REPORT "):
            return _text_init_report(message, ts, stream, event_id)
    elif c == "[":
        return _logging_line(message, ts, stream, event_id, lines)
    elif c == "{":
        return _json_record(message, ts, stream, event_id, lines)
    elif c == "X" and message.startswith("XRAY TraceId"):
        return None
    if "Task timed out after" in message:
        match = _TIMEOUT_RE.search(message)
        if match:
            return Failure(
                match.group(1),
                ts,
                stream,
                event_id,
                REPORT_TIMEOUT,
                "Task timed out",
                f"Task timed out after {match.group(2)} seconds",
            )
    if not lines:
        return None
    return AppLine(None, ts, stream, event_id, message.rstrip("\n"))


def parse_event(event: dict[str, Any], *, lines: bool = True) -> Record | None:
    """A FilterLogEvents event dict ({message, timestamp, logStreamName, eventId}) -> record."""
    return parse_message(
        event.get("message") or "",
        int(event.get("timestamp") or 0),
        event.get("logStreamName") or "",
        event.get("eventId"),
        lines=lines,
    )
