"""Lambda's platform log records for one function, in its LoggingConfig's format.

LogFormat Text (the default): the lines of `logsink` (INIT_START, START, END, REPORT,
INIT_REPORT). LogFormat JSON: one compact JSON object per record, as Lambda writes them to
CloudWatch Logs (`{"time": ..., "type": "platform.<event>", "record": {...}}`, field names
of the Telemetry API's event schemas), filtered by SystemLogLevel. Lambda's level of each
record (AWS: "Log-level filtering", system log event levels): initStart, initReport, start
and report are INFO; runtimeDone (JSON's END) is DEBUG, so at the default INFO no record
marks the end of a request before its report. WARN keeps none of these.

Application logs are the runtime clients' own business: the environment passes them
AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL as Lambda does (`app_env`), and
`app_line_kept` applies ApplicationLogLevel to the JSON objects other code prints.
"""

from __future__ import annotations

import json
import math
import time

from recursectl.local.engine.attempt import FunctionSpec
from recursectl.local.worker import logsink

# Lambda's level names, least to most detail (TRACE only for application logs).
LEVELS = {"FATAL": 0, "ERROR": 1, "WARN": 2, "INFO": 3, "DEBUG": 4, "TRACE": 5}
_RECORD_LEVEL = {
    "platform.initStart": "INFO",
    "platform.initReport": "INFO",
    "platform.start": "INFO",
    "platform.runtimeDone": "DEBUG",
    "platform.report": "INFO",
}
# Application records' level names as runtime clients and libraries write them.
_APP_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL", "NOTSET": "TRACE"}
_COMPACT = (",", ":")  # Lambda writes its records without spaces


def _record(rtype: str, record: dict[str, object]) -> str:
    envelope = {"time": logsink.iso_ms(time.time()), "type": rtype, "record": record}
    return json.dumps(envelope, separators=_COMPACT)


def _ms(value: float) -> float:
    return round(value, 3)


class PlatformLog:
    """The platform records of one function's environments (None: filtered out)."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.json = spec.log_format == "JSON"
        self._system = LEVELS.get(spec.system_log_level or "INFO", LEVELS["INFO"])
        self._app = LEVELS.get(spec.app_log_level or "INFO", LEVELS["INFO"])

    def _keeps(self, rtype: str) -> bool:
        return LEVELS[_RECORD_LEVEL[rtype]] <= self._system

    def app_env(self) -> dict[str, str]:
        """What Lambda tells the runtime client of the log format (both set only for JSON:
        awslambdaric and aws-lambda-ric then write JSON records and drop levels below)."""
        if not self.json:
            return {}
        return {
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_LEVEL": self.spec.app_log_level or "INFO",
        }

    def app_line_kept(self, message: str) -> bool:
        """ApplicationLogLevel for what the runtime client did not filter: a printed JSON
        object with a `level` (AWS: an invalid or missing level counts as INFO). Plain text
        lines are kept: recursectl's markers are plain lines on stdout."""
        if not self.json or self._app >= LEVELS["TRACE"] or not message.startswith("{"):
            return True
        try:
            data = json.loads(message)
        except ValueError:
            return True
        if not isinstance(data, dict):
            return True
        level = data.get("level", data.get("log_level"))
        name = str(level).upper() if isinstance(level, str) else "INFO"
        name = _APP_ALIASES.get(name, name)
        return LEVELS.get(name, LEVELS["INFO"]) <= self._app

    # the records ------------------------------------------------------------------------
    def init_start(self, runtime_version: str) -> str | None:
        if not self.json:
            return logsink.init_start_line(runtime_version)
        if not self._keeps("platform.initStart"):
            return None
        record: dict[str, object] = {
            "initializationType": "on-demand",
            "phase": "init",
            "runtimeVersion": runtime_version,
            "runtimeVersionArn": f"arn:aws:lambda:local::runtime:{runtime_version}",
            "functionName": self.spec.name,
            "functionVersion": self.spec.version,
        }
        return _record("platform.initStart", record)

    def start(self, request_id: str) -> str | None:
        if not self.json:
            return logsink.start_line(request_id, self.spec.version)
        if not self._keeps("platform.start"):
            return None
        return _record("platform.start", {"requestId": request_id, "version": self.spec.version})

    def end(self, request_id: str, status: str, duration_ms: float) -> str | None:
        """END, or in JSON platform.runtimeDone (DEBUG only)."""
        if not self.json:
            return logsink.end_line(request_id)
        if not self._keeps("platform.runtimeDone"):
            return None
        record: dict[str, object] = {
            "requestId": request_id,
            "status": status,
            "metrics": {"durationMs": _ms(duration_ms), "producedBytes": 0},
        }
        return _record("platform.runtimeDone", record)

    def report(
        self,
        request_id: str,
        duration_ms: float,
        max_memory_mb: int,
        init_ms: float | None = None,
        status: str | None = None,
        error_type: str | None = None,
    ) -> str | None:
        """REPORT, or platform.report: status success | error | timeout (Text's `Status:`)."""
        memory = self.spec.memory
        if not self.json:
            return logsink.report_line(
                request_id, duration_ms, memory, max_memory_mb, init_ms, status, error_type
            )
        if not self._keeps("platform.report"):
            return None
        # Billed as in the text REPORT: Duration + Init Duration, rounded up to 1 ms.
        metrics: dict[str, object] = {
            "durationMs": _ms(duration_ms),
            "billedDurationMs": max(1, math.ceil(duration_ms + (init_ms or 0.0))),
            "memorySizeMB": memory,
            "maxMemoryUsedMB": max_memory_mb,
        }
        if init_ms is not None:
            metrics["initDurationMs"] = _ms(init_ms)
        record: dict[str, object] = {
            "requestId": request_id,
            "metrics": metrics,
            "status": status or "success",
        }
        if error_type:
            record["errorType"] = error_type
        return _record("platform.report", record)

    def init_report(
        self, init_ms: float, phase: str, status: str, error_type: str | None
    ) -> str | None:
        """INIT_REPORT (a failed or timed-out init), or platform.initReport."""
        if not self.json:
            if error_type:
                return logsink.init_report_line(init_ms, phase, error_type)
            return f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: {phase}\tStatus: {status}"
        if not self._keeps("platform.initReport"):
            return None
        record: dict[str, object] = {
            "initializationType": "on-demand",
            "phase": phase,
            "status": status,
        }
        if error_type:
            record["errorType"] = error_type
        record["metrics"] = {"durationMs": _ms(init_ms)}
        return _record("platform.initReport", record)

    def timed_out(self, request_id: str, timeout: float) -> str | None:
        """Text only: `<time> <request id> Task timed out after N seconds` (the JSON format
        says it with the report's status `timeout`)."""
        if self.json:
            return None
        text = f"Task timed out after {timeout:.2f} seconds"
        return f"{logsink.iso_ms(time.time())} {request_id} {text}"
