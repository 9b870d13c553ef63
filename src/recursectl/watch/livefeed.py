"""Following over CloudWatch Logs' Live Tail, with the FilterLogEvents poller behind it.

Live Tail pushes new events about once a second and takes no share of the account's
5-per-second FilterLogEvents quota, so `--follow` uses it when it may. It is not always
there: StartLiveTail can be refused (AccessDeniedException without `logs:StartLiveTail`,
LimitExceededException over the concurrent-session quota, an endpoint that lacks it), a
session ends (SessionTimeoutException after 3 hours, a cut connection), and above 500 events
a second its updates are samples. The poller covers each case:

- before the session: the poller's first read has everything from `start_ms` on; for the
  first HANDOVER_S of the session it reads again once a second, for events ingested before the
  session started that FilterLogEvents shows late;
- a sampled update: the poller reads once a second until FILL_S after the last sampled one,
  so every invocation of a large fan-out is in the tree;
- a refused or ended session: the poller takes over from the newest event Live Tail gave,
  looking back its window (LOOKBACK_MAX_MS on the first read).

Live Tail's events have no eventId, so both sources go through `Merger`, which passes each
event on once by (stream, timestamp, message), counted: two identical lines in the same
millisecond are two events from either source. It gives each event that came without an id
one of its own, in arrival order, so the collector keeps every line and marker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from recursectl.errors import AwsError, LiveTailEnded, LiveTailUnavailable
from recursectl.watch.poller import FAST_INTERVAL_S, LOOKBACK_MAX_MS, LogEvent, Poller

if TYPE_CHECKING:
    from recursectl.aws.logs import LiveBatch

HANDOVER_S = 5.0  # read FilterLogEvents this long after a session starts
FILL_S = 5.0  # and this long after the last sampled update

Key = tuple[str, int, str]


class LiveStream(Protocol):
    def __iter__(self) -> Iterator[LiveBatch]: ...

    def close(self) -> None: ...


def _key(event: LogEvent) -> Key:
    return (event.get("logStreamName") or "", int(event["timestamp"]), event.get("message") or "")


@dataclass
class Merger:
    """Events of two sources (each repeating nothing itself), each passed on exactly once."""

    _delivered: dict[Key, int] = field(default_factory=dict)
    _counts: dict[str, dict[Key, int]] = field(default_factory=lambda: {"live": {}, "poll": {}})
    newest_ms: int = 0
    _issued: int = 0  # ids given to events that came without one

    def _take(self, source: str, events: Iterable[LogEvent]) -> list[LogEvent]:
        counts = self._counts[source]
        out: list[LogEvent] = []
        for event in events:
            key = _key(event)
            n = counts[key] = counts.get(key, 0) + 1
            if n > self._delivered.get(key, 0):  # the n-th copy of this line: new
                self._delivered[key] = n
                self.newest_ms = max(self.newest_ms, key[1])
                out.append(event if event.get("eventId") else self._with_id(event))
        if len(self._delivered) > 50_000:
            self.forget(self.newest_ms - 2 * LOOKBACK_MAX_MS)
        return out

    def _with_id(self, event: LogEvent) -> LogEvent:
        """A Live Tail event with an id of its own, in the order events came. Without one the
        collector keys it by (stream, millisecond) alone, and two markers of one hop in the
        same millisecond (a job's last checkpoint and continue_with's, ~0.3 ms apart) were
        one; the collector orders a millisecond's events by id, as CloudWatch's ids sort."""
        self._issued += 1
        return {**event, "eventId": f"live/{self._issued:016d}"}

    def live(self, events: Iterable[LogEvent]) -> list[LogEvent]:
        return self._take("live", events)

    def polled(self, events: Iterable[LogEvent]) -> list[LogEvent]:
        return self._take("poll", events)

    def forget(self, before_ms: int) -> None:
        """Drop keys older than either source can still return (memory stays bounded)."""
        for table in (self._delivered, *self._counts.values()):
            for key in [k for k in table if k[1] < before_ms]:
                del table[key]


@dataclass
class LiveFollower:
    """The poller's interface (poll, anchor, follow, group_exists), following over Live Tail.

    `open_live()` starts a session (raising LiveTailUnavailable, or any AwsError, when it
    cannot); `fallbacks` lists why the poller took over (AWS's codes), for tests and --debug.
    """

    poller: Poller
    open_live: Callable[[], LiveStream]
    merger: Merger = field(default_factory=Merger)
    clock: Callable[[], float] = time.monotonic
    transport: str = "poll"  # what follow() reads with now: "live" or "poll"
    fallbacks: list[str] = field(default_factory=list)
    sampled_updates: int = 0
    handover_s: float = HANDOVER_S
    _group_missing: bool = False  # the last refusal: the log group does not exist yet

    @property
    def group_exists(self) -> bool | None:
        return self.poller.group_exists

    def anchor(self, term: str, max_pages: int = 3) -> int | None:
        return self.poller.anchor(term, max_pages)

    def poll(self, *, deep: bool | None = None) -> list[LogEvent]:
        return self.merger.polled(self.poller.poll(deep=deep))

    def follow(
        self,
        *,
        done: Callable[[], bool],
        expecting: Callable[[], bool] = lambda: True,
        deadline_s: float | None = None,
    ) -> Iterator[list[LogEvent]]:
        """Yield batches of new events until `done()` or the deadline (see the module doc)."""
        started = self.clock()

        def left() -> float | None:
            return None if deadline_s is None else deadline_s - (self.clock() - started)

        self.poller.min_gap_s = max(self.poller.min_gap_s, FAST_INTERVAL_S)  # the quota
        session = self._open()
        if session is None and self._group_missing:
            # Lambda creates the group with the first invocation: poll until it exists.
            def group_or_done() -> bool:
                return done() or self.poller.group_exists is True

            yield from self._polling(group_or_done, expecting, left())
            remaining = left()
            if done() or (remaining is not None and remaining <= 0):
                return
            session = self._open()
        if session is not None:
            finished = yield from self._tail(session, done, left)
            if finished:
                return
        remaining = left()
        if remaining is not None and remaining <= 0:
            return
        # Hand over: look back from the newest event seen (Live Tail's included), deep first.
        self.poller.skip_to(self.merger.newest_ms)
        self.transport = "poll"
        yield self.poll(deep=True)
        if not done():
            yield from self._polling(done, expecting, left())

    def _polling(
        self, done: Callable[[], bool], expecting: Callable[[], bool], left: float | None
    ) -> Iterator[list[LogEvent]]:
        self.transport = "poll"
        for batch in self.poller.follow(done=done, expecting=expecting, deadline_s=left):
            yield self.merger.polled(batch)

    def _open(self) -> LiveStream | None:
        try:
            session = self.open_live()
        except AwsError as exc:  # LiveTailUnavailable, or the identity for the group's ARN
            self.fallbacks.append(exc.code or "unavailable")
            self._group_missing = isinstance(exc, LiveTailUnavailable) and exc.group_missing
            return None
        self.transport = "live"
        return session

    def _tail(
        self, session: LiveStream, done: Callable[[], bool], left: Callable[[], float | None]
    ) -> Generator[list[LogEvent], None, bool]:
        """Live Tail's batches, with FilterLogEvents filling in; returns True when finished
        (done or the deadline), False when the session ended (the poller takes over)."""
        fill_until = self.clock() + self.handover_s
        last_poll: float | None = None
        try:
            # Everything before the session is only in FilterLogEvents: read it now.
            yield self.poll()
            last_poll = self.clock()
            if done():
                return True
            for batch in session:
                events = self.merger.live(batch.events)
                now = self.clock()
                if batch.sampled:
                    self.sampled_updates += 1
                    fill_until = now + FILL_S
                if now <= fill_until and now - last_poll >= FAST_INTERVAL_S:
                    events = _ordered(events, self.poll())
                    last_poll = self.clock()
                yield events
                remaining = left()
                if done() or (remaining is not None and remaining <= 0):
                    return True
        except LiveTailEnded as exc:
            self.fallbacks.append(exc.code or "ended")
            return False
        finally:
            session.close()
        return False


def _ordered(a: Sequence[LogEvent], b: Sequence[LogEvent]) -> list[LogEvent]:
    """Two batches as one, in timestamp order (stable: stream order within a millisecond)."""
    return sorted([*a, *b], key=lambda e: int(e["timestamp"]))
