"""Log lines of the Node.js runtimes (aws-lambda-ric), Text format.

    2026-12-01T23:11:03.935Z<TAB>request-id<TAB>INFO<TAB>received { numberOfCalls: 5 }

The request id is the second field (Python's awslambdaric puts `[LEVEL]` first). A handler's
error is the runtime's own ERROR line `Invoke Error <TAB>{"errorType":...,"errorMessage":...}`
(the JSON of the error it also posts to the Runtime API).
"""

from __future__ import annotations

import json
import re

from recursectl.chain.records import REPORT_ERROR, AppLine, Failure, Record

LEVELS = frozenset({"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"})
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")
_ERROR_PREFIXES = ("Invoke Error", "Uncaught Exception", "Unhandled Promise Rejection")


def parse_node_line(
    message: str, ts: int, stream: str, event_id: str | None, lines: bool
) -> Record | bool | None:
    """A record (or None: nobody needs it) for a Node runtime line; False if it is not one."""
    parts = message.split("\t", 3)
    if len(parts) != 4 or parts[2] not in LEVELS or not _TIMESTAMP.fullmatch(parts[0]):
        return False
    request_id = parts[1] if parts[1] not in ("", "undefined") else None
    level, text = parts[2], parts[3]
    if level == "ERROR" and text.startswith(_ERROR_PREFIXES):
        failure = _failure(text, request_id, ts, stream, event_id)
        if failure is not None:
            return failure
    if not lines:
        return None
    return AppLine(request_id, ts, stream, event_id, text.rstrip("\n"), level)


def _failure(
    text: str, request_id: str | None, ts: int, stream: str, event_id: str | None
) -> Failure | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        data = json.loads(text[start:])
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    error_type = data.get("errorType")
    error_message = data.get("errorMessage")
    return Failure(
        request_id,
        ts,
        stream,
        event_id,
        REPORT_ERROR,
        str(error_type) if error_type else None,
        str(error_message).split("\n", 1)[0] if error_message else None,
    )
