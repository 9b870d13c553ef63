"""The poller against CloudWatch Logs behind the real front door, and its schedule."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from recursectl.aws import Aws, Target
from recursectl.errors import AwsError, ThrottledError
from recursectl.watch.poller import (
    BURST_CALLS,
    FAST_INTERVAL_S,
    IDLE_INTERVAL_S,
    LOOKBACK_MIN_MS,
    Poller,
    make_poller,
)
from tests.support.clock import FakeClock

GROUP = "/aws/lambda/f"
T0 = int(time.time() * 1000) - 60_000  # CloudWatch rejects events older than 14 days


def _put(logs: Any, stream: str, events: list[tuple[int, str]]) -> None:
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": ts, "message": m} for ts, m in events],
    )


def test_late_events_from_a_new_stream_are_not_lost_and_nothing_repeats(endpoint: str) -> None:
    logs = boto3.client("logs", endpoint_url=endpoint)
    poller = make_poller(
        Aws(Target(endpoint_url=endpoint, region="us-east-1", local=True)), GROUP, start_ms=T0
    )
    assert poller.poll() == []  # the group does not exist yet: wait, don't fail
    assert poller.group_exists is False

    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="a")
    _put(logs, "a", [(T0 + 100, "a1"), (T0 + 5000, "a2")])
    assert [e["message"] for e in poller.poll()] == ["a1", "a2"]

    # A new stream shows up late with events older than the newest already seen.
    logs.create_log_stream(logGroupName=GROUP, logStreamName="b")
    _put(logs, "b", [(T0 + 2000, "b1")])
    _put(logs, "a", [(T0 + 6000, "a3")])
    assert [e["message"] for e in poller.poll()] == ["b1", "a3"]
    assert poller.poll() == []


def test_look_back_follows_the_ingestion_delay_seen(endpoint: str) -> None:
    logs = boto3.client("logs", endpoint_url=endpoint)
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="a")
    poller = make_poller(
        Aws(Target(endpoint_url=endpoint, region="us-east-1", local=True)), GROUP, start_ms=T0
    )
    now = int(time.time() * 1000)
    _put(logs, "a", [(now - 50, "fresh")])
    poller.poll()
    assert poller.lookback_ms == LOOKBACK_MIN_MS  # a prompt group: the shortest window
    logs.create_log_stream(logGroupName=GROUP, logStreamName="late")
    _put(logs, "late", [(now - 10_000, "ten seconds late")])
    assert poller.poll(deep=False) == []  # later than any delay seen: outside the window
    assert [e["message"] for e in poller.poll(deep=True)] == ["ten seconds late"]
    assert 10_000 <= poller.lookback_ms <= 12_000  # now reaches back past such delays


def test_anchor_skips_what_comes_before_the_chain(endpoint: str) -> None:
    logs = boto3.client("logs", endpoint_url=endpoint)
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="a")
    chain = "5a1b7c2e-0000-4000-8000-000000000001"
    _put(
        logs,
        "a",
        [(T0 + i, f"noise {i}") for i in range(100)]
        + [
            (T0 + 30_000, f"START RequestId: {chain} Version: $LATEST"),
            (T0 + 30_001, f'RECURSECTL_CHAIN {{"ev":"hop","chain":"{chain}"}}'),
            (T0 + 30_002, "a line of the chain"),
        ],
    )
    poller = make_poller(
        Aws(Target(endpoint_url=endpoint, region="us-east-1", local=True)), GROUP, start_ms=T0
    )
    assert poller.anchor(chain) == T0 + 30_000
    assert next(e["message"] for e in poller.poll()).startswith("START RequestId: " + chain)
    assert poller.anchor("no-such-chain") is None


def test_pages_are_followed(endpoint: str) -> None:
    logs = boto3.client("logs", endpoint_url=endpoint)
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="a")
    _put(logs, "a", [(T0 + i, f"m{i}") for i in range(30)])
    pages: list[int] = []

    def small_pages(**kwargs: Any) -> dict[str, Any]:
        kwargs["limit"] = 7  # force several pages
        page = dict(logs.filter_log_events(**kwargs))
        pages.append(len(page["events"]))
        return page

    poller = Poller(filter_events=small_pages, log_group=GROUP, start_ms=T0)
    assert [e["message"] for e in poller.poll()] == [f"m{i}" for i in range(30)]
    assert len(pages) >= 5


def test_interval_is_fast_while_flowing_and_backs_off_when_idle() -> None:
    poller = Poller(filter_events=lambda **_: {"events": []}, log_group=GROUP, start_ms=0)
    assert poller.next_interval(got_events=True, expecting=False) == FAST_INTERVAL_S
    idle = [poller.next_interval(got_events=False, expecting=False) for _ in range(10)]
    assert idle == sorted(idle)
    assert idle[-1] == IDLE_INTERVAL_S
    assert poller.next_interval(got_events=False, expecting=True) == FAST_INTERVAL_S


def test_a_follower_starts_at_once_then_keeps_to_one_call_a_second() -> None:
    """The anchor and the first read go without waiting; after that the quota's pace: over
    a minute of pages at most 60 + BURST_CALLS calls."""
    fake = FakeClock()
    pages = iter(range(1000))

    def filter_events(**_: Any) -> dict[str, Any]:
        return {"events": [], "nextToken": f"t{next(pages)}"}  # always one more page

    poller = Poller(
        filter_events=filter_events, log_group=GROUP, start_ms=0, clock=fake.clock, sleep=fake.sleep
    )
    poller.min_gap_s = FAST_INTERVAL_S  # as follow() sets it
    assert poller.anchor("chain-1", max_pages=2) is None  # the anchor, then the first read
    assert poller.calls == 2
    assert fake.sleeps == []  # neither waited
    while fake.now < 60.0:
        poller.anchor("chain-1", max_pages=1)
    assert poller.calls <= 60 + BURST_CALLS
    assert all(s == pytest.approx(FAST_INTERVAL_S) for s in fake.sleeps)


def test_throttling_backs_off_then_recovers() -> None:
    # The seam: CloudWatch's throttling cannot be provoked on loopback, so the filter is faked.
    fake = FakeClock()
    answers: list[Any] = [
        ThrottledError("slow down", code="ThrottlingException"),
        ThrottledError("slow down", code="ThrottlingException"),
        {"events": [{"eventId": "1", "timestamp": 5, "message": "x"}]},
        {"events": []},
    ]

    def filter_events(**_: Any) -> dict[str, Any]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    poller = Poller(
        filter_events=filter_events, log_group=GROUP, start_ms=0, clock=fake.clock, sleep=fake.sleep
    )
    rounds = iter([False, True])
    batches = list(poller.follow(done=lambda: next(rounds)))
    assert [len(b) for b in batches] == [1, 0]
    assert fake.sleeps[:2] == [1.0, 2.0]  # exponential backoff while throttled
    assert fake.sleeps[2] == pytest.approx(FAST_INTERVAL_S)  # then back to the normal pace


def test_steady_throttling_still_ends_at_the_deadline() -> None:
    # Before: the throttling branch skipped the deadline check, and `--timeout 30` was still
    # polling after 931 s of fake time.
    fake = FakeClock()

    def always_throttled(**_: Any) -> dict[str, Any]:
        raise ThrottledError("slow down", code="ThrottlingException")

    poller = Poller(
        filter_events=always_throttled,
        log_group=GROUP,
        start_ms=0,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    batches = list(poller.follow(done=lambda: False, deadline_s=30))
    assert batches == []
    assert fake.now <= 30.0 + FAST_INTERVAL_S  # no sleep reaches past the deadline
    assert poller.calls >= 3  # it did keep trying, with backoff, until then


def test_other_errors_propagate() -> None:
    def broken(**_: Any) -> dict[str, Any]:
        raise AwsError("denied", code="AccessDeniedException")

    poller = Poller(filter_events=broken, log_group=GROUP, start_ms=0)
    with pytest.raises(AwsError, match="denied"):
        list(poller.follow(done=lambda: True))
