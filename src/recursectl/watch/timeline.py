"""The timeline page: a chain's `--json` document -> one self-contained HTML page. Pure.

The page is a waterfall (one bar per invocation, its cold-start init as a separate segment,
parent -> child links; a long job's hops carry their checkpoints as ticks, and the job's status
and progress head the page) drawn by an inline script from two JSON blocks: the document
itself, verbatim, and the row plan computed here (which rows show, and which healthy runs
collapse into an expandable row, following the terminal tree's rules). The document is hostile
input (a handler writes its log lines, and can forge markers): it reaches the page only as JSON
inside `<script type="application/json">` with `<`, `>` and `&` escaped, and the script builds
the DOM with textContent. A Content-Security-Policy allows exactly the page's own style and
script (by hash) and no loads at all, so the file works offline and cannot call out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from statistics import median
from typing import Any

from recursectl import pricing

DEFAULT_HEAD = 5  # healthy hops always shown at the start of a run (as in the terminal)
DEFAULT_TAIL = 5  # ... and at its end
DEFAULT_MAX_ROWS = 200  # above this, healthy subtrees collapse to one row each

# One plan item: [invocation index, level] for a row, or a group dict
# {"label", "n" (invocations inside), "l" (level), "s"/"e" (time span), "rows": [items]}.
PlanItem = Any
# A walk task: (invocation index, the list its rows go to, level, or a group to place there).
_Task = tuple[int, list[PlanItem], int, "dict[str, Any] | None"]


@dataclass(frozen=True)
class PlanOptions:
    head: int = DEFAULT_HEAD
    tail: int = DEFAULT_TAIL
    max_rows: int = DEFAULT_MAX_ROWS
    collapse: bool = True


def timeline_html(doc: Mapping[str, Any], options: PlanOptions | None = None) -> str:
    """The page for one chain document (the dict `recursectl logs --json` prints)."""
    invs = _invocations(doc)
    plan = row_plan(invs, linked=doc.get("linked") is not False, options=options)
    summary = doc.get("summary")
    basis = summary.get("cost_basis") if isinstance(summary, Mapping) else None
    arch = "arm64" if basis == pricing.label("arm64") else None
    config = {  # per-invocation costs at the price the summary's estimate used
        "cost_basis": pricing.label(arch),
        "price_gb_s": pricing.gb_second_price(arch),
        "price_request": pricing.MILLION_REQUESTS_USD / 1_000_000,
    }
    css = _asset("timeline.css")
    js = _asset("timeline.js")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"style-src {_sha256(css)}",
            f"script-src {_sha256(js)}",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    return _PAGE.format(
        csp=csp,
        css=css,
        js=js,
        data=embed_json(dict(doc)),
        plan=embed_json(plan),
        config=embed_json(config),
    )


def embed_json(value: Any) -> str:
    """JSON that is safe inside a <script> element: no `</script>`, no `<!--`, ASCII only.

    `\\u003c` and friends are the same string to any JSON parser, so the block round-trips.
    """
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except ValueError:  # NaN or infinity: not JSON, and JSON.parse would refuse the page
        text = json.dumps(_finite(value), separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(value: Any) -> Any:
    """The value with NaN and infinities replaced by null (recursively)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def row_plan(
    invocations: Sequence[Mapping[str, Any]],
    *,
    linked: bool = True,
    options: PlanOptions | None = None,
) -> list[PlanItem]:
    """The rows of the waterfall, in tree pre-order, with healthy runs collapsed into groups.

    Every invocation appears exactly once when every group is expanded, also for documents
    whose parent links are broken or cyclic (forged markers): unreached ones become roots.
    """
    opts = options or PlanOptions()
    if not linked:
        return _run_items(list(range(len(invocations))), invocations, 0, opts)
    return _Planner(invocations, opts).plan()


