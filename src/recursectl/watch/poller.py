"""The log poller: FilterLogEvents pages -> new events, deduplicated by eventId.

CloudWatch Logs makes events from a new log stream visible late, sometimes after later events
of another stream. Resuming at "last timestamp + 1 ms" would drop them; instead every poll
re-reads a look-back window and drops the events it has already seen.

The window is as short as the data allows: each event carries its `ingestionTime`, so the
poller knows how late events actually become visible and looks back that far (plus a margin).
Re-reading a fixed 60 s of a busy log group costs many 10,000-event pages per poll; the
adaptive window is usually one page. A delay longer than any seen so far would fall outside
it, so every DEEP_EVERY_S one poll re-reads the full minute: a very late event is then seen
a few seconds later instead of never, and widens the window from then on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recursectl.errors import NotFoundError, ThrottledError

if TYPE_CHECKING:
    from recursectl.aws import Aws

LogEvent = dict[str, Any]  # {"eventId", "timestamp", "message", "logStreamName", "ingestionTime"}
FilterFn = Callable[..., dict[str, Any]]

PAGE_LIMIT = 10_000  # FilterLogEvents' maximum page size
LOOKBACK_MIN_MS = 2_000  # never look back less than this
LOOKBACK_MARGIN_MS = 1_000  # on top of the worst ingestion delay seen
LOOKBACK_MAX_MS = 60_000
DEEP_EVERY_S = 10.0  # how often a poll re-reads LOOKBACK_MAX_MS
FAST_INTERVAL_S = 1.0  # while events flow: at most one call per second
IDLE_INTERVAL_S = 5.0  # when idle: at most one call per five seconds
PAGE_GAP_S = 0.25  # between two calls of a one-shot read: under the 5 requests/s quota
# Calls that may go at once before the spacing applies: a follower's anchor and its first
# read no longer wait a second between them, which put a second before the first tree; over
# any window of T seconds a follower still makes at most T / min_gap_s + BURST_CALLS calls.
BURST_CALLS = 2
THROTTLE_MAX_S = 20.0


@dataclass
class Poller:
    """Reads a log group from `start_ms` on; each `poll()` returns only unseen events.

    `filter_events` is the FilterLogEvents callable (a boto3 client method); the clock and
    sleep are injected so the schedule can be tested without waiting.
    """

    filter_events: FilterFn
    log_group: str
    start_ms: int
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    calls: int = 0
    group_exists: bool | None = None
    max_delay_ms: int = 0  # the worst ingestionTime - timestamp seen so far
    _seen: dict[str, int] = field(default_factory=dict)  # eventId -> timestamp
    _newest_ms: int = 0
    _interval_s: float = FAST_INTERVAL_S
    _throttle_s: float = 0.0
    min_gap_s: float = PAGE_GAP_S  # between any two calls; following raises it to 1 s
    _last_call: float | None = None
    _tokens: float = BURST_CALLS  # calls that may go now (one more every min_gap_s)
    _last_deep: float | None = None

    @property
    def lookback_ms(self) -> int:
        wanted = self.max_delay_ms + LOOKBACK_MARGIN_MS
        return max(LOOKBACK_MIN_MS, min(LOOKBACK_MAX_MS, wanted))

    def _call(self, **kwargs: Any) -> dict[str, Any]:
        if self._last_call is not None:
            idle = self.clock() - self._last_call
            self._tokens = min(BURST_CALLS, self._tokens + idle / self.min_gap_s)
        if self._tokens < 1:
            self.sleep((1 - self._tokens) * self.min_gap_s)
            self._tokens = 1.0
        self._tokens -= 1
        self.calls += 1
        try:
            return self.filter_events(**kwargs)
        finally:
            # The gap runs from the end of one call to the start of the next.
            self._last_call = self.clock()

    def anchor(self, term: str, max_pages: int = 3) -> int | None:
        """Move `start_ms` up to just before the first event containing `term`.

        Following one chain needs nothing older than its first event, and every marker line
        carries the chain id, so one filtered call spares re-reading a long --since window.
        Returns the first matching timestamp, or None (nothing yet: start_ms is unchanged).
        """
        token: str | None = None
        for _ in range(max_pages):  # the service may answer a page with no events yet
            kwargs: dict[str, Any] = {
                "logGroupName": self.log_group,
                "startTime": self.start_ms,
                # A quoted term matches the exact text, hyphens included.
                "filterPattern": f'"{term}"',
                "limit": 1,
            }
            if token:
                kwargs["nextToken"] = token
            try:
                page = self._call(**kwargs)
            except NotFoundError:
                return None
            events = page.get("events", [])
            if events:
                first = int(events[0]["timestamp"])
                # The root's START comes a little before its first marker line.
                self.start_ms = max(self.start_ms, first - LOOKBACK_MIN_MS)
                return first
            token = page.get("nextToken")
            if not token:
                return None
        return None

    def poll(self, *, deep: bool | None = None) -> list[LogEvent]:
        """One pass over the window; pages through nextToken. [] while the group is missing.

        `deep` re-reads the longest window; by default every DEEP_EVERY_S.
        """
        now = self.clock()
        if deep is None:
            deep = self._last_deep is None or now - self._last_deep >= DEEP_EVERY_S
        if deep:
            self._last_deep = now
        lookback = LOOKBACK_MAX_MS if deep else self.lookback_ms
        window_start = max(self.start_ms, self._newest_ms - lookback)
        fresh: list[LogEvent] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "logGroupName": self.log_group,
                "startTime": window_start,
                "limit": PAGE_LIMIT,
            }
            if token:
                kwargs["nextToken"] = token
            try:
                page = self._call(**kwargs)
            except NotFoundError:
                # Lambda creates the group on the first invocation: not yet is not an error.
                self.group_exists = False
                return fresh
            self.group_exists = True
            for event in page.get("events", []):
                event_id = event["eventId"]
                if event_id in self._seen:
                    continue
                ts = int(event["timestamp"])
                self._seen[event_id] = ts
                self._newest_ms = max(self._newest_ms, ts)
                ingested = event.get("ingestionTime")
                if ingested is not None:
                    self.max_delay_ms = max(self.max_delay_ms, int(ingested) - ts)
                fresh.append(event)
            token = page.get("nextToken")
            if not token:
                break
        self._forget_old(window_start)
        # Stable sort on the timestamp alone: events of the same millisecond keep the order
        # the API returned them in (stream order), which eventIds do not always reflect.
        fresh.sort(key=lambda e: e["timestamp"])
        return fresh

    def skip_to(self, ts_ms: int) -> None:
        """Read on from `ts_ms`, looking back the window: the handover from Live Tail, whose
        events the poller did not see (nothing older than the window is read again)."""
        self._newest_ms = max(self._newest_ms, ts_ms)

    def _forget_old(self, window_start: int) -> None:
        # Memory stays bounded: ids older than the window can never be returned again.
        if len(self._seen) > 20_000:
            horizon = min(window_start, self._newest_ms - LOOKBACK_MAX_MS) - 1000
            self._seen = {k: v for k, v in self._seen.items() if v >= horizon}

    def next_interval(self, *, got_events: bool, expecting: bool) -> float:
        """Fast while events flow or more are expected; slower (up to 5 s) when idle."""
        if got_events or expecting:
            self._interval_s = FAST_INTERVAL_S
        else:
            self._interval_s = min(IDLE_INTERVAL_S, self._interval_s * 1.5)
        return self._interval_s

    def follow(
        self,
        *,
        done: Callable[[], bool],
        expecting: Callable[[], bool] = lambda: True,
        deadline_s: float | None = None,
        on_throttle: Callable[[float], None] | None = None,
    ) -> Iterator[list[LogEvent]]:
        """Yield batches of new events until `done()` or the deadline.

        Polls start at most once per interval (1 s while events flow or are expected, backing
        off to 5 s when idle). Throttling backs off exponentially and recovers on the first
        success.
        """
        # A follower shares the account's FilterLogEvents quota with everyone else for as long
        # as it runs: every call, pages and the anchor included, at most once per second
        # after the first BURST_CALLS.
        self.min_gap_s = max(self.min_gap_s, FAST_INTERVAL_S)
        started = self.clock()
        while True:
            began = self.clock()
            try:
                batch = self.poll()
            except ThrottledError:
                if deadline_s is not None and self.clock() - started >= deadline_s:
                    return  # steady throttling must not outlast --timeout
                self._throttle_s = min(THROTTLE_MAX_S, max(1.0, self._throttle_s * 2))
                if on_throttle:
                    on_throttle(self._throttle_s)
                if deadline_s is not None:
                    # Never sleep past the deadline.
                    left = deadline_s - (self.clock() - started)
                    self.sleep(max(0.0, min(self._throttle_s, left)))
                else:
                    self.sleep(self._throttle_s)
                continue
            self._throttle_s = 0.0
            yield batch
            if done():
                return
            if deadline_s is not None and self.clock() - started >= deadline_s:
                return
            wait = self.next_interval(got_events=bool(batch), expecting=expecting())
            elapsed = self.clock() - began
            if wait > elapsed:
                self.sleep(wait - elapsed)


def make_poller(aws: Aws, log_group: str, start_ms: int) -> Poller:
    """A poller over the real FilterLogEvents (the AWS layer translates its errors)."""
    api = aws.logs_api

    def filter_events(**kwargs: Any) -> dict[str, Any]:
        return api.filter_log_events(log_group, **kwargs)

    return Poller(filter_events=filter_events, log_group=log_group, start_ms=start_ms)
