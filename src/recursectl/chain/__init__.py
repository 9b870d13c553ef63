"""The core domain, pure (no I/O): parse log events, link invocations into chains, stats.

collector = ChainCollector()
collector.add_events(events)          # FilterLogEvents event dicts, any order, duplicates ok
chain = collector.latest(now_ms=...)  # or .get(id_or_prefix), .chains()
chain.complete(), chain.summary()
"""

from __future__ import annotations

from recursectl.chain.model import (
    DEFAULT_GRACE_MS,
    STATUSES,
    Chain,
    ChainCollector,
    ErrorInfo,
    Invocation,
    Line,
)
from recursectl.chain.parse import MARKER, Record, parse_event, parse_message
from recursectl.chain.stats import (
    PRICE_PER_GB_SECOND_USD,
    PRICE_PER_MILLION_REQUESTS_USD,
    Summary,
    estimated_cost_usd,
    gb_seconds,
)

__all__ = [
    "DEFAULT_GRACE_MS",
    "MARKER",
    "PRICE_PER_GB_SECOND_USD",
    "PRICE_PER_MILLION_REQUESTS_USD",
    "STATUSES",
    "Chain",
    "ChainCollector",
    "ErrorInfo",
    "Invocation",
    "Line",
    "Record",
    "Summary",
    "estimated_cost_usd",
    "gb_seconds",
    "parse_event",
    "parse_message",
]
