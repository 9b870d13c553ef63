"""A fake clock for code that takes `clock` and `sleep` callables."""

from __future__ import annotations


class FakeClock:
    """A clock that moves only when slept on: `clock()` (or the object itself) reads it,
    `sleep(s)` records the wait and advances it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
