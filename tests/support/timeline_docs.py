"""Chain documents for the timeline tests: real chains from the chain factory, plus hostile text."""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser
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


class Page(HTMLParser):
    """The parts of a page a browser would act on: tags, attributes, script and style text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._open: tuple[str, dict[str, str | None]] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._open = (tag, dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is None:
            self.text.append(data)
        elif self._open[0] == "script":
            self.scripts.append((self._open[1], data))
        else:
            self.styles.append(data)

    def json_block(self, block_id: str) -> Any:
        for attrs, body in self.scripts:
            if attrs.get("id") == block_id:
                assert attrs.get("type") == "application/json"
                return json.loads(body)
        raise AssertionError(f"no JSON block {block_id}")

    def code(self) -> str:
        """The one executable script."""
        code = [body for attrs, body in self.scripts if "type" not in attrs]
        assert len(code) == 1
        return code[0]
