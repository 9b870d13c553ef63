"""The benchmarks at smoke sizes, so they never rot. Checks shape, never speed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VERDICTS = {"pass", "FAIL", "info"}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bench_smoke_runs_every_metric_and_writes_a_well_formed_table(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    assert re.search(r"Machine: .+, \d+ cores, CPython 3\.\d+", text)
    header = "| metric | recursectl | floor or peer | ratio | target | verdict |"
    assert header in text
    # The run's own table: from its header to the first line that is no table row (the
    # sections kept from docs/benchmarks.md after it have tables of their own).
    table = text.split(header, 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if re.match(r"\| \d+ ", line)]
    metrics = set()
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert len(cells) == 6, row
        name, value, _floor, ratio, _target, verdict = cells
        assert verdict in VERDICTS, row
        assert value, row
        if verdict != "info":  # a judged number is a number
            assert re.match(r"^[\d,.]+ ", value), row
        if ratio:
            assert re.match(r"^[\d.]+x$", ratio), row
        metrics.add(name.split()[0])
    assert metrics == {str(n) for n in range(1, 17)}
    # Metric 10 (the serverless-offline peer) needs an npm install of the peer: a full run only.
    assert "10 (peer): skipped at smoke sizes" in text
    # the printed table is the same table
    assert "metric" in proc.stdout
    assert "verdict" in proc.stdout
