"""Linking records into chains: order, duplicates, retries, missing and dropped children.
(Any permutation of a chain's events: tests/property/chain/test_model_props.py.)"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from recursectl import pricing
from recursectl.chain import (
    AmbiguousChainId,
    ChainCollector,
    gb_seconds,
)
from tests.support.chain_factory import (
    NOW_LATE,
    ChainSpec,
    Node,
    collect,
    fanout_spec,
    latest,
    linear_spec,
    shape,
)

# ../shared/ beside the repository root (CI lays it there too).
SEED_FILE = (
    Path(__file__).resolve().parents[3].parent / "shared" / "seed" / "recursive-lambda-example.txt"
)
# The last 30 lines of the original example, as `sls logs` printed them (literal copy).
SEED_LOGS = """\
START RequestId: 43a9d5b46c-11e6-b6bc-718f7ec807df Version: $LATEST
2026 22:39:37.769 (-08:00) 43a9d5b46c-11e6-b6bc-718f7ec807df received { numberOfCalls: 5 }
2026 22:39:37.792 (-08:00) 43a9d5b46c-11e6-b6bc-718f7ec807df recursive call
END RequestId: 43a9d5b46c-11e6-b6bc-718f7ec807df
REPORT RequestId: 43a9d5b46c-11e6-b6bc-718f7ec807df Duration: 270.23 ms Billed Duration: 300 ms Memory Size: 1024 MB Max Memory Used: 32 MB
START RequestId: 446bedb46c-11e6-88fd-1bd64622e38d Version: $LATEST
2026 22:39:37.966 (-08:00) 446bedb46c-11e6-88fd-1bd64622e38d received { numberOfCalls: 4 }
2026 22:39:37.966 (-08:00) 446bedb46c-11e6-88fd-1bd64622e38d recursive call
END RequestId: 446bedb46c-11e6-88fd-1bd64622e38d
REPORT RequestId: 446bedb46c-11e6-88fd-1bd64622e38d Duration: 119.04 ms Billed Duration: 200 ms Memory Size: 1024 MB Max Memory Used: 32 MB
START RequestId: 4479f6b46c-11e6-b27d58a248a566 Version: $LATEST
2026 22:39:38.122 (-08:00) 4479f6b46c-11e6-b27d58a248a566 received { numberOfCalls: 3 }
2026 22:39:38.122 (-08:00) 4479f6b46c-11e6-b27d58a248a566 recursive call
END RequestId: 4479f6b46c-11e6-b27d58a248a566
REPORT RequestId: 4479f6b46c-11e6-b27d58a248a566 Duration: 40.55 ms Billed Duration: 100 ms Memory Size: 1024 MB Max Memory Used: 32 MB
START RequestId: 44914fb46c-11e6-ae2b-65715f0c0d90 Version: $LATEST
2026 22:39:38.196 (-08:00) 44914fb46c-11e6-ae2b-65715f0c0d90 received { numberOfCalls: 2 }
2026 22:39:38.196 (-08:00) 44914fb46c-11e6-ae2b-65715f0c0d90 recursive call
END RequestId: 44914fb46c-11e6-ae2b-65715f0c0d90
REPORT RequestId: 44914fb46c-11e6-ae2b-65715f0c0d90 Duration: 32.38 ms Billed Duration: 100 ms Memory Size: 1024 MB Max Memory Used: 32 MB
START RequestId: 449c72f5-b46c-11e6-a441cb6f0603cc Version: $LATEST
2026 22:39:38.268 (-08:00) 449c72f5-b46c-11e6-a441cb6f0603cc received { numberOfCalls: 1 }
2026 22:39:38.268 (-08:00) 449c72f5-b46c-11e6-a441cb6f0603cc recursive call
END RequestId: 449c72f5-b46c-11e6-a441cb6f0603cc
REPORT RequestId: 449c72f5-b46c-11e6-a441cb6f0603cc Duration: 49.82 ms Billed Duration: 100 ms Memory Size: 1024 MB Max Memory Used: 32 MB
START RequestId: 44a8f64b-b46c-11e6-b0535b4cab8224 Version: $LATEST
2026 22:39:38.350 (-08:00) 44a8f64b-b46c-11e6-b0535b4cab8224 received { numberOfCalls: 0 }
2026 22:39:38.350 (-08:00) 44a8f64b-b46c-11e6-b0535b4cab8224 recursive call finished
END RequestId: 44a8f64b-b46c-11e6-b0535b4cab8224
REPORT RequestId: 44a8f64b-b46c-11e6-b0535b4cab8224 Duration: 0.56 ms Billed Duration: 100 ms Memory Size: 1024 MB Max Memory Used: 32 MB"""  # noqa: E501


def ev(message: str, ts: int, stream: str = "s", event_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"message": message, "timestamp": ts, "logStreamName": stream}
    if event_id is not None:
        event["eventId"] = event_id
    return event


def report(rid: str, duration: float, billed: int) -> str:
    return (
        f"REPORT RequestId: {rid}\tDuration: {duration:.2f} ms\tBilled Duration: {billed} ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 40 MB\t\n"
    )


def stream_of(events: list[dict[str, Any]], rid: str) -> str:
    """The log stream (execution environment) that ran `rid`."""
    starts = (f"START RequestId: {rid}", f'"platform.start","record":{{"requestId":"{rid}"')
    return next(e["logStreamName"] for e in events if any(s in e["message"] for s in starts))


# The original example (no markers) ----------------------------------------------------------


def seed_events() -> list[dict[str, Any]]:
    events = []
    for n, line in enumerate(SEED_LOGS.splitlines()):
        # One stream (the example ran in one warm environment); 10 ms between lines.
        events.append(
            {"message": line + "\n", "timestamp": 1_000_000 + 10 * n, "logStreamName": "s1"}
        )
    return events


def test_seed_literal_matches_the_seed_file() -> None:
    if not SEED_FILE.exists():
        pytest.skip(f"the seed example is not at {SEED_FILE} (../shared/ beside the repository)")
    # The file wraps nothing: the literal is its last lines, byte for byte (line ends aside).
    assert SEED_LOGS in SEED_FILE.read_text().replace("\r\n", "\n")


def test_seed_example_without_markers_falls_back_to_time_order() -> None:
    chain = latest(seed_events(), now=2_000_000, keep_lines=True)
    assert chain.linked is False
    assert [i.request_id[:10] for i in chain.invocations] == [
        "43a9d5b46c",
        "446bedb46c",
        "4479f6b46c",
        "44914fb46c",
        "449c72f5-b",
        "44a8f64b-b",
    ]
    assert all(i.status == "ok" and i.parent_id is None for i in chain.invocations)
    assert [i.duration_ms for i in chain.invocations] == [270.23, 119.04, 40.55, 32.38, 49.82, 0.56]
    assert chain.invocations[0].memory_mb == 1024.0
    # The sls-prefixed handler lines are app lines of the request open in the stream.
    assert [ln.text for ln in chain.invocations[5].lines] == [
        "2026 22:39:38.350 (-08:00) 44a8f64b-b46c-11e6-b0535b4cab8224 received "
        "{ numberOfCalls: 0 }",
        "2026 22:39:38.350 (-08:00) 44a8f64b-b46c-11e6-b0535b4cab8224 recursive call finished",
    ]
    summary = chain.summary()
    assert summary.count == 6
    assert summary.billed_ms == 900.0
    assert summary.gb_seconds == pytest.approx(0.9)  # 900 ms at 1 GB
    assert chain.complete() is True
    early = collect(seed_events()).latest(now_ms=1_000_300)
    assert early is not None
    assert early.complete() is False  # could still grow: quiet for less than the quiet time


# Linear chain with markers ---------------------------------------------------------------------


def test_linear_chain_of_six() -> None:
    spec = linear_spec(6)
    chain = latest(spec.events())
    ids = [n.request_id for n in spec.nodes]
    assert chain.linked
    assert chain.chain_id == ids[0]
    assert shape(chain) == [
        (ids[i], ids[i - 1] if i else None, i, "ok", (ids[i + 1],) if i < 5 else ())
        for i in range(6)
    ]
    assert chain.complete()
    inv = chain.invocations[0]
    assert inv.init_ms is not None  # the first invocation is a cold start
    assert inv.duration_ms == spec.nodes[0].duration_ms
    assert inv.memory_mb == 128.0
    assert inv.max_memory_mb == 36.0
    assert inv.billed_ms == float(int(spec.nodes[0].duration_ms) + 1)


def test_json_format_chain() -> None:
    spec = linear_spec(6, fmt="json")
    chain = latest(spec.events())
    assert [i.status for i in chain.invocations] == ["ok"] * 6
    assert [i.depth for i in chain.invocations] == list(range(6))
    assert chain.invocations[0].init_ms is not None
    assert chain.complete()


def test_fanout_tree_of_fifteen() -> None:
    spec = fanout_spec(2, 3, fmt="mixed")
    chain = latest(spec.events())
    assert len(chain) == 15
    assert chain.complete()
    by_id = {n.request_id: n for n in spec.nodes}
    for inv in chain.invocations:
        node = by_id[inv.request_id]
        assert inv.children == tuple(node.children)
        assert inv.parent_id == node.parent
        assert inv.depth == node.depth
    # Pre-order: every parent comes before its children.
    pos = {inv.request_id: k for k, inv in enumerate(chain.invocations)}
    assert all(pos[c] > pos[i.request_id] for i in chain.invocations for c in i.children)
    assert [len(chain.children_of(i.request_id)) for i in chain.invocations[:2]] == [2, 2]


def test_in_progress_chain_is_not_complete() -> None:
    events = linear_spec(6).events()
    cut = [e for e in events if e["timestamp"] < events[-1]["timestamp"] - 20]
    chain = latest(cut, now=events[-1]["timestamp"])
    assert not chain.complete()
    assert {i.status for i in chain.invocations} >= {"ok"}
    assert chain.invocations[-1].status in ("running", "pending")


# Order, duplicates, retries ---------------------------------------------------------------------


def test_out_of_order_and_duplicated_events_give_the_same_chain() -> None:
    events = fanout_spec(2, 3, fmt="mixed").events()
    expected = shape(latest(events))
    shuffled = events + events[::3]  # every third event twice
    random.Random(7).shuffle(shuffled)
    chain = latest(shuffled)
    assert shape(chain) == expected
    assert chain.summary() == latest(events).summary()


def test_retried_invocation_same_request_id_twice() -> None:
    spec = linear_spec(3)
    spec.nodes[1].retried = True  # first attempt fails, the async retry succeeds
    events = spec.events()
    chain = latest(events)
    inv = chain.invocations[1]
    assert inv.attempts == 2
    assert inv.status == "ok"  # the latest attempt decides
    assert inv.error is None
    assert chain.summary().retries == 1
    assert chain.summary().requests == 4  # both attempts are billed requests
    assert len(chain) == 3
    # While the retry has started but not reported, the invocation is running again.
    retry_start = max(
        e["timestamp"] for e in events if f"START RequestId: {inv.request_id}" in e["message"]
    )
    before = [e for e in events if e["timestamp"] <= retry_start]
    mid = latest(before, now=retry_start)
    assert mid.get(inv.request_id) is not None
    assert mid.get(inv.request_id).status == "running"  # type: ignore[union-attr]


# Missing, dropped, errors in the middle -----------------------------------------------------------


def test_missing_child_after_grace_period() -> None:
    spec = linear_spec(4, outcomes={2: "missing"})
    events = spec.events()
    collector = collect(events)
    parent_end = max(
        e["timestamp"]
        for e in events
        if e["message"].startswith(f"REPORT RequestId: {spec.nodes[1].request_id}")
    )
    early = collector.latest(now_ms=parent_end + 1000)
    assert early is not None
    assert early.get(spec.nodes[2].request_id).status == "pending"  # type: ignore[union-attr]
    assert not early.complete()
    late = collector.latest(now_ms=parent_end + 30_000)
    assert late is not None
    missing = late.get(spec.nodes[2].request_id)
    assert missing is not None
    assert missing.status == "missing"
    assert late.complete()
    assert late.summary().missing == 1
    assert len(late) == 3  # the missing child never ran, so it announced nobody
    # The snapshot is judged at the clock it was taken at, and does not change afterwards.
    assert early.get(spec.nodes[2].request_id).status == "pending"  # type: ignore[union-attr]


def test_dropped_child() -> None:
    spec = linear_spec(4, outcomes={2: "dropped"})
    chain = latest(spec.events(), now=None)  # no clock needed: the drop is explicit
    dropped = chain.get(spec.nodes[2].request_id)
    assert dropped is not None
    assert dropped.status == "dropped"
    assert dropped.dropped_reason == "RecursiveInvocationException"
    assert dropped.parent_id == spec.nodes[1].request_id
    assert chain.complete()
    assert chain.summary().dropped == 1


def test_timeout_and_error_in_the_middle() -> None:
    for fmt in ("text", "json"):
        # The timed-out hop had already invoked its child; the errored one invokes nobody.
        spec = linear_spec(6, outcomes={2: "timeout", 4: "error"}, fmt=fmt)
        chain = latest(spec.events())
        assert [i.status for i in chain.invocations] == ["ok", "ok", "timeout", "ok", "error"]
        err = chain.invocations[4].error
        assert err is not None
        assert err.type == "ValueError"
        summary = chain.summary()
        assert (summary.errors, summary.timeouts, summary.ok, summary.count) == (1, 1, 3, 5)
        assert chain.complete()


def test_timeout_status_and_old_timeout_line() -> None:
    spec = linear_spec(3, outcomes={1: "timeout"})
    chain = latest(spec.events())
    assert [i.status for i in chain.invocations] == ["ok", "timeout", "ok"]
    assert chain.summary().timeouts == 1
    # Old runtimes: a plain REPORT plus a "Task timed out" line with the request id.
    rid = "0d0a5c31-0000-4000-a000-000000000001"
    events = [
        ev(f"START RequestId: {rid} Version: $LATEST\n", 1),
        ev(f"2024-05-01T12:00:03.1Z {rid} Task timed out after 3.00 seconds\n", 3001),
        ev(f"END RequestId: {rid}\n", 3002),
        ev(report(rid, 3000, 3000), 3002),
    ]
    old = latest(events)
    assert old.invocations[0].status == "timeout"
    assert old.invocations[0].error is not None


def test_uncaught_error_line_without_request_id_is_attributed_by_stream() -> None:
    rid = "11111111-0000-4000-a000-000000000001"
    other = "22222222-0000-4000-a000-000000000002"
    events = [
        ev(f"START RequestId: {other} Version: $LATEST\n", 1),
        ev(report(other, 1, 1), 2),
        ev(f"START RequestId: {rid} Version: $LATEST\n", 10),
        ev("[ERROR] KeyError: 'x'\nTraceback (most recent call last):\n", 11),
        ev(report(rid, 1, 1), 12),
    ]
    for order in (events, events[::-1]):
        chain = latest(order)
        by = {i.request_id: i for i in chain.invocations}
        assert by[other].status == "ok"
        assert by[rid].status == "error"
        assert by[rid].error is not None
        assert by[rid].error.type == "KeyError"


def test_capped_and_child_failed_are_shown_on_the_parent() -> None:
    spec = linear_spec(2)
    events = spec.events()
    last = spec.nodes[1].request_id
    chain_id = spec.chain_id
    ts = events[-1]["timestamp"]
    capped = {"v": 1, "ev": "capped", "chain": chain_id, "req": last, "depth": 1, "max": 1}
    failed = {
        "v": 1,
        "ev": "child_failed",
        "chain": chain_id,
        "req": chain_id,
        "depth": 1,
        "error": "TooManyRequestsException: Rate exceeded",
    }
    at_last, at_root = stream_of(events, last), stream_of(events, chain_id)
    root_ts = (
        next(
            e["timestamp"]
            for e in events
            if e["logStreamName"] == at_root and "START RequestId" in e["message"]
        )
        + 1
    )
    events += [
        ev("RECURSECTL_CHAIN " + json.dumps(capped), ts - 1, at_last),
        ev("RECURSECTL_CHAIN " + json.dumps(failed), root_ts, at_root, "cf1"),
        ev("RECURSECTL_CHAIN " + json.dumps(failed), root_ts, at_root, "cf1"),  # duplicate
    ]
    chain = latest(events)
    assert chain.get(last).capped == 1  # type: ignore[union-attr]
    assert chain.get(chain_id).child_failed == ("TooManyRequestsException: Rate exceeded",)  # type: ignore[union-attr]
    assert len(chain) == 2
    assert chain.complete()


def test_a_chain_ended_by_recursectl_stop_is_shown_and_complete() -> None:
    spec = linear_spec(3)
    events = spec.events()
    last = spec.nodes[2].request_id
    stopped = {"v": 1, "ev": "stopped", "chain": spec.chain_id, "req": last, "depth": 2, "gen": 0}
    marker = "RECURSECTL_CHAIN " + json.dumps(stopped)
    events.append(ev(marker, events[-1]["timestamp"] - 1, stream_of(events, last)))
    chain = latest(events)
    inv = chain.get(last)
    assert inv is not None
    assert inv.stopped
    assert not inv.healthy  # always shown, never collapsed
    assert [i.stopped for i in chain.invocations] == [False, False, True]
    assert chain.to_dict()["invocations"][2]["stopped"] is True
    assert chain.complete()


def test_child_marker_order_is_kept_and_hop_only_children_are_linked() -> None:
    # A child whose parent's "child" marker is lost still hangs under the parent (hop parent).
    spec = fanout_spec(3, 1)
    root = spec.nodes[0].request_id
    lost = spec.nodes[2].request_id
    events = [e for e in spec.events() if f'"child":"{lost}"' not in e["message"]]
    chain = latest(events)
    assert chain.get(root).children == (  # type: ignore[union-attr]
        spec.nodes[1].request_id,
        spec.nodes[3].request_id,
        lost,
    )
    assert chain.get(lost).depth == 1  # type: ignore[union-attr]


# Lines ---------------------------------------------------------------------------------------


def test_lines_kept_only_on_request_and_bounded_per_invocation() -> None:
    spec = linear_spec(3, app_lines=8)
    events = spec.events()
    assert all(not i.lines for i in latest(events).invocations)
    c = ChainCollector(keep_lines=True, max_lines=5)
    c.add_events(events + events)  # duplicates do not count twice
    chain = c.latest()
    assert chain is not None
    for inv in chain.invocations:
        assert len(inv.lines) == 5
        assert inv.lines_dropped == 3
    texts = [ln.text for ln in chain.invocations[1].lines]
    assert texts[0] == "received {'remaining': 24}"
    assert "working on item 1" in texts


def test_lines_arriving_before_their_start_are_attributed_later() -> None:
    spec = linear_spec(1, app_lines=1)
    events = spec.events()
    c = ChainCollector(keep_lines=True)
    c.add_events(sorted(events, key=lambda e: "START" in e["message"]))  # START last
    chain = c.latest()
    assert chain is not None
    assert [ln.text for ln in chain.invocations[0].lines] == ["received {'remaining': 25}"]


# Collector API --------------------------------------------------------------------------------


def two_chains() -> tuple[ChainSpec, ChainSpec, ChainCollector]:
    a = linear_spec(3, seed=1)
    b = linear_spec(2, seed=2, start_ms=a.start_ms + 60_000)
    c = ChainCollector()
    c.add_events(b.events())
    c.add_events(a.events())
    return a, b, c


def test_chains_latest_and_get_by_prefix() -> None:
    a, b, c = two_chains()
    assert [ch.chain_id for ch in c.chains()] == [a.chain_id, b.chain_id]
    assert c.latest().chain_id == b.chain_id  # type: ignore[union-attr]
    assert c.get(a.chain_id[:6]).chain_id == a.chain_id  # type: ignore[union-attr]
    assert c.get(a.nodes[2].request_id).chain_id == a.chain_id  # type: ignore[union-attr]
    assert c.get("zzzz") is None


def test_get_with_an_ambiguous_prefix_is_a_usage_error() -> None:
    nodes = [Node("abc1-root", None, 0), Node("abc2-root", None, 0)]
    c = ChainCollector()
    c.add_events(ChainSpec([nodes[0]]).events())
    c.add_events(ChainSpec([nodes[1]], start_ms=2_000_000_000_000).events())
    with pytest.raises(AmbiguousChainId) as info:
        c.get("abc")
    assert "ambiguous" in info.value.message
    assert c.get("abc2").chain_id == "abc2-root"  # type: ignore[union-attr]


def test_a_start_before_its_hop_marker_is_not_shown_as_an_unlinked_chain() -> None:
    a = linear_spec(2, seed=1)
    b = linear_spec(1, seed=2, start_ms=a.start_ms + 60_000)
    b_events = b.events()
    start_only = [e for e in b_events if "START RequestId" in e["message"]]
    c = ChainCollector()
    c.add_events(a.events() + start_only)
    assert c.latest().chain_id == a.chain_id  # type: ignore[union-attr]
    assert len(c.chains()) == 1
    c.add_events(b_events)
    assert c.latest().chain_id == b.chain_id  # type: ignore[union-attr]
    assert [ch.linked for ch in c.chains()] == [True, True]


def test_empty_collector() -> None:
    c = ChainCollector()
    assert c.latest() is None
    assert c.chains() == []


# Stats ---------------------------------------------------------------------------------------


def test_summary_arithmetic() -> None:
    spec = linear_spec(4, durations=[9.2, 99.5, 1000.1, 0.4], memory_mb=1024)
    chain = latest(spec.events())
    s = chain.summary()
    billed = [10.0, 100.0, 1001.0, 1.0]
    assert [i.billed_ms for i in chain.invocations] == billed
    assert s.count == 4
    assert s.billed_ms == sum(billed)
    assert s.gb_seconds == pytest.approx(sum(billed) / 1000)  # 1 GB of memory
    expected_cost = sum(billed) / 1000 * 0.0000166667 + 4 * 0.20 / 1_000_000
    assert s.estimated_cost_usd == pytest.approx(expected_cost)
    # A parent still running when its child starts forces a new (cold) environment.
    assert s.cold_starts == sum("INIT_START" in e["message"] for e in spec.events())
    assert s.cold_starts >= 1
    starts = [i.start for i in chain.invocations]
    ends = [i.end for i in chain.invocations]
    assert s.wall_ms == max(ends) - min(starts)  # type: ignore[type-var,operator]
    assert s.to_dict()["cost_is_estimate"] is True


def test_gb_seconds_and_cost_helpers() -> None:
    assert gb_seconds(1000, 1024) == 1.0
    assert gb_seconds(100, 128) == pytest.approx(0.0125)
    assert pricing.estimate_usd(1.0, 1_000_000) == pytest.approx(0.0000166667 + 0.20)


# The hot loop's fast path (exact layouts) against the tolerant parser ---------------------


def tolerant(events: list[dict[str, Any]], **kw: Any) -> ChainCollector:
    """The same events through parse_event + add: the tolerant path, record by record."""
    c = ChainCollector(**kw)
    for event in events:
        c.add_event(event)
    return c


def docs(c: ChainCollector) -> list[dict[str, Any]]:
    return [chain.to_dict() for chain in c.chains(now_ms=NOW_LATE)]


@pytest.mark.parametrize("fmt", ["text", "json", "mixed"])
def test_fast_path_and_tolerant_parser_build_the_same_chains(fmt: str) -> None:
    spec = fanout_spec(2, 3, fmt=fmt)
    spec.nodes[3].outcome = "error"
    spec.nodes[5].outcome = "timeout"
    spec.nodes[6].retried = True
    spec.nodes[9].outcome = "missing"
    spec.nodes[10].outcome = "dropped"
    events = spec.events()
    fast = collect(events)
    assert docs(fast) == docs(tolerant(events))
    assert fast.records == tolerant(events).records
    chain = fast.latest(now_ms=NOW_LATE)
    assert chain is not None
    assert len(chain) == 13  # 15, less the two children the failed invocation never invoked


def test_fast_path_reads_every_report_variant_like_the_tolerant_parser() -> None:
    rid = "0f6c7a70-7b8e-4a44-9c3e-111111111111"
    start = f"START RequestId: {rid} Version: $LATEST\n"
    head = (
        f"REPORT RequestId: {rid}\tDuration: 3.01 ms\tBilled Duration: 4 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 36 MB"
    )
    platform = '{"time":"2026-05-01T12:00:00.000Z","type":"platform.report","record":'
    metrics = '"metrics":{"durationMs":3.01,"billedDurationMs":4,"memorySizeMB":128,'
    variants = [
        head + "\t",
        head,  # no trailing tab
        head + "\tInit Duration: 110.10 ms\t",
        head + "\tStatus: timeout",
        head + "\tStatus: error\tError Type: Runtime.ExitError\n",
        head + "\tInit Duration: 110.10 ms\t\nXRAY TraceId: 1-5e34\tSegmentId: 07f5\t",
        head.replace("3.01", "3.0.1") + "\t",  # not a number: the tolerant reading decides
        platform + f'{{"requestId":"{rid}","status":"success",{metrics}"maxMemoryUsedMB":36}}}}}}',
        platform + f'{{"requestId":"{rid}",{metrics}"maxMemoryUsedMB":36,'
        '"initDurationMs":180.41},"status":"error","errorType":"Runtime.Unknown"}}',
        platform + f'{{"requestId":"{rid}","status":"timeout","errorType":"Sandbox.Timedout",'
        f'{metrics}"maxMemoryUsedMB":36}}}}}}\n',
        platform + f'{{"requestId":"{rid}","status":"success",{metrics}'
        '"maxMemoryUsedMB":36,"restoreDurationMs":2}}}',  # an unknown metric
        platform + f'{{"requestId":"{rid}","status":"success",{metrics}'
        '"maxMemoryUsedMB":"36"}}}',  # a string: valid JSON, but no number
    ]
    invalid_json = platform + f'{{"requestId":"{rid}",{metrics}"maxMemoryUsedMB":1.2.3}}}}}}'
    for message in variants:
        events = [ev(start, 1000, event_id="1"), ev(message, 1005, event_id="2")]
        assert docs(collect(events)) == docs(tolerant(events)), message
        chain = collect(events).latest(now_ms=NOW_LATE)
        assert chain is not None
        assert chain.invocations[0].request_id == rid
        assert chain.invocations[0].status != "running", message
    # Not JSON at all: neither path takes it for a report.
    events = [ev(start, 1000, event_id="1"), ev(invalid_json, 1005, event_id="2")]
    assert docs(collect(events)) == docs(tolerant(events))
    assert docs(collect(events))[0]["invocations"][0]["status"] == "running"


def test_json_escapes_in_markers_are_decoded_not_copied() -> None:
    # `\u0061` is "a": the fast path must not keep the escape as part of the id.
    root, child = "root-1", "child-1"
    hop = {"v": 1, "ev": "hop", "chain": root, "req": root, "parent": None, "depth": 0, "max": 5}
    events = [
        ev(f"START RequestId: {root} Version: $LATEST\n", 1000, event_id="1"),
        ev(f"RECURSECTL_CHAIN {json.dumps(hop, separators=(',', ':'))}\n", 1001, event_id="2"),
        ev(
            'RECURSECTL_CHAIN {"v":1,"ev":"child","chain":"root-1","req":"root-1",'
            '"child":"child-\\u0031","depth":1}\n',
            1002,
            event_id="3",
        ),
        ev(
            '{"time":"2026-05-01T12:00:00.000Z","type":"platform.start",'
            '"record":{"requestId":"child-\\u0031","version":"$LATEST"}}',
            1010,
            event_id="4",
        ),
    ]
    chain = collect(events).latest(now_ms=NOW_LATE)
    assert chain is not None
    assert chain.invocations[0].children == (child,)
    child_inv = chain.get(child)
    assert child_inv is not None
    assert child_inv.start == 1010
    assert docs(collect(events)) == docs(tolerant(events))
