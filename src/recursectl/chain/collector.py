"""The collector: feed it log events in any order, ask it for chains (pure: no I/O, no clock).

Memory is bounded per invocation, not per event: an invocation keeps one entry per attempt,
its announced children, and at most `max_lines` handler lines (only when asked to keep them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from recursectl.chain.errors import AmbiguousChainId
from recursectl.chain.fold import fold, gc_paused
from recursectl.chain.parse import parse_event
from recursectl.chain.records import (
    AppLine,
    End,
    Failure,
    InitReport,
    InitStart,
    Marker,
    Record,
    Report,
    Start,
)
from recursectl.chain.snapshot import Chain
from recursectl.chain.state import State, key_of
from recursectl.chain.status import DEFAULT_TIMING, Timing
from recursectl.chain.tree import Clock, linked_chain, unlinked_chain

DEFAULT_MAX_LINES = 50


class ChainCollector:
    """Feed it records (or raw events) in any order; ask it for chains.

    `keep_lines=True` keeps up to `max_lines` handler lines per invocation (for `--lines`).
    """

    def __init__(
        self,
        *,
        keep_lines: bool = False,
        max_lines: int = DEFAULT_MAX_LINES,
        timing: Timing = DEFAULT_TIMING,
        architecture: str | None = None,
    ) -> None:
        self.keep_lines = keep_lines
        self.architecture = architecture  # priced at its list price (None: x86_64)
        self.timing = timing
        self.state = State(keep_lines=keep_lines, max_lines=max_lines)
        self.records = 0
        s = self.state
        self._handlers: dict[type, Callable[[Any], None]] = {
            Start: lambda rec: s.start(rec.request_id, rec.ts, rec.stream, key_of("start", rec)),
            Report: s.report,
            Marker: s.marker,
            AppLine: s.add_line,
            Failure: s.failure,
            InitReport: s.init_report,
            InitStart: lambda rec: s.env_start(rec.stream, rec.ts),
            End: lambda rec: None,  # END carries nothing REPORT does not
        }

    # feeding ----------------------------------------------------------------------------
    def add_event(self, event: dict[str, Any]) -> None:
        """Parse and add one FilterLogEvents event dict (the tolerant path only)."""
        record = parse_event(event, lines=self.keep_lines)
        if record is not None:
            self.add(record)

    def add_events(self, events: Iterable[dict[str, Any]]) -> None:
        """Parse and add FilterLogEvents event dicts (the hot loop of a follower)."""
        self.records += fold(self.state, events, self._handlers)

    def add(self, record: Record) -> None:
        """Add one parsed record (idempotent: the same event twice changes nothing)."""
        self.records += 1
        self._handlers[record.__class__](record)

    # reading ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.state.invs)

    def _inputs(self, now_ms: int | None) -> tuple[Any, Any, Clock]:
        s = self.state
        return (
            s.resolved_failures(),
            s.parked_lines(),
            Clock(now_ms, self.timing, self.architecture),
        )

    def chains(self, now_ms: int | None = None) -> list[Chain]:
        """Every chain seen, oldest first (by start). Unmarked invocations form one unlinked
        chain in time order."""
        failures, parked, clock = self._inputs(now_ms)
        with gc_paused():
            out = [
                linked_chain(self.state, cid, failures, parked, clock) for cid in self.state.members
            ]
            unlinked = unlinked_chain(self.state, failures, parked, clock)
        if unlinked is not None:
            out.append(unlinked)
        out.sort(key=lambda c: (c.start if c.start is not None else 0, c.chain_id))
        return out

    def _root_start(self, chain_id: str) -> int:
        invs = self.state.invs
        root = invs.get(chain_id)
        start = root.first_start() if root is not None else None
        if start is None:
            starts = [invs[r].first_start() for r in self.state.members[chain_id]]
            start = min((s for s in starts if s is not None), default=0)
        return start

    def latest(self, now_ms: int | None = None) -> Chain | None:
        """The most recent chain (by its root's start)."""
        failures, parked, clock = self._inputs(now_ms)
        best: tuple[int, str] | None = None
        for cid in self.state.members:
            cand = (self._root_start(cid), cid)
            if best is None or cand > best:
                best = cand
        unlinked = unlinked_chain(self.state, failures, parked, clock)
        if unlinked is not None and (
            best is None or (unlinked.start is not None and unlinked.start > best[0])
        ):
            return unlinked
        if best is None:
            return None
        with gc_paused():
            return linked_chain(self.state, best[1], failures, parked, clock)

    def get(self, chain_id: str, now_ms: int | None = None) -> Chain | None:
        """The chain with this id, or a unique prefix of it, or containing this request id.

        Raises AmbiguousChainId when a prefix matches several chains.
        """
        failures, parked, clock = self._inputs(now_ms)
        members = self.state.members
        if chain_id in members:
            return linked_chain(self.state, chain_id, failures, parked, clock)
        matches = [cid for cid in members if cid.startswith(chain_id)]
        if len(matches) > 1:
            shown = ", ".join(m[:13] for m in sorted(matches)[:5])
            raise AmbiguousChainId(
                f"chain id '{chain_id}' is ambiguous: it matches {len(matches)} chains ({shown})",
                hint="Give more characters of the chain id.",
            )
        if matches:
            return linked_chain(self.state, matches[0], failures, parked, clock)
        inv = self.state.invs.get(chain_id)
        if inv is not None and inv.chain_id is not None:
            return linked_chain(self.state, inv.chain_id, failures, parked, clock)
        unlinked = unlinked_chain(self.state, failures, parked, clock)
        if unlinked is not None and any(
            i.request_id.startswith(chain_id) for i in unlinked.invocations
        ):
            return unlinked
        return None

    def __iter__(self) -> Iterator[Chain]:
        return iter(self.chains())
