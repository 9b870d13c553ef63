"""Chain documents for the timeline tests: real chains from the chain factory, plus hostile text."""

from __future__ import annotations

import copy
from typing import Any

from recursectl.chain import ChainCollector
from tests.support.chain_factory import ChainSpec

NOW_LATE = 10**13
# What a handler could log to attack a page that embeds its lines carelessly.
HOSTILE = "</script><img src=x onerror=alert(1)><!--<script>alert(2)</script>&amp; https://evil.example/x.js"


def chain_doc(spec: ChainSpec, *, keep_lines: bool = True) -> dict[str, Any]:
    """The `recursectl logs --json` document of the chain these events make."""
    collector = ChainCollector(keep_lines=keep_lines)
    collector.add_events(spec.events())
    chain = collector.latest(now_ms=NOW_LATE)
    assert chain is not None
    return chain.to_dict()


def hostile(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with handler-controlled text turned hostile in every place it can be."""
    doc = copy.deepcopy(doc)
    inv = doc["invocations"][1]
    inv["lines"] = [*inv.get("lines", []), {"ts": inv["start"], "level": "INFO", "text": HOSTILE}]
    inv["status"] = "error"
    inv["error"] = {"type": "ValueError" + HOSTILE, "message": HOSTILE}
    inv["reason"] = HOSTILE  # a field this page does not know yet
    doc["invocations"][2]["child_failed"] = [HOSTILE]
    return doc
