"""recursectl's marker lines (`RECURSECTL_CHAIN {json}`, see recursectl.protocol) -> Marker."""

from __future__ import annotations

from recursectl.chain.records import AppLine, Marker, Record
from recursectl.chain.values import loads, opt_int, opt_str
from recursectl.protocol import EVENTS, MARKER

MARKER_PREFIX = MARKER + " "
_MARKER_LEN = len(MARKER_PREFIX)


def parse_marker(
    payload: str, ts: int, stream: str, event_id: str | None, owner: str | None = None
) -> Marker | None:
    """The JSON after `RECURSECTL_CHAIN ` -> Marker, or None if malformed or of an unknown ev."""
    data = loads(payload)
    if not isinstance(data, dict):
        return None
    get = data.get
    ev = get("ev")
    if ev.__class__ is not str or ev not in EVENTS:
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
    )


def marker_or_line(
    text: str, ts: int, stream: str, event_id: str | None, owner: str | None, lines: bool
) -> Record | None:
    """A marker; an odd one (broken JSON, unknown event, no req) is the handler's own line."""
    rec = parse_marker(text[_MARKER_LEN:], ts, stream, event_id, owner)
    if rec is not None:
        return rec
    return AppLine(owner, ts, stream, event_id, text.rstrip("\n")) if lines else None
