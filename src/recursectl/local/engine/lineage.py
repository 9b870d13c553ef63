"""Recursive-loop detection as Lambda does it: the X-Amzn-Trace-Id Lineage field (pure)."""

from __future__ import annotations

import re
import secrets
import time
import zlib
from urllib.parse import unquote

MAX_CHAIN = 16  # Lambda drops the 17th invocation of a function in one request chain
_LINEAGE = re.compile(r"^(?:\d+:)?(?P<hash>[0-9a-f]{8}):(?P<count>\d+)$")


def function_name(raw: str) -> str:
    """A function name from a name, a partial ARN or a full ARN (URL-decoded)."""
    return split_qualifier(raw)[0]


def split_qualifier(raw: str) -> tuple[str, str | None]:
    """(name, qualifier) from `name`, `name:q`, a partial ARN (`123456789012:function:name:q`)
    or a full ARN, URL-decoded; the qualifier is None when none is written."""
    raw = unquote(raw)
    if ":function:" in raw:
        raw = raw.split(":function:", 1)[1]
    name, sep, qualifier = raw.partition(":")
    return name, (qualifier if sep and qualifier else None)


def next_trace(header: str | None, function_key: str) -> tuple[str, int]:
    """The trace header for a new invocation and how many times this function is in its chain.

    The chain is recognised from the caller's X-Amzn-Trace-Id (botocore forwards the
    runtime's _X_AMZN_TRACE_ID): same Root, and a Lineage field counting, per function,
    the invocations so far.
    """
    fields: dict[str, str] = {}
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key] = value
    root = fields.get("Root") or f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    counts: dict[str, int] = {}
    for entry in fields.get("Lineage", "").split("|"):
        match = _LINEAGE.match(entry.strip())
        if match:
            counts[match["hash"]] = int(match["count"])
    count = counts.get(function_key, 0) + 1
    counts[function_key] = count
    lineage = "|".join(f"{h}:{c}" for h, c in counts.items())
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=0;Lineage={lineage}", count


def lineage_key(arn: str) -> str:
    """The Lineage entry key of a function (its ARN, hashed)."""
    return f"{zlib.crc32(arn.encode()):08x}"
