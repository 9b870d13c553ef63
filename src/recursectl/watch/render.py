"""Chain -> rich renderables (a tree with a summary footer) and the JSON document. No I/O.

Readability rules for big chains:
- a run of single-child hops (a linear chain) is a flat list, not one nesting level per hop;
- long runs of healthy hops collapse into one line ("… 990 more ok hops, depth 5..994,
  median 3.1 ms …"); errors, timeouts, drops, missing children, retries and caps always show,
  as do the first and last few hops;
- a fan-out renders as a tree; a chain of more than `max_rows` invocations expands only the
  paths to notable invocations and shows every healthy subtree as one row.

Every text that comes from the logs (ids, error messages, handler lines, reasons) goes through
`visible()`: a handler can print terminal escape sequences (screen clear, window title, OSC 52
clipboard writes), and rich passes ESC through even without colour. The JSON document keeps
the exact text (json.dumps escapes it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text
from rich.tree import Tree

from recursectl.chain.job import JobProgress
from recursectl.chain.snapshot import (
    CUT_BUDGET,
    CUT_COST,
    CUT_COUNTER,
    CUT_DEPTH,
    CUT_LOOP,
    Chain,
    Invocation,
)
from recursectl.chain.stats import Summary

# C0 controls but tab and newline, DEL and C1 controls, and the bidirectional overrides that
# can make a line read differently from what it holds.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with control characters shown as escapes (ESC -> `\\x1b`), never interpreted."""
    return _CONTROL.sub(_escape_char, text) if _CONTROL.search(text) else text


STATUS_STYLE = {
    "ok": "green",
    "error": "bold red",
    "timeout": "bold red",
    "dropped": "bold red",
    "missing": "bold yellow",
    "running": "cyan",
    "pending": "dim cyan",
}

DEFAULT_HEAD = 5
DEFAULT_TAIL = 5
DEFAULT_MAX_ROWS = 200


@dataclass(frozen=True)
class RenderOptions:
    lines: bool = False  # show the handler's own lines under each invocation
    head: int = DEFAULT_HEAD  # hops always shown at the start of a run
    tail: int = DEFAULT_TAIL  # ... and at its end
    max_rows: int = DEFAULT_MAX_ROWS  # budget before healthy subtrees collapse
    collapse: bool = True


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _cut_note(inv: Invocation) -> tuple[str, str] | None:
    """Why the guard refused a child here, and its style (None: it did not)."""
    cut = inv.cut
    if cut == CUT_DEPTH:
        cap = "" if inv.capped is None else f" max_calls={inv.capped}"
        return f"  capped: the depth cap{cap} refused a child", "yellow"
    if cut == CUT_BUDGET:
        return "  capped: the chain's invocation budget (max_invocations) is used up", "yellow"
    if cut == CUT_COST:
        return "  capped: the chain's cost cap (--max-cost) is reached", "yellow"
    if cut == CUT_COUNTER:
        return "  refused: the chain counter could not be reached (fail safe; see the log)", "red"
    return None


def invocation_label(inv: Invocation) -> Text:
    """One row: short id, depth, status, duration, billed, memory, cold start, error, notes."""
    text = Text(no_wrap=False)
    for _, part in _row_parts(inv):
        text.append_text(part)
    return text


class Row:
    """An invocation's row that fits its width: the memory column, then the billed one, are
    left out of a row whose columns are too wide for the terminal, and what still does not fit
    wraps between fields, never inside one (`cold 106 ms` stays whole)."""

    DROPPED_FIRST = ("memory", "billed")

    def __init__(self, inv: Invocation) -> None:
        self.parts = _row_parts(inv)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        parts = self.parts
        for kind in self.DROPPED_FIRST:
            # The columns, not the notes: an error message wraps under the row anyway.
            if sum(p.cell_len for k, p in parts if k != "notes") <= width:
                break
            parts = [(k, p) for k, p in parts if k != kind]
        line = Text(no_wrap=False)
        for _, part in parts:
            if line.cell_len and line.cell_len + part.cell_len > width:
                yield line
                line = Text(no_wrap=False)
                indent = len(part.plain) - len(part.plain.lstrip())
                line.append_text(part[indent:])  # a continuation starts at the row's edge
                continue
            line.append_text(part)
        if line.cell_len:
            yield line  # one field wider than the terminal (an error message) wraps as text


