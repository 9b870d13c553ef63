"""The log writer: one bad stream or subscriber never costs the other streams their lines,
and ended events are handed on only once their lines are written (a fake moto at the seam)."""

from __future__ import annotations

import threading
from typing import Any

from recursectl.local.worker.logsink import LogSink


class FakeLogs:
    """moto's CloudWatch Logs as the writer sees it: PutLogEvents fails for one stream."""

    def __init__(self, bad_stream: str) -> None:
        self.bad_stream = bad_stream
        self.written: dict[str, list[str]] = {}
        self.lock = threading.Lock()

    def aws(self, service: str, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        body = kw["body"]
        if kw["target"].endswith("PutLogEvents"):
            if body["logStreamName"] == self.bad_stream:
                raise TypeError("a bad record")
            with self.lock:
                self.written.setdefault(body["logStreamName"], []).extend(
                    e["message"] for e in body["logEvents"]
                )
        return 200, {}


def test_a_failing_stream_or_subscriber_costs_the_others_nothing() -> None:
    fake = FakeLogs(bad_stream="bad")
    sink = LogSink(fake, "us-east-1")  # type: ignore[arg-type]

    def subscriber(region: str, group: str, stream: str, events: list[Any]) -> None:
        if stream == "a":
            raise TypeError("Live Tail choked")

    sink.on_put = subscriber
    handed: list[list[str]] = []
    sink.on_written = handed.append
    try:
        for i in range(50):
            for stream in ("a", "bad", "b"):
                sink.put("/aws/lambda/f", stream, f"{stream} {i}")
        sink.after_written("event-1")
        sink.flush()
    finally:
        sink.close()
    assert fake.written["a"] == [f"a {i}" for i in range(50)]
    assert fake.written["b"] == [f"b {i}" for i in range(50)]
    assert handed == [["event-1"]]


class VanishingLogs:
    """A log group deleted behind the writer's back (DeleteLogGroup, a racing reset)."""

    def __init__(self) -> None:
        self.groups: set[str] = set()
        self.calls: list[str] = []
        self.written: list[str] = []

    def aws(self, service: str, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        action, body = kw["target"].rpartition(".")[2], kw["body"]
        self.calls.append(action)
        if action == "CreateLogGroup":
            self.groups.add(body["logGroupName"])
        elif body["logGroupName"] not in self.groups:
            return 400, {"__type": "ResourceNotFoundException"}
        elif action == "PutLogEvents":
            self.written += [e["message"] for e in body["logEvents"]]
        return 200, {}


def test_a_group_deleted_behind_the_writer_is_created_again() -> None:
    fake = VanishingLogs()
    sink = LogSink(fake, "us-east-1")  # type: ignore[arg-type]
    try:
        sink.put("/aws/lambda/f", "s", "before")
        sink.flush()
        fake.groups.clear()  # deleted
        sink.put("/aws/lambda/f", "s", "after")
        sink.flush()
    finally:
        sink.close()
    assert fake.written == ["before", "after"]
    assert fake.calls.count("CreateLogGroup") == 2
