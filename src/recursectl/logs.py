"""The log poller: FilterLogEvents pages -> new events, deduplicated by eventId.

CloudWatch Logs makes events from a new log stream visible late, sometimes after later events
of another stream. Resuming at "last timestamp + 1 ms" would drop them; instead every poll
re-reads a look-back window and drops the events it has already seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recursectl.aws import translate
from recursectl.errors import AwsError

if TYPE_CHECKING:
    from recursectl.aws import Aws

LogEvent = dict[str, Any]  # {"eventId", "timestamp", "message", "logStreamName", "ingestionTime"}
FilterFn = Callable[..., dict[str, Any]]

PAGE_LIMIT = 10_000  # FilterLogEvents' maximum page size
LOOKBACK_MS = 60_000  # how far back each poll re-reads, for late events from new streams
FAST_INTERVAL_S = 1.0  # while events flow: at most one call per second
IDLE_INTERVAL_S = 5.0  # when idle: at most one call per five seconds
THROTTLE_MAX_S = 20.0
_THROTTLED = {"ThrottlingException", "Throttling", "TooManyRequestsException"}


@dataclass
class Poller:
    """Reads a log group from `start_ms` on; each `poll()` returns only unseen events.

    `filter_events` is the FilterLogEvents callable (a boto3 client method); the clock and
    sleep are injected so the schedule can be tested without waiting.
    """

    filter_events: FilterFn
    log_group: str
    start_ms: int
    lookback_ms: int = LOOKBACK_MS
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    calls: int = 0
    group_exists: bool | None = None
    _seen: dict[str, int] = field(default_factory=dict)  # eventId -> timestamp
    _newest_ms: int = 0
    _interval_s: float = FAST_INTERVAL_S
    _throttle_s: float = 0.0

    def poll(self) -> list[LogEvent]:
        """One pass over the window; pages through nextToken. [] while the group is missing."""
        window_start = max(self.start_ms, self._newest_ms - self.lookback_ms)
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
            self.calls += 1
            try:
                page = self.filter_events(**kwargs)
            except AwsError as exc:
                if exc.code == "ResourceNotFoundException":
                    # Lambda creates the group on the first invocation: not yet is not an error.
                    self.group_exists = False
                    return fresh
                raise
            self.group_exists = True
            for event in page.get("events", []):
                event_id = event["eventId"]
                if event_id in self._seen:
                    continue
                ts = int(event["timestamp"])
                self._seen[event_id] = ts
                self._newest_ms = max(self._newest_ms, ts)
                fresh.append(event)
            token = page.get("nextToken")
            if not token:
                break
        self._forget_old(window_start)
        # Stable sort on the timestamp alone: events of the same millisecond keep the order
        # the API returned them in (stream order), which eventIds do not always reflect.
        fresh.sort(key=lambda e: e["timestamp"])
        return fresh

    def _forget_old(self, window_start: int) -> None:
        # Memory stays bounded: ids older than the window can never be returned again.
        horizon = window_start - 1000
        if len(self._seen) > 50_000 or self._newest_ms - horizon > 2 * self.lookback_ms:
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

        Throttling backs off exponentially and recovers on the first success.
        """
        started = self.clock()
        while True:
            began = self.clock()
            try:
                batch = self.poll()
            except AwsError as exc:
                if exc.code not in _THROTTLED:
                    raise
                self._throttle_s = min(THROTTLE_MAX_S, max(1.0, self._throttle_s * 2))
                if on_throttle:
                    on_throttle(self._throttle_s)
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
    """A poller over the real FilterLogEvents, with errors translated."""
    client = aws.logs

    def filter_events(**kwargs: Any) -> dict[str, Any]:
        with translate("logs:FilterLogEvents", log_group, aws.target):
            return dict(client.filter_log_events(**kwargs))

    return Poller(filter_events=filter_events, log_group=log_group, start_ms=start_ms)