def _row_parts(inv: Invocation) -> list[tuple[str, Text]]:
    """The fields of a row, each with its kind (what `Row` may leave out)."""
    head = Text(no_wrap=False)
    head.append(visible(inv.short_id), style="bold")
    if inv.job is not None and inv.job.seq is not None:
        depth = f"#{inv.job.seq}"  # a job's hops are a sequence: each at depth 0
    else:
        depth = "d-" if inv.depth is None else f"d{inv.depth}"
    head.append(f" {depth:>3} ")
    head.append(f"{inv.status:<7}", style=STATUS_STYLE.get(inv.status, ""))
    parts: list[tuple[str, Text]] = [("head", head)]
    if inv.duration_ms is not None or inv.billed_ms is not None:
        head.append(f" {fmt_ms(inv.duration_ms):>9}", style="default")
        parts.append(("billed", Text(f"  billed {fmt_ms(inv.billed_ms):>8}", style="dim")))
        memory = f"  {_mb(inv.max_memory_mb)}/{_mb(inv.memory_mb)} MB"
        parts.append(("memory", Text(memory, style="dim")))
    if inv.init_ms is not None:
        parts.append(("cold", Text(f"  cold {fmt_ms(inv.init_ms)}", style="blue")))
    text = Text(no_wrap=False)
    parts.append(("notes", text))
    if inv.error is not None and inv.status != "ok":
        shown = inv.error.type or "error"
        message = inv.error.message
        if message:
            # "Task timed out after 3.00 seconds", not "Task timed out: Task timed out after..."
            shown = message if message.startswith(shown) else f"{shown}: {message}"
        # Wrapped under the row on a narrow terminal, never cut: it is why the row is shown.
        text.append(f"  {visible(shown[:1000])}", style="red")
    if inv.dropped_reason and inv.status == "dropped":
        loop = " (AWS's recursive loop detection)" if inv.cut == CUT_LOOP else ""
        text.append(f"  dropped: {visible(inv.dropped_reason)}{loop}", style="red")
    if inv.status == "missing":
        text.append("  announced, never started", style="yellow")
    if inv.attempts > 1 and not _delivered_twice(inv):
        text.append(f"  {inv.attempts} attempts (retried)", style="yellow")
    if inv.stopped:
        text.append("  stopped: `recursectl stop` ended the chain here", style="yellow")
    note = _cut_note(inv)
    if note is not None:
        text.append(note[0], style=note[1])
    for err in inv.child_failed[:3]:
        text.append(f"  child invoke failed: {visible(err[:120])}", style="red")
    _job_notes(inv, text)
    return [(k, p) for k, p in parts if p.cell_len]


def _delivered_twice(inv: Invocation) -> bool:
    return inv.job is not None and inv.job.duplicate_of == inv.request_id


def _job_notes(inv: Invocation, text: Text) -> None:
    """A job hop's notes: a duplicate or a retry, its checkpoints, the status it logged."""
    hop = inv.job
    if hop is None:
        return
    if _delivered_twice(inv):
        # Lambda delivered the same event again under its request id: the claim held.
        text.append("  delivered twice: the second delivery was ignored", style="yellow")
    elif hop.duplicate_of is not None:
        holder = visible(hop.duplicate_of[:8])
        text.append(f"  duplicate delivery, ignored (hop claimed by {holder})", style="yellow")
        return
    if hop.attempt is not None and hop.attempt > 1:
        text.append(f"  attempt {hop.attempt} (retry from the checkpoint)", style="yellow")
    if hop.checkpoints:
        n = len(hop.checkpoints) + hop.checkpoints_dropped
        spilled = sum(1 for c in hop.checkpoints if c.spilled)
        note = f", {spilled} spilled" if spilled else ""
        text.append(f"  {_plural(n, 'checkpoint')}{note}", style="dim")
    for event in hop.events:
        style = JOB_STATUS_STYLE.get(event.status, "")
        error = f": {visible(event.error[:300])}" if event.error else ""
        text.append(f"  job {visible(event.status)}{error}", style=style)


