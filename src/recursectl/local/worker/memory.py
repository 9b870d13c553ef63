"""MemorySize, enforced: the resident memory of a worker's whole process tree, watched.

RLIMIT_AS would cap virtual memory, which a Python process reserves far beyond what it uses
(a 128 MB limit fails at import time), and cgroups need a writable v2 hierarchy; so while an
invocation runs, the environment samples VmRSS of the worker and every descendant from /proc
and kills the environment once the sum passes MemorySize, as AWS stops it (Runtime.OutOfMemory).
"""

from __future__ import annotations

import threading
import time

from recursectl.local.worker.spawn import descendants

POLL_S = 0.05  # how often a running invocation's memory is sampled


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_rss_mb(pid: int) -> int:
    """Resident memory of `pid` and its descendants, in MB rounded up."""
    total = _rss_kb(pid) + sum(_rss_kb(child) for child in descendants(pid))
    return -(-total // 1024)


def peak_rss_mb(pid: int) -> int:
    """The worker's peak resident memory (VmHWM), in MB rounded up; 0 if unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return -(-int(line.split()[1]) // 1024)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def wait_within(
    done: threading.Event, pid: int | None, limit_mb: int, deadline: float
) -> tuple[bool, bool]:
    """Wait for `done` until `deadline` (perf_counter), sampling the memory of `pid`'s tree:
    (finished, over the limit). A quick invocation returns from the first wait."""
    while True:
        left = deadline - time.perf_counter()
        if done.wait(max(0.0, min(POLL_S, left))):
            return True, False
        if left <= 0:
            return False, False
        if pid is not None and tree_rss_mb(pid) > limit_mb:
            return True, True
