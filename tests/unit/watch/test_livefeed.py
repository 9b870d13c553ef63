"""The Live Tail / FilterLogEvents merge and handover (pure: an in-memory log, no clock)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from recursectl.aws.logs import LiveBatch
from recursectl.errors import LiveTailEnded, LiveTailUnavailable, NotFoundError
from recursectl.watch.livefeed import HANDOVER_S, LiveFollower, Merger
from recursectl.watch.poller import Poller


def ev(stream: str, ts: int, message: str, eid: str | None = None) -> dict[str, Any]:
    event = {"logStreamName": stream, "timestamp": ts, "message": message}
    if eid is not None:
        event["eventId"] = eid
    return event


def plain(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events without the ids the merger gives those that have none (Live Tail's)."""
    return [
        {k: v for k, v in e.items() if k != "eventId" or not str(v).startswith("live/")}
        for e in events
    ]


def test_merger_passes_each_event_once_whichever_source_brings_it_first() -> None:
    merger = Merger()
    a, b = ev("s", 1, "a"), ev("s", 2, "b")
    assert plain(merger.live([a])) == [a]
    assert merger.polled([ev("s", 1, "a", "1"), ev("s", 2, "b", "2")]) == [ev("s", 2, "b", "2")]
    assert merger.live([b]) == []  # Live Tail brought it second
    assert merger.newest_ms == 2


def test_merger_counts_identical_lines_as_separate_events() -> None:
    merger = Merger()
    twice = [ev("s", 5, "same"), ev("s", 5, "same")]
    assert len(merger.live(twice[:1])) == 1
    # The poller has both copies (two eventIds): only the second is new.
    assert merger.polled([ev("s", 5, "same", "1"), ev("s", 5, "same", "2")]) == [
        ev("s", 5, "same", "2")
    ]
    assert merger.live(twice[1:]) == []  # Live Tail's second copy was already passed on
    # Another stream, same text and time: another event.
    assert plain(merger.live([ev("t", 5, "same")])) == [ev("t", 5, "same")]


def test_merger_forgets_old_keys() -> None:
    merger = Merger()
    merger.live([ev("s", 1, "old"), ev("s", 100, "new")])
    merger.forget(50)
    assert plain(merger.polled([ev("s", 1, "old")])) == [ev("s", 1, "old")]  # new again
    assert merger.polled([ev("s", 100, "new")]) == []


def test_live_tail_events_get_ids_of_their_own() -> None:
    """Live Tail has no eventId: two different lines of one stream in one millisecond (a
    job's last checkpoint and continue_with's) must stay two events for the collector, and
    two identical ones too."""
    merger = Merger()
    got = merger.live([ev("s", 7, "checkpoint a"), ev("s", 7, "checkpoint b"), ev("s", 7, "x")])
    got += merger.live([ev("s", 7, "x")])
    ids = [e["eventId"] for e in got]
    assert len(got) == 4
    assert ids == sorted(set(ids))  # all different, in the order they came
    # the poller's own ids are kept as they are
    assert merger.polled([ev("s", 8, "y", "real-id")])[0]["eventId"] == "real-id"