def _collapsed_label(run: Sequence[Invocation]) -> Text:
    durations = [inv.duration_ms for inv in run if inv.duration_ms is not None]
    depths = [inv.depth for inv in run if inv.depth is not None]
    seqs = [inv.job.seq for inv in run if inv.job is not None and inv.job.seq is not None]
    parts = [f"… {len(run)} more ok hops"]
    if seqs:
        parts.append(f"#{min(seqs)}..#{max(seqs)}")
    elif depths:
        parts.append(f"depth {min(depths)}..{max(depths)}")
    if durations:
        parts.append(f"median {fmt_ms(median(durations))}")
    cold = sum(inv.cold_starts for inv in run)
    if cold:
        parts.append(_plural(cold, "cold start"))
    return Text(", ".join(parts) + " …", style="dim")


def _collapsed_subtree_label(inv: Invocation, size: int) -> Text:
    text = invocation_label(inv)
    if size > 1:
        text.append(f"  (+{size - 1} ok below, collapsed)", style="dim")
    return text


def _notable(inv: Invocation, options: RenderOptions) -> bool:
    return (
        not inv.healthy
        or inv.attempts > 1
        or (options.lines and bool(inv.lines))
        or (inv.job is not None and job_notable(inv))
    )


def job_notable(inv: Invocation) -> bool:
    """A job hop that always shows: a duplicate, a retry, or one that logged a status."""
    hop = inv.job
    return hop is not None and (
        hop.duplicate_of is not None or (hop.attempt or 1) > 1 or bool(hop.events)
    )


def _add_row(parent: Tree, inv: Invocation, options: RenderOptions) -> Tree:
    node = parent.add(Row(inv))
    if options.lines:
        for line in inv.lines:
            node.add(Text(visible(line.text), style="dim"))
        if inv.lines_dropped:
            node.add(Text(f"… {inv.lines_dropped} more lines not kept", style="dim"))
    return node


def _add_run(parent: Tree, run: Sequence[Invocation], options: RenderOptions) -> Tree | None:
    """Add a flat run of invocations, collapsing healthy stretches; returns the last node."""
    n = len(run)
    last: Tree | None = None
    if not options.collapse or n <= options.head + options.tail + 1:
        for inv in run:
            last = _add_row(parent, inv, options)
        return last
    i = 0
    while i < n:
        inv = run[i]
        edge = i < options.head or i >= n - options.tail
        if edge or _notable(inv, options):
            last = _add_row(parent, inv, options)
            i += 1
            continue
        j = i
        while j < n - options.tail and not _notable(run[j], options):
            j += 1
        if j - i == 1:
            last = _add_row(parent, inv, options)
        else:
            parent.add(_collapsed_label(run[i:j]))
        i = j
    return last


