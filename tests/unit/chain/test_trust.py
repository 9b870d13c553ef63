"""What a handler's own prints can and cannot do to the tree, and chains cut by a limit."""

from __future__ import annotations

import io
import json
from typing import Any

from rich.console import Console

from recursectl.chain import Chain, ChainCollector
from recursectl.protocol import MARKER
from recursectl.watch import follow
from recursectl.watch.render import chain_json, render_chain
from tests.support.chain_factory import ChainSpec, fanout_spec, linear_spec

NOW_LATE = 10**13
DROPS = "recursectl-local/drops"


def marker(**fields: Any) -> str:
    return f"{MARKER} {json.dumps({'v': 1, **fields}, separators=(',', ':'))}\n"


def ev(message: str, ts: int, stream: str, eid: str) -> dict[str, Any]:
    return {"message": message, "timestamp": ts, "logStreamName": stream, "eventId": eid}


def start_of(events: list[dict[str, Any]], rid: str) -> dict[str, Any]:
    return next(e for e in events if e["message"].startswith(f"START RequestId: {rid}"))


def chains(events: list[dict[str, Any]], *, lines: bool = False) -> dict[str, Chain]:
    c = ChainCollector(keep_lines=lines)
    c.add_events(events)
    return {ch.chain_id: ch for ch in c.chains(now_ms=NOW_LATE)}


def text(chain: Chain) -> str:
    console = Console(file=io.StringIO(), width=200, no_color=True)
    console.print(render_chain(chain, lines=True))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


# Forgery --------------------------------------------------------------------------------------


def test_a_print_cannot_graft_another_request_onto_a_chain() -> None:
    a = linear_spec(2, seed=1)
    b = linear_spec(2, seed=2, start_ms=a.start_ms + 5)  # overlapping in time
    events = a.events() + b.events()
    honest = chains(events)
    # The handler of a's second hop prints markers naming b's requests: a hop that moves b's
    # root under a, a child marker for b's root, a capped marker for b's root.
    victim, forger = b.chain_id, a.nodes[1].request_id
    at = start_of(events, forger)
    ts, stream = at["timestamp"] + 1, at["logStreamName"]
    forged = [
        marker(ev="hop", chain=a.chain_id, req=victim, parent=forger, depth=2, max=25),
        marker(ev="child", chain=a.chain_id, req=victim, child="ffffffff-0000", depth=3),
        marker(ev="capped", chain=victim, req=victim, depth=0, max=0, reason="depth"),
        marker(ev="dropped", req=b.nodes[1].request_id, reason="RecursiveInvocationException"),
    ]
    events += [ev(m, ts, stream, f"forged{k}") for k, m in enumerate(forged)]
    got = chains(events, lines=True)
    assert set(got) == set(honest) == {a.chain_id, b.chain_id}
    for cid in honest:
        assert [i.to_dict()["request_id"] for i in got[cid].invocations] == [
            i.request_id for i in honest[cid].invocations
        ]
        assert not got[cid].failed
    # The forged markers are shown as what they are: the forger's own lines.
    forger_lines = [ln.text for ln in got[a.chain_id].get(forger).lines]  # type: ignore[union-attr]
    assert [m.rstrip("\n") for m in forged] == [ln for ln in forger_lines if MARKER in ln]


def test_a_marker_inside_another_requests_logging_record_is_that_requests_line() -> None:
    spec = linear_spec(1)
    events = spec.events()
    rid = spec.chain_id
    at = start_of(events, rid)
    other = "0badf00d-0000-4000-8000-000000000000"
    text_marker = marker(ev="capped", chain=rid, req=rid, depth=0, max=0).rstrip("\n")
    line = f"[INFO]\t2026-05-01T12:00:00.000Z\t{other}\t{text_marker}\n"
    events.append(ev(line, at["timestamp"] + 1, at["logStreamName"], "x1"))
    chain = chains(events, lines=True)[rid]
    assert chain.get(rid).capped is None  # type: ignore[union-attr]
    assert not chain.failed


def test_markers_that_arrive_before_their_start_are_trusted_once_it_arrives() -> None:
    spec = fanout_spec(2, 2, fmt="mixed")
    events = spec.events()
    expected = chains(events)[spec.chain_id]
    starts_last = sorted(
        events, key=lambda e: "START" in e["message"] or "platform.start" in e["message"]
    )
    got = chains(starts_last)[spec.chain_id]
    assert [i.request_id for i in got.invocations] == [i.request_id for i in expected.invocations]
    assert [i.children for i in got.invocations] == [i.children for i in expected.invocations]


def test_overlapping_chains_of_one_function_never_merge() -> None:
    # Two fan-out trees at the same time, sharing warm environments (streams) in turn.
    a = fanout_spec(2, 2, seed=3)
    b = fanout_spec(2, 2, seed=4, start_ms=a.start_ms + 1)
    b_events = b.events()
    a_events = a.events()
    # Run b in a's environments: same stream names, so only the markers keep them apart.
    a_streams = sorted({e["logStreamName"] for e in a_events})
    b_streams = sorted({e["logStreamName"] for e in b_events})
    rename = dict(zip(b_streams, a_streams * 2, strict=False))
    for e in b_events:
        e["logStreamName"] = rename.get(e["logStreamName"], e["logStreamName"])
        e["eventId"] = "b" + e["eventId"]
    got = chains(a_events + b_events)
    assert {cid: len(ch) for cid, ch in got.items()} == {a.chain_id: 7, b.chain_id: 7}