def flatten(plan: Sequence[PlanItem]) -> list[int]:
    """The invocation indexes of a plan with every group expanded, in row order."""
    out: list[int] = []
    stack: list[Any] = [iter(plan)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
        elif isinstance(item, list):
            out.append(item[0])
        else:
            stack.append(iter(item["rows"]))
    return out


def _invocations(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    invs = doc.get("invocations")
    if not isinstance(invs, list):
        return []
    return [inv if isinstance(inv, Mapping) else {} for inv in invs]


def _healthy(inv: Mapping[str, Any]) -> bool:
    """Nothing to look at: ok, one attempt, no cap, no stop, no failed child invoke (and, for
    a job's hop, no retry, no duplicate delivery, no job status)."""
    attempts = inv.get("attempts")
    return (
        inv.get("status") == "ok"
        and not inv.get("child_failed")
        and inv.get("capped") is None
        and not inv.get("stopped")
        and not (isinstance(attempts, int) and attempts > 1)
        and not _job_notable(inv.get("job"))
    )


def _job_notable(job: Any) -> bool:
    """A job hop that always shows (as in the terminal's tree)."""
    if not isinstance(job, Mapping):
        return False
    attempt = job.get("attempt")
    return bool(
        job.get("duplicate_of")
        or (isinstance(attempt, int) and not isinstance(attempt, bool) and attempt > 1)
        or job.get("statuses")
    )


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _span(indexes: Sequence[int], invs: Sequence[Mapping[str, Any]]) -> tuple[Any, Any]:
    starts = [s for i in indexes if (s := _num(invs[i].get("start"))) is not None]
    ends = [e for i in indexes if (e := _num(invs[i].get("end"))) is not None]
    return (min(starts) if starts else None, max(ends) if ends else None)


def _group(
    label: str, level: int, members: Sequence[int], invs: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    start, end = _span(members, invs)
    return {"label": label, "n": len(members), "l": level, "s": start, "e": end, "rows": []}


def _fmt_ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def _seq(inv: Mapping[str, Any]) -> int | None:
    job = inv.get("job")
    seq = job.get("seq") if isinstance(job, Mapping) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def _hops_label(run: Sequence[int], invs: Sequence[Mapping[str, Any]]) -> str:
    parts = [f"{len(run)} more ok hops"]
    depths = [d for i in run if isinstance(d := invs[i].get("depth"), int)]
    seqs = [q for i in run if (q := _seq(invs[i])) is not None]
    if seqs:
        parts.append(f"#{min(seqs)}..#{max(seqs)}")  # a job's hops: numbers, not depths
    elif depths:
        parts.append(f"depth {min(depths)}..{max(depths)}")
    durations = [d for i in run if (d := _num(invs[i].get("duration_ms"))) is not None]
    if durations:
        parts.append(f"median {_fmt_ms(median(durations))}")
    return ", ".join(parts)


def _run_items(
    run: Sequence[int], invs: Sequence[Mapping[str, Any]], level: int, opts: PlanOptions
) -> list[PlanItem]:
    """A flat run of hops: the first/last few and every notable one show, the rest collapse."""
    n = len(run)
    if not opts.collapse or n <= opts.head + opts.tail + 1:
        return [[i, level] for i in run]
    out: list[PlanItem] = []
    k = 0
    while k < n:
        if k < opts.head or k >= n - opts.tail or not _healthy(invs[run[k]]):
            out.append([run[k], level])
            k += 1
            continue
        j = k
        while j < n - opts.tail and _healthy(invs[run[j]]):
            j += 1
        if j - k == 1:
            out.append([run[k], level])
        else:
            group = _group(_hops_label(run[k:j], invs), level, run[k:j], invs)
            group["rows"] = [[i, level] for i in run[k:j]]
            out.append(group)
        k = j
    return out


class _Planner:
    """The linked plan: a tree walk with an explicit stack (a 10,000-deep chain is fine)."""

    def __init__(self, invs: Sequence[Mapping[str, Any]], opts: PlanOptions) -> None:
        self.invs = invs
        self.opts = opts
        self.kids: list[list[int]] = [[] for _ in invs]
        self.roots: list[int] = []
        self._link()
        self.size = [1] * len(invs)
        self.healthy = [_healthy(inv) for inv in invs]
        for i in reversed(self._preorder()):
            for c in self.kids[i]:
                self.size[i] += self.size[c]
                self.healthy[i] = self.healthy[i] and self.healthy[c]

    def _link(self) -> None:
        """Each invocation under the first parent that names it; unreachable ones are roots."""
        index: dict[str, int] = {}
        for i, inv in enumerate(self.invs):
            rid = inv.get("request_id")
            if isinstance(rid, str):
                index.setdefault(rid, i)
        parent: list[int | None] = [None] * len(self.invs)  # None: a root, or not placed yet
        placed = [False] * len(self.invs)
        for i, inv in enumerate(self.invs):
            pid = inv.get("parent_id")
            if not isinstance(pid, str) or pid not in index:
                self.roots.append(i)
                placed[i] = True
        for i, inv in enumerate(self.invs):
            children = inv.get("children")
            for cid in children if isinstance(children, list) else ():
                c = index.get(cid) if isinstance(cid, str) else None
                if c is not None and not placed[c]:
                    placed[c] = True
                    parent[c] = i
                    self.kids[i].append(c)
        for i in range(len(self.invs)):  # children their parent did not announce
            if not placed[i]:
                p = index[self.invs[i]["parent_id"]]
                parent[i] = p
                self.kids[p].append(i)
        # Forged links can form a cycle that no root reaches: cut it at its first member.
        reached = set(self._preorder())
        for i in range(len(self.invs)):
            cut = parent[i]
            if i not in reached and cut is not None:
                self.kids[cut].remove(i)
                self.roots.append(i)
                reached.add(i)
                reached.update(self._below(i))

    def _preorder(self) -> list[int]:
        out: list[int] = []
        seen: set[int] = set()
        stack = list(reversed(self.roots))
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            out.append(i)
            stack.extend(reversed(self.kids[i]))
        return out

    def plan(self) -> list[PlanItem]:
        top: list[PlanItem] = []
        big = self.opts.collapse and len(self.invs) > self.opts.max_rows
        # The children of a folded subtree do not fold again (each would be a group holding
        # one group: n levels deep, and n**2 work, for a linear chain under a fan-out).
        unfolded = set(self.roots)
        stack: list[_Task] = [(r, top, 0, None) for r in reversed(self.roots)]
        while stack:
            i, out, level, pending = stack.pop()
            if pending is not None:
                out.append(pending)
                continue
            if big and self.healthy[i] and self.size[i] > 1 and i not in unfolded:
                unfolded.update(self.kids[i])
                out.append([i, level])
                label = f"{self.size[i] - 1} ok below, collapsed"
                group = _group(label, level + 1, self._below(i), self.invs)
                out.append(group)
                stack.extend((c, group["rows"], level + 1, None) for c in reversed(self.kids[i]))
                continue
            run = [i]
            while len(self.kids[run[-1]]) == 1:
                run.append(self.kids[run[-1]][0])
            out.extend(_run_items(run, self.invs, level, self.opts))
            stack.extend(reversed(self._siblings(self.kids[run[-1]], out, level + 1)))
        return top

    def _below(self, i: int) -> list[int]:
        out: list[int] = []
        stack = list(self.kids[i])
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(self.kids[c])
        return out

    def _siblings(self, children: list[int], out: list[PlanItem], level: int) -> list[_Task]:
        """Tasks for a fan-out's children: healthy stretches in the middle share one group."""
        opts = self.opts
        n = len(children)
        if not opts.collapse or n <= opts.head + opts.tail + 1:
            return [(c, out, level, None) for c in children]
        tasks: list[_Task] = []
        k = 0
        while k < n:
            if k < opts.head or k >= n - opts.tail or not self.healthy[children[k]]:
                tasks.append((children[k], out, level, None))
                k += 1
                continue
            j = k
            while j < n - opts.tail and self.healthy[children[j]]:
                j += 1
            if j - k == 1:
                tasks.append((children[k], out, level, None))
            else:
                members = [m for c in children[k:j] for m in (c, *self._below(c))]
                label = f"{j - k} more ok subtrees ({len(members)} invocations)"
                group = _group(label, level, members, self.invs)
                # The group takes its place in `out` when the walk gets there (after the
                # previous sibling's subtree); its own rows fill in from its members.
                tasks.append((-1, out, level, group))
                tasks.extend((c, group["rows"], level, None) for c in children[k:j])
            k = j
        return tasks


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _asset(name: str) -> str:
    return (resources.files("recursectl") / "assets" / name).read_text(encoding="utf-8")


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>recursectl timeline</title>
<style>{css}</style>
</head>
<body>
<header id="top">
  <h1><span id="title">chain</span> <span id="state"></span></h1>
  <div id="job" hidden></div>
  <div id="summary"></div>
  <div id="toolbar">
    <span id="legend"></span>
    <span class="tools">
      <input id="find" type="search" placeholder="request id..." aria-label="find a request id">
      <button id="zoom-out" type="button" title="zoom out (-)">&minus;</button>
      <button id="zoom-fit" type="button" title="fit (0)">fit</button>
      <button id="zoom-in" type="button" title="zoom in (+)">+</button>
      <button id="expand-all" type="button">expand all</button>
      <button id="collapse-all" type="button">collapse all</button>
    </span>
  </div>
</header>
<main id="view"><div id="content">
  <div id="axis"></div><svg id="links"></svg><div id="rows"></div>
</div></main>
<div id="tip" hidden></div>
<aside id="details" hidden></aside>
<script type="application/json" id="chain-data">{data}</script>
<script type="application/json" id="row-plan">{plan}</script>
<script type="application/json" id="page-config">{config}</script>
<script>{js}</script>
</body>
</html>
"""
