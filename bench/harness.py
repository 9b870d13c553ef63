"""The table every benchmark reports into: rows, statistics, machine facts, markdown."""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

PASS, FAIL, INFO = "pass", "FAIL", "info"


@dataclass(frozen=True)
class Row:
    """One line of the table.

    `value` is recursectl's number, `floor` the floor or peer measured in the same run, and
    `ratio` value/floor unless given. `verdict` is pass / FAIL against `target`, or info
    when there is no target (the number is reported, not judged).
    """

    metric: str
    value: float
    unit: str
    target: str = ""
    verdict: str = INFO
    floor: float | None = None
    ratio: float | None = None
    note: str = ""

    def cells(self) -> list[str]:
        ratio = self.ratio
        if ratio is None and self.floor:
            ratio = self.value / self.floor
        return [
            self.metric,
            fmt(self.value, self.unit),
            fmt(self.floor, self.unit) if self.floor is not None else "",
            f"{ratio:.2f}x" if ratio is not None else "",
            self.target,
            self.verdict,
        ]


HEADERS = ["metric", "recursectl", "floor or peer", "ratio", "target", "verdict"]


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "n/a"
    if float(value).is_integer() and abs(value) < 1000:
        text = f"{value:.0f}"
    elif abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 200 hops is the 190th smallest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


@dataclass
class Machine:
    cpu: str
    cores: int
    python: str
    system: str

    @classmethod
    def detect(cls) -> Machine:
        cpu = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as info:
                for line in info:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cores = os.cpu_count() or 1
        return cls(
            cpu=cpu,
            cores=cores,
            python=f"{platform.python_implementation()} {sys.version.split()[0]}",
            system=f"{platform.system()} {platform.release()}",
        )


@dataclass
class Report:
    machine: Machine
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one line per benchmark: sizes, caveats
    errors: list[str] = field(default_factory=list)  # a benchmark that could not run

    def table_lines(self) -> list[str]:
        """The table as aligned plain text (what the terminal shows)."""
        cells = [HEADERS] + [row.cells() for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(HEADERS))]
        lines = []
        for n, r in enumerate(cells):
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return lines

    def markdown_table(self) -> str:
        out = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
        for row in self.rows:
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in row.cells()) + " |")
        return "\n".join(out)

    @property
    def failed(self) -> list[Row]:
        return [row for row in self.rows if row.verdict == FAIL]
