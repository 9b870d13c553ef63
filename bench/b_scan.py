"""11: the secret scan of a source root (`sources.select`: the walk, the name rules and every
file's content read whole), against the floor of reading the same files in the same chunks.

The project is written here: Python-like text (with `AKIA` and `secret`/`access` words in it,
so the cheap pre-filters do not skip the costly patterns) and random bytes, half each. The
files are read once before timing, so both sides read from the page cache.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.context import Context
from bench.harness import Row, median

_LINE = b"def f(x):  # secret access: see AKIA docs\n    return x * 2\n"


def _project(root: Path, files: int, file_bytes: int) -> int:
    (root / "handler.py").write_text("def handler(event, context):\n    return event\n")
    text = _LINE * (file_bytes // len(_LINE))
    for i in range(files):
        data = text if i % 2 == 0 else os.urandom(file_bytes)
        (root / f"part{i:03}.{'py' if i % 2 == 0 else 'bin'}").write_bytes(data)
    return sum(p.stat().st_size for p in root.iterdir())


def _read_all(root: Path, chunk: int) -> int:
    total = 0
    for path in sorted(root.iterdir()):
        with open(path, "rb") as handle:
            while block := handle.read(chunk):
                total += len(block)
    return total


def _timed(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return median(times)


def secret_scan(ctx: Context) -> list[Row]:
    from recursectl.build import sources

    files, file_bytes, repeats = (4, 256 * 1024, 1) if ctx.smoke else (40, 2_500_000, 3)
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        root = Path(tmp)
        size = _project(root, files, file_bytes)
        _read_all(root, sources._CHUNK)  # warm the page cache for both sides
        scan = _timed(lambda: sources.select(root), repeats)
        floor = _timed(lambda: _read_all(root, sources._CHUNK), repeats)
    mb = size / 2**20
    ctx.notes.append(
        f"secret scan: sources.select of {files + 1} files, {mb:.0f} MB (half code-like text, "
        f"half random bytes), page cache warm; floor = reading the same files in "
        f"{sources._CHUNK // 2**20} MB chunks; median of {repeats}"
    )
    return [
        Row(f"11 secret scan of {mb:.0f} MB", scan * 1000, "ms", floor=floor * 1000),
        Row("11 secret scan throughput", mb / scan, "MB/s", floor=mb / floor),
    ]