def _tree_for(chain: Chain, options: RenderOptions, title: Text) -> Tree:
    tree = Tree(title, guide_style="dim")
    invs = chain.invocations
    if not chain.linked:
        _add_run(tree, invs, options)
        return tree
    by_id = {inv.request_id: inv for inv in invs}
    kids: dict[str, list[str]] = {
        inv.request_id: [c for c in inv.children if c in by_id] for inv in invs
    }
    # Subtree sizes and health, children before parents (reverse pre-order): no recursion.
    size: dict[str, int] = {}
    healthy: dict[str, bool] = {}
    for inv in reversed(invs):
        rid = inv.request_id
        size[rid] = 1 + sum(size.get(c, 0) for c in kids[rid])
        healthy[rid] = not _notable(inv, options) and all(healthy.get(c, True) for c in kids[rid])
    roots = [inv.request_id for inv in invs if inv.parent_id not in by_id]
    root_set = set(roots)
    # Too big to show whole: expand only the paths that lead to something notable, and
    # show each healthy subtree as one row.
    big = options.collapse and len(invs) > options.max_rows
    stack: list[tuple[str, Tree]] = [(rid, tree) for rid in reversed(roots)]
    while stack:
        rid, container = stack.pop()
        if big and healthy[rid] and size[rid] > 1 and rid not in root_set:
            container.add(_collapsed_subtree_label(by_id[rid], size[rid]))
            continue
        # Follow single-child links: a linear stretch is one flat run at this level.
        run = [by_id[rid]]
        cur = rid
        while len(kids[cur]) == 1:
            cur = kids[cur][0]
            run.append(by_id[cur])
        last = _add_run(container, run, options)
        children = kids[cur]
        if children and last is not None:
            children = _collapse_siblings(children, last, size, healthy, options)
            for child in reversed(children):
                stack.append((child, last))
    return tree


def _collapse_siblings(
    children: list[str],
    node: Tree,
    size: dict[str, int],
    healthy: dict[str, bool],
    options: RenderOptions,
) -> list[str]:
    """Keep every unhealthy child and the first/last few healthy ones; summarise the rest."""
    keep_n = options.head + options.tail
    if not options.collapse or len(children) <= keep_n + 1:
        return children
    middle = [c for c in children[options.head : len(children) - options.tail] if healthy[c]]
    if len(middle) < 2:
        return children
    dropped = set(middle)
    total = sum(size[c] for c in middle)
    node.add(
        Text(
            f"… {len(middle)} more ok subtrees ({total} invocations) not shown …",
            style="dim",
        )
    )
    return [c for c in children if c not in dropped]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class Fields:
    """Texts joined by " · " that wrap between fields, never inside one (`0.0540 GB-s`)."""

    SEPARATOR = " · "

    def __init__(self, fields: Sequence[Text]) -> None:
        self.fields = list(fields)

    @property
    def plain(self) -> str:
        return self.SEPARATOR.join(f.plain for f in self.fields)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        line = Text()
        for field in self.fields:
            if line.cell_len and line.cell_len + len(self.SEPARATOR) + field.cell_len > width:
                yield line
                line = Text()
            if line.cell_len:
                line.append(self.SEPARATOR)
            line.append_text(field)
        if line.cell_len:
            yield line  # a single field wider than the terminal wraps as text does


def summary_text(summary: Summary) -> Fields:
    """The footer: count, errors, cold starts, wall time, billed ms, GB-s, estimated cost."""
    fields = [Text(_plural(summary.count, "invocation"), style="bold")]
    fields.append(
        Text(_plural(summary.errors, "error"), style="red" if summary.errors else "green")
    )
    for value, word, plural, style in (
        (summary.timeouts, "timeout", "timeouts", "red"),
        (summary.dropped, "dropped", "dropped", "red"),
        (summary.missing, "missing", "missing", "yellow"),
        (summary.running, "running", "running", "cyan"),
        (summary.retries, "retry", "retries", "yellow"),
        (summary.capped, "capped", "capped", "yellow"),
        (summary.stopped, "stopped", "stopped", "yellow"),
    ):
        if value:
            fields.append(Text(f"{value} {word if value == 1 else plural}", style=style))
    fields += [
        Text(_plural(summary.cold_starts, "cold start")),
        Text(f"wall {fmt_ms(summary.wall_ms)}"),
        Text(f"billed {summary.billed_ms:,.0f} ms"),
        Text(f"{summary.gb_seconds:.4f} GB-s"),
        Text(f"≈ ${summary.estimated_cost_usd:.7f} (estimate, {summary.cost_basis})", style="dim"),
    ]
    return Fields(fields)


