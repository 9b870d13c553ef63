"""The Node guard (templates/node/recursectl_chain.guard.cjs) repeats the protocol's values and
its budget sharing, checked by running the guard's own source under `node`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from recursectl import protocol

NODE_GUARD = (
    Path(__file__).resolve().parents[2] / "templates" / "node" / "recursectl_chain.guard.cjs"
)
NODE_SHARED = [
    "VERSION", "MARKER", "CONTEXT_KEY", "SELF_ARN_ENV", "MAX_CALLS_ENV", "MAX_INVOCATIONS_ENV",
    "GENERATION_ENV", "HANDLER_ENV", "DEFAULT_MAX_CALLS", "DEFAULT_MAX_INVOCATIONS",
    "COUNTER_TABLE_ENV", "EV_HOP", "EV_CHILD", "EV_CAPPED", "EV_STOPPED", "EV_CHILD_FAILED",
    "EV_CHECKPOINT", "EV_JOB", "EV_DUPLICATE", "JOB_KEY", "JOB_BUCKET_ENV", "JOB_BOUNDS_ENV",
    "JOB_MARGIN_ENV", "DEFAULT_JOB_MAX_HOPS", "DEFAULT_JOB_MAX_SECONDS", "JOB_RECORD_PREFIX",
    "JOB_INLINE_PAYLOAD", "JOB_INLINE_CHECKPOINT", "JOB_MAX_ATTEMPTS", "JOB_STATE_PREFIX",
    "JOB_STATE_TTL_DAYS",
]  # fmt: skip
# The guard's source, compiled as a module with its constants and childShare exported for the
# test; then every case read from stdin is answered (one JSON array of arguments per line).
_NODE_PROBE = """
const fs = require('node:fs'); const Module = require('node:module');
const file = process.argv[1];
const names = JSON.parse(process.argv[2]);
const m = new Module(file); m.filename = file; m.paths = Module._nodeModulePaths(file);
m._compile(fs.readFileSync(file, 'utf8') +
  `\\nexports.__probe = { ${names.join(',')}, childShare };`, file);
const probe = m.exports.__probe;
const values = Object.fromEntries(names.map((n) => [n, probe[n]]));
const cases = JSON.parse(fs.readFileSync(0, 'utf8'));
const shares = cases.map(([p, l, s, c, d]) => probe.childShare(p, l, s, c, d));
console.log(JSON.stringify({ values, shares }));
"""


@pytest.fixture(scope="module")
def node_cases() -> tuple[list[tuple[int, int, int | None, int, int]], dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH")
    cases = [
        (pool, left, split, max_calls, depth)
        for pool in (-1, 0, 1, 2, 3, 7, 10, 99, 999)
        for left in (-1, 0, 1, 5, 999)
        for split in (None, 0, 1, 2, 3, 4, 7)
        for max_calls in (0, 1, 5, 25)
        for depth in (0, 1, 5, 26)
    ]
    done = subprocess.run(
        [node, "-e", _NODE_PROBE, str(NODE_GUARD), json.dumps(NODE_SHARED)],
        input=json.dumps(cases), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return cases, json.loads(done.stdout)


@pytest.mark.parametrize("name", NODE_SHARED)
def test_the_node_guard_repeats_the_protocols_values(
    node_cases: tuple[list[Any], dict[str, Any]], name: str
) -> None:
    assert node_cases[1]["values"][name] == getattr(protocol, name)


def test_the_node_guards_child_share_is_the_protocols(
    node_cases: tuple[list[tuple[int, int, int | None, int, int]], dict[str, Any]],
) -> None:
    cases, answer = node_cases
    expected = [protocol.child_share(*case) for case in cases]
    assert answer["shares"] == expected


def test_the_node_guard_writes_only_protocol_events(
    node_cases: tuple[list[Any], dict[str, Any]],
) -> None:
    # Every marker the guard writes names its event by one of these constants, never a literal.
    values = node_cases[1]["values"]
    written = {values[name] for name in NODE_SHARED if name.startswith("EV_")}
    assert written == protocol.EVENTS - {protocol.EV_DROPPED}  # `dropped`: the local cloud's
    source = NODE_GUARD.read_text(encoding="utf-8")
    assert re.findall(r"\bev: '", source) == []
