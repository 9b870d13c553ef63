"""A job hop's mutable state in the collector, fed by the job markers (docs/jobs.md).

One `HopJob` per invocation that is a hop of a job (its `hop` marker, or its parent's `child`
marker, names the job): which job, which hop (`seq`) and delivery (`attempt`), its
checkpoints, the job statuses it logged, and whether it was a duplicate delivery. Keyed like
the rest of the state (chain/state.py), so a marker delivered twice changes nothing.
"""

from __future__ import annotations

from typing import Any

from recursectl.chain.records import Marker, Progress
from recursectl.protocol import EV_CHECKPOINT, EV_DUPLICATE

# A hop keeps its first checkpoints and its latest: a handler checkpointing in a tight loop
# stays bounded (the latest is the one that counts; the others are ticks on the timeline).
MAX_CHECKPOINTS = 200

Key = Any


class HopJob:
    """What the markers say about one invocation as a hop of a job."""

    __slots__ = ("attempt", "checkpoints", "checkpoints_dropped", "events", "holder", "job", "seq")

    def __init__(self, job: str) -> None:
        self.job = job
        self.seq: int | None = None
        self.attempt: int | None = None
        # key -> (ts, key, progress, bytes, spilled)
        self.checkpoints: dict[Key, tuple[int, str, Progress, int | None, bool | None]] = {}
        self.checkpoints_dropped = 0
        self.events: dict[Key, tuple[int, str, str, str | None]] = {}  # (ts, key, status, error)
        self.holder: str | None = None  # a duplicate delivery: the request holding the claim

    def place(self, seq: int | None, attempt: int | None) -> None:
        """The hop's number and delivery, from its own markers (the hop marker first)."""
        if seq is not None:
            self.seq = seq
        if attempt is not None and (self.attempt is None or attempt > self.attempt):
            self.attempt = attempt

    def add(self, rec: Marker, key: Key) -> None:
        """A checkpoint, job or duplicate marker of this hop."""
        self.place(rec.seq, rec.attempt)
        sort_key = str(key)
        if rec.ev == EV_CHECKPOINT:
            if key in self.checkpoints:
                return
            if len(self.checkpoints) >= MAX_CHECKPOINTS:
                # Replace the latest kept one when this one is later: the first ones and
                # the latest stay, the middle is counted.
                last = max(self.checkpoints, key=lambda k: self.checkpoints[k][:2])
                self.checkpoints_dropped += 1
                if self.checkpoints[last][:2] >= (rec.ts, sort_key):
                    return
                del self.checkpoints[last]
            self.checkpoints[key] = (rec.ts, sort_key, rec.progress, rec.nbytes, rec.spilled)
        elif rec.ev == EV_DUPLICATE:
            self.holder = rec.holder or self.holder or "?"
        elif rec.status is not None:
            self.events[key] = (rec.ts, sort_key, rec.status, rec.error)
