"""The async event queue: Event invokes queued per function, run as capacity frees up,
retried on failure (AWS: twice, after ~1 and ~2 minutes; here `Limits.retry_delays`) and
dropped (with a `dropped` marker) when older than the function's maximum event age.

How each event ends (Success, RetriesExhausted, EventAgeExceeded, or stopped by loop
detection) goes to its destinations and dead-letter queue (`destinations.py`)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace

from recursectl.local.config import FunctionConfig
from recursectl.local.engine.attempt import Attempt, Outcome
from recursectl.local.engine.core import EngineCore
from recursectl.local.engine.destinations import Ending
from recursectl.local.errors import ServiceError
from recursectl.local.store import StoredEvent, monotonic_from_wall, wall_from_monotonic

log = logging.getLogger(__name__)


@dataclass
class AsyncEvent:
    name: str
    qualifier: str | None
    request_id: str
    payload: bytes
    trace: str
    invoked_arn: str
    enqueued: float = field(default_factory=time.monotonic)
    attempts: int = 0  # retries scheduled so far
    runs: int = 0  # attempts that ran (requestContext.approximateInvokeCount)
    last: Outcome | None = None  # how the last attempt ended


# The DLQ's ErrorCode and ErrorMessage of an event that was dropped before it ran (AWS does
# not document these values; the HTTP status and message Invoke would answer are used).
_DROP_ERRORS = {
    "RecursiveInvocationException": (
        400,
        "Lambda detected that this function is part of a recursive loop and stopped the "
        "invocation.",
    ),
    "EventAgeExceeded": (400, "The event is older than the maximum event age."),
}


class AsyncQueue(EngineCore):
    def _accept(self, event: AsyncEvent) -> None:
        """A new Event invoke: in the store before the 202 is answered, then queued."""
        if self.store is not None:
            self.store.put_event(_stored(event, next_at=0.0))
        self._enqueue(event)
        if self.faults.take(event.name, "duplicate"):  # at-least-once, on demand
            self._enqueue(replace(event))

    def resume(self, events: list[StoredEvent]) -> int:
        """Queue again the events a previous run of the local cloud accepted and did not
        finish (an attempt cut by the crash runs again with the same request id: AWS retries
        an event after a system error too). Returns how many were queued."""
        now = time.time()
        for stored in events:
            event = AsyncEvent(
                stored.name,
                stored.qualifier,
                stored.request_id,
                stored.payload,
                stored.trace,
                stored.invoked_arn,
                enqueued=monotonic_from_wall(stored.enqueued),
                attempts=stored.attempts,
                runs=stored.runs,
            )
            if stored.next_at > now:
                self._retry_later(event, stored.next_at - now)
            else:
                with self._lock:
                    self._state(event.name).queue.append(event)
        self._pump()
        return len(events)

    def _done(self, *events: AsyncEvent) -> None:
        """These events ended: out of the store once their log lines are written."""
        if self.store is None or self._closed.is_set():
            return  # stopping: an event cut short stays in the store and runs at next start
        for event in events:
            self.sink.after_written(event.request_id)

    def _retry_later(self, event: AsyncEvent, delay: float) -> None:
        timer = threading.Timer(delay, self._requeue, args=(event,))
        timer.daemon = True
        timer.start()

    def _enqueue(self, event: AsyncEvent) -> None:
        with self._lock:
            self._state(event.name).queue.append(event)
        self._pump()

    def _pump(self) -> None:
        """Start queued events while their function and the total cap have room."""
        with self._lock:
            names = [s.name for s in self._states.values() if s.queue]
        configs: dict[str, FunctionConfig] = {}
        for name in names:
            try:
                configs[name] = self.config(name)
            except ServiceError:
                self._discard_queue(name, "ResourceNotFoundException")
        starts: list[AsyncEvent] = []
        with self._lock:
            for name, cfg in configs.items():
                state = self._state(name)
                while (
                    state.queue
                    and state.active < self._limit(cfg)
                    and self._active < self.limits.total_concurrency
                ):
                    starts.append(state.queue.popleft())
                    state.active += 1
                    self._active += 1
        for event in starts:
            self._pool.submit(self._run_event, event)

    def _run_event(self, event: AsyncEvent) -> None:
        try:
            cfg = self.config(event.name, event.qualifier)
            if time.monotonic() - event.enqueued > cfg.max_age:
                self._record_drop(cfg, event.request_id, "EventAgeExceeded", event.payload)
                self._ended(cfg, event, "EventAgeExceeded")
                self._done(event)
                return
            inv = Attempt(event.request_id, event.payload, event.trace, event.invoked_arn)
            outcome = self._execute(cfg, inv)
            if self._closed.is_set():
                return  # killed by the stop: the store keeps the event for the next start
            event.runs += 1
            event.last = outcome
            if not outcome.failed:
                self._ended(cfg, event, "Success")
                self._done(event)
            elif event.attempts >= cfg.max_retries:
                self._ended(cfg, event, "RetriesExhausted")
                self._done(event)
            else:
                self._schedule_retry(event)
        except ServiceError as exc:
            log.warning("event %s: %s", event.request_id, exc.message)
            self._done(event)
        except Exception as exc:  # keep the queue alive; say what happened
            log.warning("event %s failed: %r", event.request_id, exc)
            self._done(event)
        finally:
            self._release(event.name)

    def _schedule_retry(self, event: AsyncEvent) -> None:
        delays = self.limits.retry_delays or (0.0,)
        delay = delays[min(event.attempts, len(delays) - 1)]
        event.attempts += 1
        with self._lock:
            self._state(event.name).counters["retries"] += 1
        if self.store is not None:
            self.store.retry_event(
                event.request_id, event.attempts, event.runs, time.time() + delay
            )
        self._retry_later(event, delay)

    def _requeue(self, event: AsyncEvent) -> None:
        if self._closed.is_set():
            return
        self._enqueue(event)  # the same request id, as AWS retries

    def _discard_queue(self, name: str, reason: str) -> None:
        with self._lock:
            state = self._state(name)
            events, state.queue = list(state.queue), deque()
            state.drops[reason] = state.drops.get(reason, 0) + len(events)
        self._done(*events)

    def expire_events(self, now: float | None = None) -> None:
        """Drop queued events older than their function's maximum age."""
        now = time.monotonic() if now is None else now
        expired: list[tuple[FunctionConfig, AsyncEvent]] = []
        with self._lock:
            for state in self._states.values():
                cfg = state.config
                if cfg is not None and state.queue:
                    fresh = deque(e for e in state.queue if now - e.enqueued <= cfg.max_age)
                    expired += [(cfg, e) for e in state.queue if now - e.enqueued > cfg.max_age]
                    state.queue = fresh
        for cfg, event in expired:
            self._record_drop(cfg, event.request_id, "EventAgeExceeded", event.payload)
            self._ended(cfg, event, "EventAgeExceeded")
            self._done(event)

    def _ended(self, cfg: FunctionConfig, event: AsyncEvent, condition: str) -> None:
        """Hand the ending to the destinations thread (returns at once)."""
        if not (cfg.on_success or cfg.on_failure or cfg.dead_letter):
            return
        arn = event.invoked_arn if event.qualifier else f"{event.invoked_arn}:$LATEST"
        code, message = _DROP_ERRORS.get(condition, (200, ""))
        last = event.last
        ending = Ending(
            condition=condition,
            request_id=event.request_id,
            function_arn=arn,
            payload=event.payload,
            attempts=event.runs,
            executed_version=cfg.spec.version if last is not None else None,
            function_error="Unhandled" if last is not None and last.failed else None,
            response=last.body if last is not None else b"",
            error_code=200 if last is not None else code,
            error_message=message,
        )
        self.deliveries.ended(ending, cfg.on_success, cfg.on_failure, cfg.dead_letter)


def _stored(event: AsyncEvent, next_at: float) -> StoredEvent:
    return StoredEvent(
        event.request_id,
        event.name,
        event.qualifier,
        event.payload,
        event.trace,
        event.invoked_arn,
        wall_from_monotonic(event.enqueued),
        event.attempts,
        event.runs,
        next_at,
    )
