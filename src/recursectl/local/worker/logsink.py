"""Lambda's log lines, in AWS's exact text format, batched into moto's CloudWatch Logs."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timezone

from recursectl import protocol
from recursectl.local.motowire import Moto

log = logging.getLogger(__name__)

DROPS_STREAM = "recursectl-local/drops"
_BATCH_DELAY = 0.1  # seconds the writer waits to gather a batch (off the invocation path)
# Under fan-out a batch holds one PutLogEvents per busy stream (~1 ms of GIL-holding CPU each
# through moto's Flask stack, whatever the number of events): the window then grows with the
# last batch's CPU cost, so the writer never uses more than ~1/_DUTY of a core. A chain
# (one or two streams) keeps the 0.1 s window, so following it is not slower.
_DUTY = 8
_MAX_DELAY = 0.3
_MAX_BATCH = 5000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def stream_name(when: float | None = None, version: str = "$LATEST") -> str:
    """One stream per execution environment: `YYYY/MM/DD/[<version>]<32 hex>`."""
    day = datetime.fromtimestamp(when or time.time(), tz=timezone.utc).strftime("%Y/%m/%d")
    return f"{day}/[{version}]{secrets.token_hex(16)}"


def iso_ms(ts: float) -> str:
    """`2024-05-01T12:00:00.123Z`, the timestamp format of Lambda's own lines."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def init_start_line(runtime_version: str) -> str:
    return (
        f"INIT_START Runtime Version: {runtime_version}\t"
        f"Runtime Version ARN: arn:aws:lambda:local::runtime:{runtime_version}"
    )


def start_line(request_id: str, version: str = "$LATEST") -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def report_line(
    request_id: str,
    duration_ms: float,
    memory_mb: int,
    max_memory_mb: int,
    init_ms: float | None = None,
    status: str | None = None,
    error_type: str | None = None,
) -> str:
    """The REPORT line: tab-separated, billed per 1 ms rounded up, a trailing tab as AWS."""
    # Since 1 August 2025 the init phase of a managed runtime is billed: a cold start's
    # Billed Duration is Duration + Init Duration, rounded up to 1 ms.
    billed = max(1, math.ceil(duration_ms + (init_ms or 0.0)))
    parts = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {billed} ms",
        f"Memory Size: {memory_mb} MB",
        f"Max Memory Used: {max_memory_mb} MB",
    ]
    if init_ms is not None:
        parts.append(f"Init Duration: {init_ms:.2f} ms")
    if status:
        parts.append(f"Status: {status}")
    if error_type:
        parts.append(f"Error Type: {error_type}")
    return "\t".join(parts) + "\t"


def init_report_line(init_ms: float, phase: str, error_type: str) -> str:
    return (
        f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: {phase}\t"
        f"Status: error\tError Type: {error_type}"
    )


def dropped_line(request_id: str, reason: str, chain: str | None, parent: str | None) -> str:
    record: dict[str, object] = {
        "v": protocol.VERSION,
        "ev": protocol.EV_DROPPED,
        "req": request_id,
        "reason": reason,
    }
    if chain:
        record["chain"] = chain
    if parent:
        record["parent"] = parent
    return f"{protocol.MARKER} {json.dumps(record, separators=(',', ':'))}"


class _Missing(RuntimeError):
    """CloudWatch Logs says the group or stream does not exist."""


