"""recursectl's marker lines (`RECURSECTL_CHAIN {json}`, see recursectl.protocol) -> Marker."""

from __future__ import annotations

import json
import math
from typing import Any

from recursectl.chain.records import AppLine, Marker, Progress, Record, Scalar
from recursectl.chain.values import loads, opt_int, opt_str
from recursectl.protocol import (
    EV_CHECKPOINT,
    EV_DUPLICATE,
    EV_JOB,
    EVENTS,
    JOB_STATUSES,
    MARKER,
)

MARKER_PREFIX = MARKER + " "
_MARKER_LEN = len(MARKER_PREFIX)
# The chain events and the long jobs' (docs/jobs.md): read whether or not the helpers of this
# version write them yet (protocol.EVENTS lists what they write).
READ_EVENTS = EVENTS | {EV_CHECKPOINT, EV_JOB, EV_DUPLICATE}
JOB_MARKER_STATUSES = frozenset({*JOB_STATUSES, "retry"})
# A checkpoint's progress is the handler's own object, shown on one line: bounded here.
MAX_PROGRESS_KEYS = 16
MAX_PROGRESS_TEXT = 120


def _scalar(value: Any) -> Scalar:
    """A progress value as shown: numbers and short strings as they are, the rest as JSON."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**18 else float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value[:MAX_PROGRESS_TEXT]
    return json.dumps(value, separators=(",", ":"), default=str)[:MAX_PROGRESS_TEXT]


def progress_pairs(value: Any) -> Progress:
    """A checkpoint's `progress` object -> (key, value) pairs (anything else: none)."""
    if not isinstance(value, dict):
        return ()
    return tuple(
        (str(k)[:MAX_PROGRESS_TEXT], _scalar(v)) for k, v in list(value.items())[:MAX_PROGRESS_KEYS]
    )


def _job_fields(get: Any) -> tuple[Any, ...] | None:
    """(job, seq, attempt, status, progress, bytes, spilled, owner), or None: an odd marker."""
    ints = []
    for name in ("seq", "attempt", "bytes"):
        raw = get(name)
        value = opt_int(raw)
        if (value is None and raw is not None) or (value is not None and value < 0):
            return None
        ints.append(value)
    seq, attempt, nbytes = ints
    status = opt_str(get("status"))
    spilled = get("spilled")
    return (
        opt_str(get("job")),
        seq,
        attempt,
        status if status in JOB_MARKER_STATUSES else None,
        progress_pairs(get("progress")),
        nbytes,
        spilled if isinstance(spilled, bool) else None,
        opt_str(get("owner")),
    )


def parse_marker(
    payload: str, ts: int, stream: str, event_id: str | None, owner: str | None = None
) -> Marker | None:
    """The JSON after `RECURSECTL_CHAIN ` -> Marker, or None if malformed or of an unknown ev."""
    data = loads(payload)
    if not isinstance(data, dict):
        return None
    get = data.get
    ev = get("ev")
    if ev.__class__ is not str or ev not in READ_EVENTS:
        return None
    req = opt_str(get("req"))
    if not req:
        return None
    ints = []
    for name in ("depth", "max", "budget"):
        raw = get(name)
        value = opt_int(raw)
        if value is None and raw is not None:
            return None  # "depth": 1e999 or "3": an odd marker, not a number to trust
        ints.append(value)
    depth, cap, budget = ints
    job = _job_fields(get) if "job" in data else (None, None, None, None, (), None, None, None)
    if job is None:
        return None
    return Marker(
        ev,
        ts,
        stream,
        event_id,
        req,
        opt_str(get("chain")),
        opt_str(get("parent")),
        opt_str(get("child")),
        depth,
        cap,
        opt_str(get("error")),
        opt_str(get("reason")),
        budget,
        owner,
        MARKER_PREFIX + payload.rstrip("\n"),
        *job,
    )


def marker_or_line(
    text: str, ts: int, stream: str, event_id: str | None, owner: str | None, lines: bool
) -> Record | None:
    """A marker; an odd one (broken JSON, unknown event, no req) is the handler's own line."""
    rec = parse_marker(text[_MARKER_LEN:], ts, stream, event_id, owner)
    if rec is not None:
        return rec
    return AppLine(owner, ts, stream, event_id, text.rstrip("\n")) if lines else None
