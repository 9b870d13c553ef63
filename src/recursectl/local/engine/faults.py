"""One-shot faults per function, for testing long jobs' exactly-once and retry paths
(docs/jobs.md, "Local cloud faults"); armed through the control plane, never persisted.

- `duplicate`: the next Event invoke of the function is delivered twice (the second copy with
  its own request id, as a second delivery of the same event is a second execution).
- `crash`: the next invocation of the function that writes a `checkpoint` marker is killed
  right after it (SIGKILL of its worker, as a crashed or killed execution environment).
"""

from __future__ import annotations

import re
import threading
from collections import Counter

from recursectl import protocol

KINDS = ("duplicate", "crash")
# A checkpoint marker, as printed (`"ev":"checkpoint"`) or inside a JSON log record, where the
# quotes are escaped (`\"ev\":\"checkpoint\"`).
_CHECKPOINT = re.compile(r'\\?"ev\\?"\s*:\s*\\?"' + protocol.EV_CHECKPOINT + r'\\?"')


def is_checkpoint(message: str) -> bool:
    return protocol.MARKER in message and _CHECKPOINT.search(message) is not None


class Faults:
    """Armed faults: (function, kind) -> how many are left to fire."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: Counter[tuple[str, str]] = Counter()

    def arm(self, function: str, kind: str, count: int = 1) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}: one of {', '.join(KINDS)}")
        with self._lock:
            self._armed[(function, kind)] += count

    def take(self, function: str, kind: str) -> bool:
        """Fire one armed fault (True), or False when none is armed."""
        with self._lock:
            if self._armed[(function, kind)] <= 0:
                return False
            self._armed[(function, kind)] -= 1
            return True

    def armed(self, function: str, kind: str) -> bool:
        with self._lock:
            return self._armed[(function, kind)] > 0

    def snapshot(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {"function": f, "fault": k, "count": n}
                for (f, k), n in sorted(self._armed.items())
                if n > 0
            ]

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
