"""watch.follow: what Ctrl-C leaves on screen."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from recursectl.chain import ChainCollector
from recursectl.watch import follow as watch
from tests.support.chain_factory import linear_chain


class InterruptedPoller:
    """Yields `first`, then the user presses Ctrl-C; `rest` is in the logs by then."""

    def __init__(self, first: list[dict[str, Any]], rest: list[dict[str, Any]]) -> None:
        self.first, self.rest = first, rest

    def follow(self, **_: Any) -> Iterator[list[dict[str, Any]]]:
        yield self.first
        raise KeyboardInterrupt

    def poll(self, **_: Any) -> list[dict[str, Any]]:
        return self.first + self.rest


def test_ctrl_c_shows_the_chain_as_of_the_interrupt_not_the_last_poll() -> None:
    events = sorted(linear_chain(6), key=lambda e: e["timestamp"])
    first = [e for e in events if e["timestamp"] <= events[0]["timestamp"]]
    poller = InterruptedPoller(first, events[len(first) :])
    reader = watch.Reader(
        collector=ChainCollector(),
        poller=poller,  # type: ignore[arg-type]
        chain_id=None,
        clock=lambda: 10**13,
    )
    followed = watch.follow(reader, timeout=60)
    assert followed.interrupted
    assert followed.chain is not None
    summary = followed.chain.summary()
    assert (summary.count, summary.ok, summary.running) == (6, 6, 0)
