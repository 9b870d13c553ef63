"""Long jobs of any shape (hops, retries, duplicates, formats, arrival order): the job line
counts what happened, whatever order the events arrive in, and always renders."""

from __future__ import annotations

import io
import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from recursectl.watch.render import render_chain
from recursectl.watch.timeline import timeline_html
from tests.support.chain_factory import chain_of
from tests.support.job_factory import JobSpec, job_events


@st.composite
def job_specs(draw: st.DrawFn) -> JobSpec:
    hops = draw(st.integers(1, 12))
    seqs = st.frozensets(st.integers(0, hops - 1), max_size=3)
    return JobSpec(
        hops=hops,
        total=draw(st.integers(hops * 2, 10_000)),
        checkpoints=draw(st.integers(1, 3)),
        retry=draw(seqs),
        duplicate=draw(seqs),
        spilled=draw(seqs),
        end=draw(st.sampled_from(["done", "failed", "paused", "cancelled", None])),
        fmt=draw(st.sampled_from(["text", "json"])),
        seed=draw(st.integers(0, 1000)),
        same_id=draw(st.booleans()),
    )


@settings(max_examples=60, deadline=None)
@given(job_specs(), st.integers(0, 2**16))
def test_the_job_line_counts_what_happened_in_any_arrival_order(spec: JobSpec, seed: int) -> None:
    events = job_events(spec)
    shuffled = events + events[: len(events) // 3]  # some delivered twice
    random.Random(seed).shuffle(shuffled)
    chain = chain_of(shuffled)
    assert chain.to_dict() == chain_of(events).to_dict()
    job = chain.job
    assert job is not None
    assert job.hops == spec.hops
    assert job.seq == spec.hops - 1
    assert job.retries == len(spec.retry)
    assert job.duplicates == len(spec.duplicate)
    assert job.status == (spec.end or "running")
    assert chain.complete() is (spec.end is not None)
    assert chain.failed is (spec.end == "failed")
    per_hop = spec.total // spec.hops
    assert job.done == (per_hop // spec.checkpoints) * spec.checkpoints * spec.hops
    # a crashed attempt wrote one checkpoint before it died: it counts too
    crashed = len(spec.retry & spec.spilled)
    assert job.spilled == spec.checkpoints * len(spec.spilled) + crashed
    assert job.checkpoints == spec.checkpoints * spec.hops + len(spec.retry)
    console = Console(file=io.StringIO(), width=80, color_system=None)
    console.print(render_chain(chain))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert out.startswith(f"job {job.job_id[:8]} {job.status}")
    page = timeline_html(json.loads(json.dumps(chain.to_dict())))
    assert "</script><script>" not in page.split("<script>", 1)[0]