class LogSink:
    """Buffers log events per stream and writes them with PutLogEvents from one thread.

    Timestamps are kept non-decreasing per stream, so events stay in the order they were
    recorded (PutLogEvents wants chronological order inside a batch).
    """

    def __init__(self, moto: Moto, region: str, clock: Callable[[], int] = now_ms) -> None:
        self._moto = moto
        self._region = region
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: dict[tuple[str, str], list[dict[str, object]]] = {}
        self._last_ts: dict[tuple[str, str], int] = {}
        self._known_groups: set[str] = set()
        self._known_streams: set[tuple[str, str]] = set()
        self._inflight = 0
        self._generation = 0
        self._stopped = False
        self._urgent = False
        self._window = _BATCH_DELAY
        self._done: list[str] = []  # keys handed to on_written after the next batch
        # Told, after a batch is written, of the keys given to after_written() before the
        # batch was taken: the async queue deletes ended events once their lines are in.
        self.on_written: Callable[[list[str]], None] | None = None
        # Around each batch's writes (the store: one commit per batch).
        self.batch: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext
        # Told of every batch moto took: (region, group, stream, events); Live Tail's hub.
        self.on_put: Callable[[str, str, str, list[dict[str, object]]], None] | None = None
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def put(self, group: str, stream: str, message: str, ts_ms: int | None = None) -> None:
        key = (group, stream)
        with self._cond:
            ts = max(ts_ms or self._clock(), self._last_ts.get(key, 0))
            self._last_ts[key] = ts
            was_idle = not self._pending
            self._pending.setdefault(key, []).append({"timestamp": ts, "message": message})
            if was_idle:  # wake the writer for the first event of a batch only
                self._cond.notify_all()

    def after_written(self, key: str) -> None:
        """Hand `key` to on_written once every event put so far is written: at once, not
        after the batching window (an ended event stays in the store until then, and a crash
        in that window runs it again)."""
        with self._cond:
            self._done.append(key)
            self._urgent = True
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything put so far is in CloudWatch Logs."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            while (self._pending or self._done or self._inflight) and not self._stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)

    def reset(self) -> None:
        """Forget buffered events and known groups (moto's state was reset)."""
        with self._cond:
            self._pending.clear()
            self._last_ts.clear()
            self._known_groups.clear()
            self._known_streams.clear()
            # `_done` is kept: deleting an event the reset store no longer has is harmless,
            # and at close the events that ended just before must still leave the store.
            self._generation += 1

    def close(self) -> None:
        self.flush(timeout=5.0)
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5.0)

    # the writer ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._done and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                # Gather a batch: one PutLogEvents per stream per 0.1-0.3 s window, not per line. A
                # plain wait(_BATCH_DELAY) would return at the next put()'s notify: under load
                # that meant one moto call per line, holding the GIL invocations wait for.
                deadline = time.monotonic() + self._window
                while not self._urgent and not self._stopped:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if self._stopped:
                    return
                self._urgent = False
                batch, self._pending = self._pending, {}
                done, self._done = self._done, []
                generation = self._generation
                self._inflight += 1
            cpu = time.thread_time()
            try:
                with self.batch():
                    self._write_batch(batch, generation)
                if done and self.on_written is not None:
                    self.on_written(done)
            except Exception as exc:  # never let the writer die; say why on stderr
                log.warning("log write failed: %r", exc)
            finally:
                cost = _DUTY * (time.thread_time() - cpu)
                self._window = min(_MAX_DELAY, max(_BATCH_DELAY, cost))
                with self._cond:
                    self._inflight -= 1
                    self._cond.notify_all()

    def _write_batch(
        self, batch: dict[tuple[str, str], list[dict[str, object]]], generation: int
    ) -> None:
        """One PutLogEvents per stream (per 5,000 events); a stream that fails is logged and
        the others are still written."""
        for (group, stream), events in batch.items():
            for i in range(0, len(events), _MAX_BATCH):
                try:
                    self._write(group, stream, events[i : i + _MAX_BATCH], generation)
                except Exception as exc:
                    log.warning("log write to %s %s failed: %r", group, stream, exc)

    def _write(
        self, group: str, stream: str, events: list[dict[str, object]], generation: int
    ) -> None:
        with self._cond:
            if generation != self._generation:
                return  # moto was reset after these events were recorded
        try:
            self._put(group, stream, events)
        except _Missing:
            # The group or stream went away since it was created here (a DeleteLogGroup, or
            # a reset racing this batch): create them again, once.
            self._known_groups.discard(group)
            self._known_streams.discard((group, stream))
            self._put(group, stream, events)
        if self.on_put is not None:
            try:  # a subscriber's failure (Live Tail) never costs the log its events
                self.on_put(self._region, group, stream, events)
            except Exception as exc:
                log.warning("publishing %s %s to Live Tail failed: %r", group, stream, exc)

    def _put(self, group: str, stream: str, events: list[dict[str, object]]) -> None:
        if group not in self._known_groups:
            self._logs("CreateLogGroup", {"logGroupName": group})
            self._known_groups.add(group)
        if (group, stream) not in self._known_streams:
            self._logs("CreateLogStream", {"logGroupName": group, "logStreamName": stream})
            self._known_streams.add((group, stream))
        self._logs(
            "PutLogEvents", {"logGroupName": group, "logStreamName": stream, "logEvents": events}
        )

    def _logs(self, action: str, body: dict[str, object]) -> None:
        code, reply = self._moto.aws(
            "logs", "POST", "/", region=self._region, body=body, target=f"Logs_20140328.{action}"
        )
        if code >= 300:
            kind = str((reply or {}).get("__type", ""))
            if "ResourceAlreadyExists" in kind:
                return
            if "ResourceNotFound" in kind:
                raise _Missing(f"{action} failed ({code}): {reply}")
            raise RuntimeError(f"{action} failed ({code}): {reply}")