JOB_STATUS_STYLE = {
    "running": "cyan",
    "done": "green",
    "failed": "bold red",
    "paused": "yellow",
    "cancelled": "yellow",
    "retry": "yellow",
}
BAR_WIDTH = 20


def fmt_duration(ms: float | None) -> str:
    """Elapsed or left: 41 s, 12m05s, 2h03m."""
    if ms is None:
        return "-"
    s = round(ms / 1000)
    if s < 60:
        return f"{ms / 1000:.1f} s" if ms < 10_000 else f"{s} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def progress_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    full = int(fraction * width + 1e-9)
    return "█" * full + "░" * (width - full)


def job_line(job: JobProgress) -> Fields:
    """The job's one line of progress: status, hops, the handler's progress (a bar and the
    time left from `done`/`total`, other keys as they are), elapsed, spend."""
    head = Text()
    head.append("job ", style="bold")
    head.append(visible(job.job_id[:8]), style="bold cyan")
    head.append(" ")
    head.append(job.status, style=JOB_STATUS_STYLE.get(job.status, ""))
    fields = [head]
    if job.first_seq:
        # A resumed job runs in a new chain: these hops, elapsed and spend are this run's.
        fields.append(Text(f"{_plural(job.hops, 'hop')} (resumed at #{job.first_seq})"))
    else:
        fields.append(Text(_plural(job.hops, "hop")))
    fraction = job.fraction
    if fraction is not None and job.done is not None and job.total is not None:
        bar = Text(progress_bar(fraction), style="green" if job.status == "done" else "cyan")
        bar.append(f" {fraction:.0%} {_count(job.done)}/{_count(job.total)}", style="default")
        fields.append(bar)
    elif job.done is not None:
        fields.append(Text(f"done {_count(job.done)}"))
    others = [(k, v) for k, v in job.progress if k not in ("done", "total")]
    if others:
        shown = " ".join(f"{k}={v}" for k, v in others)
        fields.append(Text(visible(shown[:160])))
    if job.waiting is not None:
        fields.append(Text(f"hop #{job.waiting} invoked, not started", style="yellow"))
    if job.eta_ms is not None:
        fields.append(Text(f"≈ {fmt_duration(job.eta_ms)} left"))
    fields.append(Text(f"elapsed {fmt_duration(job.elapsed_ms)}"))
    fields.append(Text(f"≈ ${job.spend_usd:.7f}", style="dim"))
    for value, one, many, style in (
        (job.retries, "retry", "retries", "yellow"),
        (job.duplicates, "duplicate ignored", "duplicates ignored", "yellow"),
        (job.spilled, "checkpoint spilled", "checkpoints spilled", "dim"),
    ):
        if value:
            fields.append(Text(f"{value} {one if value == 1 else many}", style=style))
    if job.error:
        fields.append(Text(visible(job.error[:300]), style="red"))
    return Fields(fields)


def chain_title(chain: Chain) -> Text:
    title = Text()
    title.append("chain ", style="bold")
    title.append(visible(chain.chain_id), style="bold cyan")
    state = "complete" if chain.complete() else "in progress"
    title.append(f"  {state}", style="green" if state == "complete" else "yellow")
    if not chain.linked:
        title.append(
            "  (no recursectl markers in these logs: invocations in time order, "
            "parent/child links unknown)",
            style="yellow",
        )
    return title


def render_chain(
    chain: Chain,
    options: RenderOptions | None = None,
    *,
    lines: bool = False,
) -> RenderableType:
    """The chain as a rich renderable: a tree (or flat list) and a summary footer."""
    opts = options or RenderOptions(lines=lines)
    tree = _tree_for(chain, opts, chain_title(chain))
    if chain.job is not None:
        return Group(job_line(chain.job), tree, summary_text(chain.summary()))
    return Group(tree, summary_text(chain.summary()))


def chain_json(chain: Chain) -> dict[str, Any]:
    """The `--json` document: chain_id, complete, linked, invocations[...], summary (and the
    `job` object of a long job's chain)."""
    return chain.to_dict()
