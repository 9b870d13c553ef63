"""Parse one CloudWatch Logs event of a Lambda function into a record: the tolerant path.

Accepts both Lambda log formats (Text and JSON, see ../shared/samples/README.md) and
recursectl's own marker lines (`RECURSECTL_CHAIN {json}`, see recursectl.protocol). The
collector's hot loop (chain/fold.py) reads the exact layouts AWS and the guard write by itself
and sends everything else here; for any line both read, both must give the same record
(tests/property/chain/test_fuzz.py checks it).

No text, however garbled or hostile, raises here: numbers that are no finite float, ids of
the wrong type and broken JSON give None fields or a plain handler line, never an exception.
Lines are dispatched on their first character and a prefix test, so most cost one
`str.startswith`; regular expressions and `json.loads` only run on the lines that need them.
"""

from __future__ import annotations

import re
from typing import Any

from recursectl.chain.markers import MARKER_PREFIX, marker_or_line
from recursectl.chain.node_lines import parse_node_line
from recursectl.chain.parse_json import json_record
from recursectl.chain.records import (
    JSON_STATUS,
    REPORT_ERROR,
    REPORT_OK,
    REPORT_TIMEOUT,
    AppLine,
    End,
    Failure,
    InitReport,
    InitStart,
    Record,
    Report,
    Start,
)
from recursectl.chain.values import number
from recursectl.protocol import MARKER

# "Key: value unit" pairs of a REPORT line whose tabs were lost (e.g. `sls logs`, copy/paste).
# The unit of the previous value ("ms", "MB") must not become part of the next key.
_KV_RE = re.compile(r"(?:^|\s)(?:(?:ms|MB)\s+)?([A-Z][A-Za-z ]*?): (\S+)")
# Older runtimes: "<timestamp> <request-id> Task timed out after 3.00 seconds".
_TIMEOUT_RE = re.compile(r"(?:^|\s)(\S+) Task timed out after ([\d.]+) seconds")
# "[ERROR] Type: message" (first line of an uncaught exception in the Text format).
_ERROR_RE = re.compile(r"\[ERROR\]\s+([A-Za-z_][\w.]*)(?::\s?(.*))?")


def _report_fields(body: str, tabs: bool | None = None) -> dict[str, str]:
    """Tolerant key/value reading of a REPORT / INIT_REPORT body ("Key: value unit" pairs).

    Tab-separated when the body has a tab (`tabs` forces it); the first occurrence of a key
    wins, as in the hot loop's fixed layout.
    """
    fields: dict[str, str] = {}
    if tabs or (tabs is None and "\t" in body):
        for part in body.split("\t"):
            key, sep, value = part.partition(": ")
            if sep:
                # "3.01 ms" -> "3.01"; "error" stays "error"; "Runtime.X" stays.
                fields.setdefault(key.strip(), value.split(" ", 1)[0])
    else:
        for match in _KV_RE.finditer(body):
            fields.setdefault(match.group(1).strip(), match.group(2))
    return fields


def report_tail(tail: str) -> tuple[float | None, str, str | None]:
    """(init ms, status, error type) from what follows `Max Memory Used: N MB` on a REPORT."""
    if not tail or tail.isspace():
        return None, REPORT_OK, None
    # The head of the line had tabs, so the whole line is read tab-separated (as the
    # tolerant reading of the full line does).
    fields = _report_fields(tail, tabs=True)
    init = fields.get("Init Duration")
    status = fields.get("Status")
    return (
        number(init) if init else None,
        JSON_STATUS.get(status, REPORT_ERROR) if status else REPORT_OK,
        fields.get("Error Type") or None,
    )


def _text_report(message: str, ts: int, stream: str, event_id: str | None) -> Report | None:
    # The XRAY line of a traced function is appended after a newline: ignore it.
    fields = _report_fields(message.split("\n", 1)[0][7:])
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
        duration_ms=number(duration) if duration else None,
        billed_ms=number(billed) if billed else None,
        memory_mb=number(memory) if memory else None,
        max_memory_mb=number(max_memory) if max_memory else None,
        init_ms=number(init) if init else None,
        status=JSON_STATUS.get(status, REPORT_ERROR) if status else REPORT_OK,
        error_type=get("Error Type") or None,
    )


def _text_init_report(message: str, ts: int, stream: str, event_id: str | None) -> InitReport:
    fields = _report_fields(message[12:].split("\n", 1)[0])
    init = fields.get("Init Duration")
    status = fields.get("Status")
    return InitReport(
        ts,
        stream,
        event_id,
        number(init) if init else None,
        fields.get("Phase"),
        JSON_STATUS.get(status, REPORT_ERROR) if status else None,
        fields.get("Error Type"),
        message.rstrip("\n"),
    )


def _error_line(
    text: str, request_id: str | None, ts: int, stream: str, event_id: str | None
) -> Failure:
    match = _ERROR_RE.match(text)
    error_type = match.group(1) if match else None
    message = match.group(2) if match else None
    if message is not None and match is not None:
        first, rest = message.split("\n", 1)[0], text[match.end() :].lstrip("\n")
        if first.rstrip().endswith(":") and rest:
            # botocore's "Parameter validation failed:" names the parameter on the lines after
            # it (up to the traceback): "Invalid length for parameter FunctionName, value: 0".
            detail = rest.split("\nTraceback (most recent call last)", 1)[0]
            first = f"{first.rstrip()} {' '.join(detail.split())}"[:1000]
        message = first.strip() or None
    return Failure(
        request_id, ts, stream, event_id, REPORT_ERROR, error_type, message, text.rstrip("\n")
    )


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
        if text.startswith(MARKER_PREFIX):
            return marker_or_line(text, ts, stream, event_id, request_id, lines)
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


# C901 (listed in pyproject.toml): one branch per platform line type, in the order they are most
# frequent.
def parse_message(  # noqa: C901
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
        if message.startswith(MARKER_PREFIX):
            return marker_or_line(message, ts, stream, event_id, None, lines)
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
            # The cold start shows as REPORT's Init Duration; this says where init began.
            return InitStart(ts, stream, event_id)
        if message.startswith("INIT_REPORT "):
            return _text_init_report(message, ts, stream, event_id)
    elif c == "[":
        return _logging_line(message, ts, stream, event_id, lines)
    elif c == "{":
        return json_record(message, ts, stream, event_id, lines)
    elif c == "X" and message.startswith("XRAY TraceId"):
        return None
    elif "0" <= c <= "9":  # the Node.js runtimes: `timestamp<TAB>request id<TAB>LEVEL<TAB>...`
        node = parse_node_line(message, ts, stream, event_id, lines)
        if node is not False:
            return node  # type: ignore[return-value]
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
    message = event.get("message")
    ts = event.get("timestamp")
    stream = event.get("logStreamName")
    return parse_message(
        message if isinstance(message, str) else "",
        ts if ts.__class__ is int else 0,
        stream if isinstance(stream, str) else "",
        event.get("eventId"),
        lines=lines,
    )
