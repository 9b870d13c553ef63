"""The core domain, pure (no I/O, no clock): parse log events, link invocations into chains.

collector = ChainCollector()
collector.add_events(events)          # FilterLogEvents event dicts, any order, duplicates ok
chain = collector.latest(now_ms=...)  # or .get(id_or_prefix), .chains(): immutable snapshots
chain.complete(), chain.failed, chain.cuts(), chain.summary()

Modules, one job each: records (parsed record types), parse (the tolerant parser), fold (the
hot loop and its regex), state (per-request and per-stream state, which markers to trust),
status (the status and completion rules, the timing), tree (linking into snapshots),
snapshot (Chain, Invocation), stats (Summary), collector (the API), errors.
"""

from __future__ import annotations

from recursectl.chain.collector import ChainCollector
from recursectl.chain.errors import AmbiguousChainId, ChainError
from recursectl.chain.parse import parse_event, parse_message
from recursectl.chain.records import Record
from recursectl.chain.snapshot import Chain, ErrorInfo, Invocation, Line
from recursectl.chain.stats import (
    Summary,
    gb_seconds,
)
from recursectl.chain.status import DEFAULT_TIMING, Status, Timing

__all__ = [
    "DEFAULT_TIMING",
    "AmbiguousChainId",
    "Chain",
    "ChainCollector",
    "ChainError",
    "ErrorInfo",
    "Invocation",
    "Line",
    "Record",
    "Status",
    "Summary",
    "Timing",
    "gb_seconds",
    "parse_event",
    "parse_message",
]
