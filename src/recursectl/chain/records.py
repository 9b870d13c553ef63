"""What one log event says, as a small typed record (the parser's output, the collector's input).

Slotted dataclasses, mutable only for speed of construction: nothing changes a record after
the parser built it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias

# A checkpoint's progress: the handler's JSON object as (key, value) pairs, values scalars
# (a nested value is kept as its compact JSON text): immutable, and bounded by the parser.
Scalar: TypeAlias = str | int | float | bool | None
Progress: TypeAlias = tuple[tuple[str, Scalar], ...]

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


@dataclass(slots=True)
class Start:
    """A START line (Text) or a platform.start record (JSON): an attempt began."""

    request_id: str
    ts: int
    stream: str
    event_id: str | None
    kind: ClassVar[str] = "start"


@dataclass(slots=True)
class End:
    """An END line (Text only: the JSON format has no END at the default log level)."""

    request_id: str
    ts: int
    stream: str
    event_id: str | None
    kind: ClassVar[str] = "end"


@dataclass(slots=True)
class Report:
    """A REPORT line or platform.report record: an attempt ended, with its metrics."""

    request_id: str
    ts: int
    stream: str
    event_id: str | None
    duration_ms: float | None = None
    billed_ms: float | None = None
    memory_mb: float | None = None
    max_memory_mb: float | None = None
    init_ms: float | None = None
    status: str = REPORT_OK
    error_type: str | None = None
    kind: ClassVar[str] = "report"


@dataclass(slots=True)
class InitStart:
    """INIT_START (Text) or platform.initStart (JSON): an execution environment began.

    What its stream logs before its first START is that request's init phase.
    """

    ts: int
    stream: str
    event_id: str | None
    kind: ClassVar[str] = "init_start"


@dataclass(slots=True)
class InitReport:
    """INIT_REPORT (Text): the init phase failed or timed out; no request id on the line."""

    ts: int
    stream: str
    event_id: str | None
    init_ms: float | None
    phase: str | None
    status: str | None
    error_type: str | None
    text: str = ""  # the line as logged: shown with the invocation's lines
    kind: ClassVar[str] = "init_report"


@dataclass(slots=True)
class Failure:
    """An error or timeout logged by the runtime or the handler, outside of REPORT.

    `status` is "error" (uncaught exception) or "timeout" (old "Task timed out" line).
    `request_id` is None when the line carries none (Text `[ERROR]` lines): the collector
    attributes it to the request open in the same log stream at `ts`, or, logged before
    the stream's first START (an init failure: an import error), to that first request.
    """

    request_id: str | None
    ts: int
    stream: str
    event_id: str | None
    status: str
    error_type: str | None
    message: str | None
    text: str = ""  # the line as logged (an uncaught error's traceback): shown with the lines
    kind: ClassVar[str] = "failure"


@dataclass(slots=True)
class AppLine:
    """A line the handler wrote (print or logging); request_id None for print lines."""

    request_id: str | None
    ts: int
    stream: str
    event_id: str | None
    text: str
    level: str | None = None
    kind: ClassVar[str] = "line"


@dataclass(slots=True)
class Marker:
    """A `RECURSECTL_CHAIN {json}` record (see recursectl.protocol for the events).

    `owner` is the request id of the logging record the marker was written in (Text
    `[LEVEL]\\tts\\trid\\t` lines, JSON application records), None for a plain print; `text` is
    the line as written, shown as a handler line when the marker cannot be trusted.
    """

    ev: str
    ts: int
    stream: str
    event_id: str | None
    req: str
    chain: str | None = None
    parent: str | None = None
    child: str | None = None
    depth: int | None = None
    max: int | None = None
    error: str | None = None
    reason: str | None = None
    budget: int | None = None
    owner: str | None = None
    text: str = ""
    # Long jobs (docs/jobs.md): on a job's hop, child, checkpoint, job and duplicate markers.
    job: str | None = None
    seq: int | None = None
    attempt: int | None = None
    status: str | None = None  # a `job` marker's: done, failed, paused, cancelled, retry
    progress: Progress = ()  # a `checkpoint` marker's, as (key, value) pairs
    nbytes: int | None = None  # a `checkpoint` marker's `bytes`: the state's size
    spilled: bool | None = None  # a `checkpoint` marker's: the state went to the job bucket
    holder: str | None = None  # a `duplicate` marker's `owner`: who holds the hop's claim
    kind: ClassVar[str] = "marker"


Record: TypeAlias = Start | End | Report | InitStart | InitReport | Failure | AppLine | Marker
