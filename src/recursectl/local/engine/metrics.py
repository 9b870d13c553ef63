"""Lambda's `AWS/Lambda` metrics, published to the local CloudWatch (moto).

What AWS publishes, with its names, units and dimension sets: Invocations, Errors, Throttles
(Count), Duration (Milliseconds), ConcurrentExecutions (Count, read as Maximum),
RecursiveInvocationsDropped (Count). Every datapoint goes to the account-wide set (no
dimension) and to {FunctionName}; an invocation of a version or alias also to
{FunctionName, Resource} and {FunctionName, Resource, ExecutedVersion} (Resource is
`name:qualifier`, ExecutedVersion the version that ran).

Off the hot path: a datapoint is folded under a lock into its minute's statistic set (count,
sum, min, max) in memory; one thread sends the sets to CloudWatch (PutMetricData with
StatisticValues, timestamp = the start of the minute: AWS's 1-minute period) every
`interval` seconds, and on `flush()`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recursectl.local.motowire import Moto

log = logging.getLogger(__name__)

NAMESPACE = "AWS/Lambda"
_TARGET = "GraniteServiceVersion20100801.PutMetricData"
_PER_CALL = 500  # PutMetricData takes 1,000 metrics per request; half keeps requests small
Dims = tuple[tuple[str, str], ...]
_Key = tuple[str, str, Dims, int]  # metric, unit, dimensions, minute (epoch seconds)


def dimension_sets(function: str, qualifier: str | None, executed: str | None) -> list[Dims]:
    """The dimension sets one invocation's datapoint is published under."""
    sets: list[Dims] = [(), (("FunctionName", function),)]
    if qualifier and qualifier != "$LATEST":
        resource = f"{function}:{qualifier}"
        sets.append((("FunctionName", function), ("Resource", resource)))
        if executed:
            sets.append(
                (("FunctionName", function), ("Resource", resource), ("ExecutedVersion", executed))
            )
    return sets


class LambdaMetrics:
    """Datapoints folded per minute in memory, sent by one thread (see the module docstring)."""

    def __init__(self, moto: Moto, region: str, interval: float = 5.0) -> None:
        self._moto = moto
        self._region = region
        self._interval = interval
        self._lock = threading.Lock()
        self._cells: dict[_Key, list[float]] = {}
        self._send_lock = threading.Lock()  # one sender at a time: flush() and the thread
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="metrics", daemon=True)
        self._thread.start()

    def add(self, metric: str, unit: str, value: float, sets: list[Dims]) -> None:
        """Fold one datapoint into its minute."""
        self._fold([(metric, unit, value, sets)])

    def _fold(self, points: list[tuple[str, str, float, list[Dims]]]) -> None:
        # One lock hold and one clock read for all of an invocation's datapoints.
        minute = int(time.time()) // 60 * 60
        with self._lock:
            cells = self._cells
            for metric, unit, value, sets in points:
                for dims in sets:
                    key = (metric, unit, dims, minute)
                    cell = cells.get(key)
                    if cell is None:
                        cells[key] = [1.0, value, value, value]
                    else:
                        cell[0] += 1.0
                        cell[1] += value
                        cell[2] = min(cell[2], value)
                        cell[3] = max(cell[3], value)

    def invocation(
        self,
        function: str,
        qualifier: str | None,
        executed: str,
        duration_ms: float,
        failed: bool,
        concurrent: tuple[int, int],
    ) -> None:
        """One invocation that ran: Invocations, Errors (0 or 1), Duration, and the
        ConcurrentExecutions seen (this function's, the account's)."""
        sets = dimension_sets(function, qualifier, executed)
        self._fold(
            [
                ("Invocations", "Count", 1.0, sets),
                ("Errors", "Count", 1.0 if failed else 0.0, sets),
                ("Duration", "Milliseconds", duration_ms, sets),
                ("ConcurrentExecutions", "Count", float(concurrent[1]), sets[:1]),
                ("ConcurrentExecutions", "Count", float(concurrent[0]), sets[1:]),
            ]
        )

    def throttle(self, function: str) -> None:
        self.add("Throttles", "Count", 1.0, dimension_sets(function, None, None))

    def recursion_dropped(self, function: str) -> None:
        self.add("RecursiveInvocationsDropped", "Count", 1.0, dimension_sets(function, None, None))

    def flush(self) -> None:
        """Send what is folded so far (the current minute's sets too; CloudWatch adds a
        later set of the same minute to it, as it does for any two datapoints)."""
        with self._send_lock:
            with self._lock:
                cells, self._cells = self._cells, {}
            if cells:
                self._send(cells)

    def _send(self, cells: dict[_Key, list[float]]) -> None:
        data = [
            {
                "MetricName": metric,
                "Unit": unit,
                "Dimensions": [{"Name": n, "Value": v} for n, v in dims],
                "Timestamp": minute,
                "StatisticValues": {
                    "SampleCount": cell[0],
                    "Sum": cell[1],
                    "Minimum": cell[2],
                    "Maximum": cell[3],
                },
            }
            for (metric, unit, dims, minute), cell in cells.items()
        ]
        for start in range(0, len(data), _PER_CALL):
            body = {"Namespace": NAMESPACE, "MetricData": data[start : start + _PER_CALL]}
            code, answer = self._moto.aws(
                "monitoring", "POST", "/", region=self._region, body=body, target=_TARGET
            )
            if code >= 300:  # never raised: metrics must not hurt an invocation
                log.warning("PutMetricData answered %s: %s", code, answer)

    def _loop(self) -> None:
        while not self._closed.wait(self._interval):
            try:
                self.flush()
            except Exception:  # keep publishing whatever one batch did
                log.exception("publishing AWS/Lambda metrics failed")

    def reset(self) -> None:
        with self._lock:
            self._cells.clear()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self.flush()
