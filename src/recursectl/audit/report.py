"""The audit's output, pure: the JSON document, and the table (80 columns) with its fixes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich import box
from rich.table import Table

from recursectl.audit.facts import FunctionFacts
from recursectl.audit.rules import Finding, Severity
from recursectl.audit.scan import RegionScan

TABLE_WIDTH = 80


@dataclass(frozen=True)
class Audit:
    """One audit: the regions scanned, the window, the ranked findings."""

    regions: Sequence[RegionScan]
    start: datetime
    end: datetime
    findings: Sequence[Finding]

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    @property
    def functions(self) -> list[FunctionFacts]:
        return [f for r in self.regions for f in r.functions]

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def unavailable(self) -> list[dict[str, str]]:
        """Every part not read: per region (`function` null) and per function."""
        rows = [
            {"region": r.region, "function": None, "api": api, "why": why}
            for r in self.regions
            for api, why in sorted(r.unavailable.items())
        ]
        region_level = {(r.region, api) for r in self.regions for api in r.unavailable}
        rows += [
            {"region": f.region, "function": f.name, "api": api, "why": why}
            for f in self.functions
            for api, why in sorted(f.unavailable.items())
            if (f.region, api) not in region_level
        ]
        return rows  # type: ignore[return-value]

    def summary(self) -> dict[str, Any]:
        fns = self.functions
        costs = [f.cost_usd for f in fns if f.cost_usd is not None]
        return {
            "functions": len(fns),
            "self_invokers": sum(1 for f in fns if f.self_invoker),
            "guarded": sum(1 for f in fns if f.guarded),
            "recursion_allow": sum(1 for f in fns if f.recursion == "Allow"),
            "findings": {
                s.label: sum(1 for x in self.findings if x.severity is s) for s in Severity
            },
            "cost_usd": round(sum(costs), 6) if costs else None,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "window": {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "days": round(self.days, 3),
            },
            "regions": [
                {"region": r.region, "functions": len(r.functions), "unavailable": r.unavailable}
                for r in self.regions
            ],
            "summary": self.summary(),
            "findings": [{"rank": i, **f.as_json()} for i, f in enumerate(self.findings, 1)],
            "unavailable": self.unavailable(),
            "functions": [f.as_json() for f in self.functions],
        }


def _money(value: float | None) -> str:
    if value is None:
        return "?"
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else "<$0.01"


def headline(audit: Audit) -> str:
    s = audit.summary()
    regions = [r.region for r in audit.regions]
    where = ", ".join(regions) if len(regions) <= 3 else f"{len(regions)} regions"
    cost = "" if s["cost_usd"] is None else f"; est. {_money(s['cost_usd'])} in the window"
    return (
        f"{s['functions']} functions in {where} over {audit.days:g} days: "
        f"{s['self_invokers']} may invoke themselves, {s['guarded']} guarded, "
        f"{s['recursion_allow']} with loop detection off{cost}"
    )


def table(audit: Audit) -> Table:
    """The findings, ranked, in 80 columns (a cell wraps rather than widening the table)."""
    multi = len(audit.regions) > 1
    t = Table(box=box.SIMPLE_HEAD, width=TABLE_WIDTH, pad_edge=False, show_edge=False)
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column("SEV", no_wrap=True)
    t.add_column("FUNCTION", overflow="fold", ratio=3)
    t.add_column("FINDING", overflow="fold", ratio=5)
    t.add_column("COST", justify="right", no_wrap=True)
    for i, f in enumerate(audit.findings, 1):
        name = f"{f.function} ({f.region})" if multi else f.function
        t.add_row(str(i), f.severity.label, name, f"{f.title}: {f.detail}", _money(f.cost_usd))
    return t


def _ranks(numbers: list[int]) -> str:
    """[2, 3, 4, 7] -> `2-4, 7`."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def fixes(audit: Audit) -> list[str]:
    """One line per command, whole so it can be pasted, after the ranks of the findings it
    fixes: a role's policy shared by many functions is one command, printed once."""
    by_fix: dict[str, list[int]] = {}
    for i, f in enumerate(audit.findings, 1):
        by_fix.setdefault(f.fix, []).append(i)
    return [f"{_ranks(ranks):>3}  {fix}" for fix, ranks in by_fix.items()]


def reasons(audit: Audit) -> list[str]:
    """What each kind of finding present means (the first one's reason, numbers aside)."""
    seen: dict[str, str] = {}
    for f in audit.findings:
        seen.setdefault(f.kind, f"{f.title}: {f.reason}")
    return list(seen.values())


def unavailable_lines(audit: Audit) -> list[str]:
    """Parts not read, grouped by API: how many functions, a few names, AWS's reason."""
    grouped: dict[tuple[str, str | None], list[dict[str, str]]] = {}
    for row in audit.unavailable():
        grouped.setdefault((row["api"], row["function"] and row["region"]), []).append(row)
    lines = []
    for (api, _), rows in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        names = [r["function"] for r in rows if r["function"]]
        if names:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            what = f"{len(names)} function{'s' if len(names) != 1 else ''} ({shown})"
        else:
            what = f"region {rows[0]['region']}"
        lines.append(f"{api} not read for {what}: {rows[0]['why']}")
    return lines