class Log:
    """FilterLogEvents over a list (one page), and a clock that advances on every sleep."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.now = 0.0
        self.calls = 0

    def filter_events(self, **kw: Any) -> dict[str, Any]:
        self.calls += 1
        return {"events": [e for e in self.events if e["timestamp"] >= kw["startTime"]]}

    def add(self, ts: int, message: str) -> dict[str, Any]:
        event = ev("s", ts, message, eid=f"id{len(self.events)}")
        self.events.append(event)
        return event

    def sleep(self, s: float) -> None:
        self.now += s

    def poller(self) -> Poller:
        return Poller(
            filter_events=self.filter_events,
            log_group="g",
            start_ms=0,
            clock=lambda: self.now,
            sleep=self.sleep,
        )


class Session:
    """A Live Tail stream: each step writes its events to the log, then Live Tail shows
    those of them it shows (`(written, shown, sampled)`); then it ends with `end` (a code)
    or, with None, stays open with empty updates."""

    Step = tuple[list[tuple[int, str]], list[int], bool]

    def __init__(self, log: Log, steps: list[Step], end: str | None) -> None:
        self.log, self.steps, self.end, self.closed = log, steps, end, False

    def __iter__(self) -> Iterator[LiveBatch]:
        for written, shown, sampled in self.steps:
            self.log.now += 1.0  # an update a second
            added = [self.log.add(ts, m) for ts, m in written]
            events = [{k: v for k, v in added[i].items() if k != "eventId"} for i in shown]
            yield LiveBatch(events, sampled)
        while self.end is None:
            self.log.now += 1.0
            yield LiveBatch([], False)
        raise LiveTailEnded("ended", code=self.end)

    def close(self) -> None:
        self.closed = True


def collect(follower: LiveFollower, want: int, deadline: float = 60.0) -> list[str]:
    seen: list[str] = []
    for batch in follower.follow(done=lambda: len(seen) >= want, deadline_s=deadline):
        seen.extend(e["message"] for e in batch)
    return seen


def test_a_session_that_times_out_hands_over_to_the_poller_without_loss_or_repeat() -> None:
    log = Log()
    log.add(10, "before the session")
    quiet: list[Session.Step] = [([], [], False)] * int(HANDOVER_S + 1)  # past the handover reads
    steps: list[Session.Step] = [
        *quiet,
        ([(2000, "one")], [0], False),
        ([(3000, "two"), (3000, "two")], [0, 1], False),  # the same line twice: two events
        ([(3500, "written as the session ended")], [], False),
    ]
    session = Session(log, steps, end="SessionTimeoutException")
    follower = LiveFollower(log.poller(), lambda: session, clock=lambda: log.now)
    seen = collect(follower, want=5)
    assert sorted(seen) == sorted(
        ["before the session", "one", "two", "two", "written as the session ended"]
    )
    assert follower.fallbacks == ["SessionTimeoutException"]
    assert follower.transport == "poll"
    assert session.closed


def test_a_refused_session_falls_back_to_the_poller() -> None:
    log = Log()
    log.add(1, "a")
    log.add(2, "b")

    def refuse() -> Session:
        raise LiveTailUnavailable("denied", code="AccessDeniedException")

    follower = LiveFollower(log.poller(), refuse, clock=lambda: log.now)
    assert collect(follower, want=2) == ["a", "b"]
    assert follower.fallbacks == ["AccessDeniedException"]


def test_sampled_updates_are_filled_in_from_filter_log_events() -> None:
    log = Log()
    burst = [(1000 + i, f"e{i}") for i in range(10)]
    # Live Tail shows 3 of the 10, sampled; FilterLogEvents has all of them.
    session = Session(log, [([], [], False), (burst, [0, 4, 9], True)], end=None)
    follower = LiveFollower(log.poller(), lambda: session, clock=lambda: log.now, handover_s=0)
    seen = collect(follower, want=10)
    assert sorted(seen) == sorted(f"e{i}" for i in range(10))
    assert len(seen) == 10  # nothing twice
    assert follower.sampled_updates == 1
    assert follower.fallbacks == []
    assert follower.transport == "live"


class LateGroup(Log):
    """A log group that exists only after `appears_at` (seconds of the fake clock)."""

    def __init__(self, appears_at: float) -> None:
        super().__init__()
        self.appears_at = appears_at

    def filter_events(self, **kw: Any) -> dict[str, Any]:
        if self.now < self.appears_at:
            self.calls += 1
            raise NotFoundError("no group", code="ResourceNotFoundException")
        return super().filter_events(**kw)


def test_a_session_refused_for_a_missing_group_polls_until_it_exists_then_tails() -> None:
    log = LateGroup(appears_at=3.0)
    opened: list[float] = []

    def open_live() -> Session:
        opened.append(log.now)
        if log.now < log.appears_at:
            raise LiveTailUnavailable("no group", code="ResourceNotFoundException",
                                      group_missing=True)  # fmt: skip
        log.add(5, "first")
        return Session(log, [([(6, "second")], [0], False)], end=None)

    follower = LiveFollower(log.poller(), open_live, clock=lambda: log.now, handover_s=0)
    assert collect(follower, want=2) == ["first", "second"]
    assert follower.fallbacks == ["ResourceNotFoundException"]
    assert len(opened) == 2
    assert opened[1] >= log.appears_at  # retried once the group existed
    assert follower.transport == "live"


def test_a_session_refused_for_another_reason_does_not_retry_live_tail() -> None:
    log = Log()
    log.add(1, "a")
    opened: list[float] = []

    def refuse() -> Session:
        opened.append(log.now)
        raise LiveTailUnavailable("slow down", code="LimitExceededException")

    follower = LiveFollower(log.poller(), refuse, clock=lambda: log.now)
    assert collect(follower, want=1) == ["a"]
    assert len(opened) == 1
    assert follower.transport == "poll"
