"""Rendering chains: trees, collapsed runs, the summary footer and the JSON document (chains of
over a thousand invocations: tests/property/watch/test_render_sizes.py)."""

from __future__ import annotations

import io
import json
import re

from rich.console import Console

from recursectl.watch.render import chain_json, fmt_ms, render_chain
from tests.support.chain_factory import chain_of, fanout_spec, linear_spec
from tests.support.rendering import rows_with_ids, text


def test_linear_chain_shows_every_hop_with_its_numbers() -> None:
    spec = linear_spec(6)
    chain = chain_of(spec.events())
    out = text(chain)
    assert rows_with_ids(out) == [n.request_id[:8] for n in spec.nodes]
    first = out.splitlines()[1]
    assert "d0" in first
    assert "ok" in first
    assert f"{spec.nodes[0].duration_ms:.2f} ms" in first
    assert "36/128 MB" in first
    assert "cold " in first
    assert "complete" in out.splitlines()[0]
    assert "6 invocations · 0 errors · 1 cold start" in out
    assert "GB-s" in out
    assert "estimate" in out


def test_linear_chain_is_flat_not_nested() -> None:
    out = text(chain_of(linear_spec(12).events()), collapse=False)
    lines = [ln for ln in out.splitlines() if re.search(r"\bd\d+\b", ln)]
    assert len(lines) == 12
    indents = {ln.index(ln.lstrip("│├└─ ")[0]) for ln in lines}
    assert len(indents) == 1  # every hop at the same level


def test_fanout_renders_as_a_tree() -> None:
    spec = fanout_spec(2, 3)
    chain = chain_of(spec.events())
    out = text(chain)
    assert len(rows_with_ids(out)) == 15
    depth_indent: dict[int, set[int]] = {}
    for line in out.splitlines():
        m = re.search(r"\b[0-9a-f]{8}\s+d(\d+)", line)
        if m:
            depth_indent.setdefault(int(m.group(1)), set()).add(m.start())
    # One indentation per depth, deeper levels further right.
    assert all(len(v) == 1 for v in depth_indent.values())
    cols = [next(iter(depth_indent[d])) for d in range(4)]
    assert cols == sorted(cols)
    assert len(set(cols)) == 4


def test_handler_lines_on_request() -> None:
    chain = chain_of(linear_spec(2, app_lines=2).events(), keep_lines=True)
    assert "received {'remaining': 25}" not in text(chain)
    out = text(chain, lines=True)
    assert "received {'remaining': 25}" in out
    assert "working on item 1" in out


def test_missing_dropped_and_unlinked_are_labelled() -> None:
    spec = linear_spec(4, outcomes={2: "missing"})
    out = text(chain_of(spec.events()))
    assert "missing" in out
    assert "never started" in out
    spec = linear_spec(4, outcomes={2: "dropped"})
    out = text(chain_of(spec.events()))
    assert "dropped: RecursiveInvocationException" in out
    out = text(chain_of(linear_spec(3, markers=False).events()))
    assert "no recursectl markers" in out
    assert "d-" in out


def test_json_document_schema() -> None:
    spec = linear_spec(3, outcomes={1: "timeout"})
    doc = chain_json(chain_of(spec.events()))
    json.dumps(doc)  # serialisable as is
    assert doc["chain_id"] == spec.chain_id
    assert doc["complete"] is True
    assert doc["linked"] is True
    inv_keys = {
        "request_id",
        "parent_id",
        "depth",
        "status",
        "start",
        "duration_ms",
        "billed_ms",
        "memory_mb",
        "max_memory_mb",
        "init_ms",
        "error",
        "children",
    }
    assert len(doc["invocations"]) == 3
    for inv in doc["invocations"]:
        assert inv_keys <= set(inv)
    first, second, third = doc["invocations"]
    assert first["parent_id"] is None
    assert second["parent_id"] == spec.nodes[0].request_id
    assert first["children"] == [spec.nodes[1].request_id]
    assert second["status"] == "timeout"
    assert second["error"] == {"type": "Task timed out", "message": None}
    assert third["depth"] == 2
    assert isinstance(first["init_ms"], float)
    summary = doc["summary"]
    for key in ("count", "errors", "timeouts", "cold_starts", "wall_ms", "billed_ms"):
        assert key in summary
    assert summary["count"] == 3
    assert summary["timeouts"] == 1
    assert summary["cost_is_estimate"] is True


def test_fmt_ms() -> None:
    assert fmt_ms(None) == "-"
    assert fmt_ms(3.014) == "3.01 ms"
    assert fmt_ms(42.35) == "42.4 ms"
    assert fmt_ms(270.2) == "270 ms"
    assert fmt_ms(3000) == "3.00 s"
    assert fmt_ms(65_000) == "65.0 s"


def test_wide_tree_renders_collapsed() -> None:
    chain = chain_of(fanout_spec(12, 2, app_lines=0).events())  # 157 invocations
    out = text(chain, max_rows=100)
    assert "157 invocations" in out
    assert "… 2 more ok subtrees (26 invocations) not shown …" in out
    assert len(out.splitlines()) < 30


def test_control_characters_from_the_logs_are_shown_not_interpreted() -> None:
    # A handler prints a screen clear, a window title and an OSC 52 clipboard write; its
    # error message and the ids carry escapes too. Nothing reaches the terminal raw, with or
    # without colour; the JSON document keeps the exact text.
    hostile = "\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZWNobyBoaQ==\x07\u202eevil"
    spec = linear_spec(2, app_lines=0, outcomes={1: "error"})
    events = spec.events()
    last = spec.nodes[1].request_id
    start = next(e for e in events if e["message"].startswith(f"START RequestId: {last}"))
    events.append(
        {
            "message": f"print {hostile}\n",
            "timestamp": start["timestamp"] + 1,
            "logStreamName": start["logStreamName"],
            "eventId": "hostile",
        }
    )
    for e in events:
        e["message"] = e["message"].replace("ValueError: boom", f"ValueError: {hostile}")
    chain = chain_of(events, keep_lines=True)
    for no_color in (False, True):
        console = Console(file=io.StringIO(), width=300, no_color=no_color, color_system=None)
        console.print(render_chain(chain, lines=True))
        out = console.file.getvalue()  # type: ignore[attr-defined]
        assert "\x1b" not in out
        assert "\x07" not in out
        assert "\u202e" not in out
        assert "\\x1b]52;c;ZWNobyBoaQ==\\x07" in out  # the handler's line, made visible
        assert "ValueError: \\x1b[2J" in out  # the error message too
    doc = chain_json(chain)
    lines = [ln["text"] for inv in doc["invocations"] for ln in inv.get("lines", [])]
    assert f"print {hostile}" in lines  # exact
    assert "\\u001b" in json.dumps(doc)  # and JSON-escaped
    assert doc["invocations"][1]["error"]["message"] == hostile
