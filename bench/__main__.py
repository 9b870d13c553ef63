"""`python -m bench [--smoke] [--only N ...] [--out PATH]`: run the benchmarks, print one table.

The full run writes docs/benchmarks.md (the table, the machine, how each number was made,
and the design changes section kept from the previous file); `--smoke` runs everything at
tiny sizes in seconds and writes nothing unless --out is given.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import (
    b_audit,
    b_chain,
    b_cloud,
    b_counter,
    b_guard,
    b_jobs,
    b_offline,
    b_oneway,
    b_peer,
    b_project,
    b_scan,
    b_store,
)
from bench.context import Context, context
from bench.harness import FAIL, Report, Row

Benchmark = Callable[[Context], list[Row]]

BENCHMARKS: list[tuple[str, str, Benchmark]] = [
    ("1", "hop latency", b_chain.hop_latency),
    ("2", "fan-out throughput", b_chain.fanout_throughput),
    ("3", "follow latency", b_cloud.follow_latency),
    ("4", "log pipeline", b_offline.log_pipeline),
    ("5", "render", b_offline.render_bench),
    ("6", "deploy cost", b_cloud.deploy_cost),
    ("7", "cold start", b_cloud.cold_start),
    ("8", "guard cost", b_guard.guard_cost),
    ("9", "project deploy", b_project.project_deploy),
    ("10", "peer: serverless-offline", b_peer.peer_side_by_side),
    ("11", "secret scan", b_scan.secret_scan),
    ("12", "audit", b_audit.audit_scale),
    ("13", "chain counter", b_counter.counter_cost),
    ("14", "persistence cost", b_store.persistence_cost),
    ("15", "job overhead", b_jobs.job_overhead),
    ("16", "one-way hop", b_oneway.one_way_hop),
]

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def run(smoke: bool, only: set[str] | None = None, echo: bool = True) -> Report:
    """Run the selected benchmarks; a benchmark that raises becomes a FAIL row, not a crash."""
    with context(smoke) as ctx:
        report = Report(ctx.machine)
        for key, title, bench in BENCHMARKS:
            if only and key not in only:
                continue
            started = time.perf_counter()
            try:
                report.rows += bench(ctx)
            except Exception as exc:
                report.errors.append(f"{key} {title}: {exc!r}")
                report.rows.append(Row(f"{key} {title}", float("nan"), "", "runs", FAIL))
                if echo:
                    traceback.print_exc()
            if echo:
                print(f"[{key} {title}: {time.perf_counter() - started:.1f} s]", file=sys.stderr)
        report.notes = list(ctx.notes)
    return report


def markdown(report: Report, smoke: bool, changes: str) -> str:
    m = report.machine
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); see `bench/README.md` for what each "
        "number means and how it is measured. Floors and peers are measured in the same run, "
        "side by side; times are medians over repeated runs.",
        "",
        f"Machine: {m.cpu}, {m.cores} cores, {m.python}, {m.system}."
        + (" **Smoke sizes** (not representative)." if smoke else ""),
        "",
        report.markdown_table(),
        "",
        "## How the numbers were made (this run)",
        "",
        *[f"- {note}" for note in report.notes],
        *[f"- **error**: {err}" for err in report.errors],
        "",
        changes.rstrip(),
        "",
    ]
    return "\n".join(out)


_CHANGES_HEADING = "## Design changes the benchmarks led to"


def kept_changes(path: Path) -> str:
    """The hand-written changes section of the existing file (from its heading to the end)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return _CHANGES_HEADING + "\n\n(none recorded yet)\n"
    at = text.find(_CHANGES_HEADING)
    return text[at:] if at >= 0 else _CHANGES_HEADING + "\n\n(none recorded yet)\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--only", nargs="+", metavar="N", help="metric numbers to run (1-9)")
    parser.add_argument("--out", type=Path, help="markdown output (default: docs/benchmarks.md)")
    args = parser.parse_args(argv)
    report = run(args.smoke, set(args.only) if args.only else None)
    print("\n".join(report.table_lines()))
    out = args.out or (None if args.smoke else DOC)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(markdown(report, args.smoke, kept_changes(DOC)), encoding="utf-8")
        print(f"\nwritten to {out}")
    for err in report.errors:
        print(f"error: {err}", file=sys.stderr)
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
