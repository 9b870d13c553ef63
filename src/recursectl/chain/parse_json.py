"""The JSON log format's lines (platform records and application records) -> records."""

from __future__ import annotations

from typing import Any

from recursectl.chain.markers import MARKER_PREFIX, marker_or_line
from recursectl.chain.records import (
    JSON_STATUS,
    REPORT_ERROR,
    REPORT_OK,
    AppLine,
    Failure,
    InitReport,
    InitStart,
    Record,
    Report,
    Start,
)
from recursectl.chain.values import json_num, loads, opt_str
from recursectl.protocol import MARKER

_START_TYPE = '"type":"platform.start"'
_REQUEST_ID_KEY = '"requestId":"'


# C901 (listed in pyproject.toml): one branch per JSON marker event; a table would cost a dict
# build per line.
def json_record(  # noqa: C901
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
            and '"type":"platform.initReport"' not in message
            and '"type":"platform.' in message
        ):
            if '"type":"platform.initStart"' in message:
                return InitStart(ts, stream, event_id)
            return None  # runtimeDone, extension, ...: nothing a chain needs
    elif not lines and MARKER not in message and '"errorType"' not in message:
        return None  # fast path: an application record nobody asked for
    data = loads(message)
    if not isinstance(data, dict):
        return AppLine(None, ts, stream, event_id, message.rstrip("\n")) if lines else None
    rtype = data.get("type")
    if isinstance(rtype, str) and rtype.startswith("platform."):
        record = data.get("record")
        if not isinstance(record, dict):
            return None
        if rtype == "platform.start":
            request_id = opt_str(record.get("requestId"))
            return Start(request_id, ts, stream, event_id) if request_id else None
        if rtype == "platform.report":
            return _json_report(record, ts, stream, event_id)
        if rtype == "platform.initStart":
            return InitStart(ts, stream, event_id)
        if rtype == "platform.initReport":
            return _json_init_report(record, ts, stream, event_id, message.rstrip("\n"))
        return None  # initStart, runtimeDone, extension, telemetrySubscription, ...
    # An application record (awslambdaric's JSON formatter or the uncaught-error record).
    request_id = opt_str(data.get("requestId"))
    text = data.get("message")
    if isinstance(text, str) and text.startswith(MARKER_PREFIX):
        return marker_or_line(text, ts, stream, event_id, request_id, lines)
    error = data
    if isinstance(text, dict) and "errorType" in text:
        # aws-lambda-ric (Node) in JSON: `console.error(err)`, the error as the message object.
        error = text
    error_type = opt_str(error.get("errorType"))
    if error_type:
        error_message = opt_str(error.get("errorMessage"))
        shown = (
            f"[ERROR] {error_type}: {error_message}" if error_message else f"[ERROR] {error_type}"
        )
        return Failure(
            request_id, ts, stream, event_id, REPORT_ERROR, error_type, error_message, shown
        )
    if not lines:
        return None
    level = data.get("level") or data.get("log_level")
    shown = text if isinstance(text, str) else message.rstrip("\n")
    return AppLine(request_id, ts, stream, event_id, shown, opt_str(level))


def _json_init_report(
    record: dict[str, Any], ts: int, stream: str, event_id: str | None, text: str
) -> InitReport:
    """platform.initReport (JSON format): the init phase ended; a failed one names its error."""
    metrics = record.get("metrics")
    status = record.get("status")
    return InitReport(
        ts,
        stream,
        event_id,
        json_num(metrics.get("durationMs")) if isinstance(metrics, dict) else None,
        opt_str(record.get("phase")),
        JSON_STATUS.get(str(status), REPORT_ERROR) if status else None,
        opt_str(record.get("errorType")),
        text,
    )


def _json_report(
    record: dict[str, Any], ts: int, stream: str, event_id: str | None
) -> Report | None:
    request_id = opt_str(record.get("requestId"))
    if not request_id:
        return None
    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        metrics = {}
    num = json_num
    status = record.get("status")
    return Report(
        request_id,
        ts,
        stream,
        event_id,
        duration_ms=num(metrics.get("durationMs")),
        billed_ms=num(metrics.get("billedDurationMs")),
        memory_mb=num(metrics.get("memorySizeMB")),
        max_memory_mb=num(metrics.get("maxMemoryUsedMB")),
        init_ms=num(metrics.get("initDurationMs")),
        status=JSON_STATUS.get(str(status), REPORT_ERROR) if status else REPORT_OK,
        error_type=opt_str(record.get("errorType")),
    )