def test_a_dropped_marker_counts_only_outside_execution_environments() -> None:
    spec = linear_spec(3, outcomes={2: "dropped"})
    events = spec.events()
    assert {e["logStreamName"] for e in events if '"dropped"' in e["message"]} == {DROPS}
    chain = chains(events)[spec.chain_id]
    assert chain.get(spec.nodes[2].request_id).status == "dropped"  # type: ignore[union-attr]
    # The same line printed by a handler is nobody's drop.
    moved = [
        dict(e, logStreamName=start_of(events, spec.nodes[1].request_id)["logStreamName"])
        if e["logStreamName"] == DROPS
        else e
        for e in events
    ]
    chain = chains(moved)[spec.chain_id]
    assert chain.get(spec.nodes[2].request_id).status == "missing"  # type: ignore[union-attr]


# Chains cut by a limit ------------------------------------------------------------------------


def _cut(spec: ChainSpec, at: int, **fields: Any) -> tuple[Chain, list[dict[str, Any]]]:
    events = spec.events()
    rid = spec.nodes[at].request_id
    start = start_of(events, rid)
    events.append(
        ev(
            marker(chain=spec.chain_id, req=rid, **fields),
            start["timestamp"] + 1,
            start["logStreamName"],
            "cut",
        )
    )
    return chains(events)[spec.chain_id], events


def test_a_chain_capped_at_the_depth_cap_fails_and_says_which_setting() -> None:
    spec = linear_spec(3, max_calls=2)
    chain, _ = _cut(spec, 2, ev="capped", depth=2, max=2, reason="depth", budget=998)
    inv = chain.get(spec.nodes[2].request_id)
    assert inv is not None
    assert (inv.cut, inv.capped, inv.capped_reason) == ("depth", 2, "depth")
    assert chain.complete()
    assert chain.failed
    assert "capped: the depth cap max_calls=2 refused a child" in text(chain)
    error = follow.failure(chain, "fn")
    assert error is not None
    assert "1 capped invocation" in error.message
    assert error.hint is not None
    assert "--max-calls" in error.hint
    doc = chain_json(chain)
    assert doc["failed"] is True
    assert doc["invocations"][2]["cut"] == "depth"
    assert doc["invocations"][0]["budget"] == 1000  # from the hop marker
    assert doc["summary"]["capped"] == 1


def test_a_chain_out_of_budget_names_max_invocations() -> None:
    spec = fanout_spec(2, 1)
    chain, _ = _cut(spec, 1, ev="capped", depth=1, max=25, reason="budget", budget=1)
    assert chain.get(spec.nodes[1].request_id).cut == "budget"  # type: ignore[union-attr]
    assert "invocation budget" in text(chain)
    error = follow.failure(chain, "fn")
    assert error is not None
    assert error.hint is not None
    assert "--max-invocations" in error.hint
    assert "max_invocations (1000)" in error.hint  # the root's budget is the setting


def test_a_chain_stopped_by_the_kill_switch_points_at_resume() -> None:
    spec = linear_spec(2)
    chain, _ = _cut(spec, 1, ev="stopped", depth=1, gen=0)
    assert chain.failed
    error = follow.failure(chain, "fn")
    assert error is not None
    assert error.hint is not None
    assert "recursectl resume" in error.hint


def test_the_guards_refusal_exception_is_shown_at_the_node_it_cut() -> None:
    # The guard raises in the handler when it refuses; an uncaught refusal is an error
    # *and* a capped node: the tree shows both where it happened.
    spec = linear_spec(3, outcomes={2: "error"})
    chain, _ = _cut(spec, 2, ev="capped", depth=2, max=2, reason="depth")
    inv = chain.get(spec.nodes[2].request_id)
    assert inv is not None
    assert (inv.status, inv.cut) == ("error", "depth")
    out = text(chain)
    row = next(line for line in out.splitlines() if inv.short_id in line)
    assert "error" in row
    assert "capped" in row


def test_loop_detection_drop_and_missing_child_fail_with_the_loop_hint() -> None:
    chain = chains(linear_spec(4, outcomes={3: "dropped"}).events())
    (only,) = chain.values()
    error = follow.failure(only, "fn")
    assert error is not None
    assert error.hint is not None
    assert "loop detection" in error.hint
    assert "--max-calls 16" in error.hint
    (missing,) = chains(linear_spec(4, outcomes={3: "missing"}).events()).values()
    error = follow.failure(missing, "fn")
    assert error is not None
    assert error.hint is not None
    assert "never started" in error.hint
    assert "--max-calls 16" in error.hint


def test_a_healthy_chain_is_not_failed() -> None:
    (chain,) = chains(linear_spec(4).events()).values()
    assert not chain.failed
    assert follow.failure(chain, "fn") is None


def test_error_messages_show_log_text_escaped() -> None:
    # The chain id comes from the logs: the one-line error must not carry its escapes.
    spec = linear_spec(2, outcomes={1: "error"})
    hostile = "\x1b]0;title\x07"
    events = spec.events()
    for e in events:
        e["message"] = e["message"].replace(spec.chain_id, spec.chain_id + hostile)
    (chain,) = chains(events).values()
    error = follow.failure(chain, "fn")
    assert error is not None
    assert "\x1b" not in error.message
    assert "\\x1b]0;title\\x07" in error.message
    assert error.hint is not None
    assert "\x1b" not in error.hint
