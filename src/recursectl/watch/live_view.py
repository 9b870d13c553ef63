"""The live view of a chain: a frame that always fits the terminal. No I/O.

A rich Live frame taller than the screen cannot be redrawn in place (the cursor cannot move
above the top row), so every refresh would leave a stale copy in the scrollback, and rich's
own cropping drops the bottom: the summary. `LiveView` renders at the console's current size:
the whole tree when it fits; else the tree with tighter collapsing; else a flat list of the
rows that matter (failed, running, missing, the newest), the rest counted in one line, and
the summary always at the bottom.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
from rich.text import Text

from recursectl.chain.snapshot import Chain, Invocation
from recursectl.watch.render import (
    RenderOptions,
    chain_title,
    invocation_label,
    job_line,
    render_chain,
    summary_text,
)

MIN_HEIGHT = 6  # below this the frame is title, summary and what fits between


def _lines(
    console: Console, renderable: RenderableType, options: ConsoleOptions
) -> list[list[Segment]]:
    return console.render_lines(renderable, options, pad=False, new_lines=False)


def _rank(inv: Invocation) -> int:
    """Which rows a short frame keeps first: failures, then running, then missing."""
    if inv.status in ("error", "timeout", "dropped") or (
        not inv.healthy and inv.status not in ("running", "pending", "missing")
    ):
        return 0
    if inv.status in ("running", "pending"):
        return 1
    if inv.status == "missing":
        return 2
    return 3


def priority_rows(chain: Chain) -> list[Invocation]:
    """The chain's invocations, the ones a short frame must show first; newest first within
    each rank (the last row to start is the one the user is waiting for)."""
    order = {inv.request_id: i for i, inv in enumerate(chain.invocations)}
    return sorted(
        chain.invocations,
        key=lambda inv: (_rank(inv), -(inv.start or 0), -order[inv.request_id]),
    )


class LiveView:
    """A chain as a frame no taller than the console (see the module docstring)."""

    def __init__(self, chain: Chain, *, lines: bool = False, cost_cap: float | None = None) -> None:
        self.chain = chain
        self.lines = lines
        self.cost_cap = cost_cap  # the chain's --max-cost: spend so far is shown against it

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # One row is left free: a frame of exactly the screen's height scrolls it by one.
        height = max(MIN_HEIGHT, (options.height or console.size.height) - 1)
        free = options.update(height=None)
        cap = self._cap_line(console, free)
        height -= len(cap)
        for opts in (
            RenderOptions(lines=self.lines),
            RenderOptions(lines=False, head=1, tail=2, max_rows=max(1, height - 4)),
        ):
            rendered = _lines(console, render_chain(self.chain, opts), free)
            if len(rendered) <= height:
                yield from _emit(rendered + cap)
                return
        yield from _emit(self._flat(console, free, height) + cap)

    def _cap_line(self, console: Console, options: ConsoleOptions) -> list[list[Segment]]:
        if self.cost_cap is None:
            return []
        spent = self.chain.summary().estimated_cost_usd
        text = Text(
            f"cost cap ${self.cost_cap:g}: ≈ ${spent:.7f} spent so far "
            f"({spent / self.cost_cap:.0%}, from the REPORT lines)",
            style="dim",
        )
        return _lines(console, text, options)[:1]

    def _flat(self, console: Console, options: ConsoleOptions, height: int) -> list[list[Segment]]:
        title = _lines(console, chain_title(self.chain), options)[:1]
        if self.chain.job is not None:
            # The job's progress stays on top, however short the frame.
            title = _lines(console, job_line(self.chain.job), options)[:2] + title
        summary = _lines(console, summary_text(self.chain.summary()), options)
        room = height - len(title) - len(summary) - 1  # one line counts what is hidden
        shown: list[tuple[int, list[list[Segment]]]] = []
        order = {inv.request_id: i for i, inv in enumerate(self.chain.invocations)}
        for inv in priority_rows(self.chain):
            row = Text("• ", style="dim") + invocation_label(inv)
            rendered = _lines(console, row, options)
            if len(rendered) > room:
                break
            room -= len(rendered)
            shown.append((order[inv.request_id], rendered))
        shown.sort(key=lambda item: item[0])  # back in chain order
        hidden = len(self.chain.invocations) - len(shown)
        note = Text(f"… {hidden} more invocations not shown (the full tree follows at the end)")
        note.stylize("dim")
        body = [line for _, rendered in shown for line in rendered]
        return title + body + _lines(console, note, options)[:1] + summary


def _emit(lines: Iterable[list[Segment]]) -> RenderResult:
    new_line = Segment.line()
    for i, line in enumerate(lines):
        if i:
            yield new_line  # none after the last line: Live would show it as a blank row
        yield from line
