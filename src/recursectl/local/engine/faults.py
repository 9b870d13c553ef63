"""One-shot faults per function, injected through the control plane (docs/jobs.md), so the
exactly-once and retry paths of long jobs are tested here as they happen on AWS:

- `duplicate`: the next Event invoke of the function is delivered twice (the same request id
  and payload: Lambda's async delivery is at least once);
- `crash`: the next invocation of the function that writes a job's checkpoint dies right
  after it: the front door applies the checkpoint's UpdateItem, then SIGKILLs the worker
  whose execution-role session signed it, before answering (so the handler never runs past
  its checkpoint, whatever the machine's load). The invocation ends crashed
  (Runtime.ExitError). It needs the local cloud's IAM sessions (on unless
  RECURSECTL_LOCAL_IAM=off), which name the environment.

Both are reset with moto (`/moto-api/reset`)."""

from __future__ import annotations

import threading

KINDS = ("duplicate", "crash")


class Faults:
    """Armed faults by (function, kind), each taken once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[tuple[str, str], int] = {}

    def arm(self, function: str, kind: str, count: int = 1) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}: one of {', '.join(KINDS)}")
        if not function or count < 1:
            raise ValueError("a fault needs a function name and a count of at least 1")
        with self._lock:
            self._armed[(function, kind)] = self._armed.get((function, kind), 0) + count

    def take(self, function: str, kind: str) -> bool:
        """Whether a `kind` fault of `function` is armed; it is then used up."""
        with self._lock:
            left = self._armed.get((function, kind), 0)
            if left <= 0:
                return False
            if left == 1:
                del self._armed[(function, kind)]
            else:
                self._armed[(function, kind)] = left - 1
            return True

    def armed(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {"function": f, "fault": k, "count": n} for (f, k), n in sorted(self._armed.items())
            ]

    def reset(self) -> None:
        with self._lock:
            self._armed.clear()
