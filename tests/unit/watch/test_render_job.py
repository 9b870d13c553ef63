"""A long job's chain on the terminal: the job line above the tree, hop numbers, retries and
duplicates on their rows, the live frame, and the verdict (the job's status)."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from recursectl.chain import Chain, ChainCollector
from recursectl.errors import EXIT_CHAIN_FAILED, EXIT_STOPPED
from recursectl.watch import follow
from recursectl.watch.live_view import LiveView
from recursectl.watch.render import (
    RenderOptions,
    fmt_duration,
    job_line,
    progress_bar,
    render_chain,
)
from tests.support.chain_factory import NOW_LATE, chain_of, linear_spec
from tests.support.job_factory import JobSpec, job_events


def text(renderable: object, width: int = 120, height: int | None = None) -> str:
    console = Console(file=io.StringIO(), width=width, height=height or 200, color_system=None)
    console.print(renderable)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def job_head(out: str) -> str:
    """The job line (wrapped between its fields when long), up to the chain's title."""
    return " ".join(out.split("\nchain ", 1)[0].splitlines())


def running(spec: JobSpec, at_ms: int) -> Chain:
    c = ChainCollector()
    now = spec.start_ms + at_ms
    c.add_events(e for e in job_events(spec) if e["timestamp"] <= now)
    chain = c.latest(now)
    assert chain is not None
    return chain


def test_the_job_line_is_above_the_tree_with_bar_estimate_elapsed_and_spend() -> None:
    spec = JobSpec(hops=10, total=10_000, end=None, extra_progress={"cursor": "k-17"})
    chain = running(spec, 4_500)
    out = text(render_chain(chain))
    first = job_head(out)
    job = chain.job
    assert job is not None
    assert job.done is not None
    assert first.startswith(f"job {job.job_id[:8]} running · 5 hops")
    assert progress_bar(job.done / 10_000) in first
    assert f"{job.done / 10_000:.0%} {job.done:,.0f}/10,000" in first
    assert "cursor=k-17" in first
    assert f"≈ {fmt_duration(job.eta_ms)} left" in first
    assert "elapsed 4.5 s" in first
    assert f"≈ ${job.spend_usd:.7f}" in first
    assert f"\nchain {chain.chain_id}" in out


def test_hops_show_their_number_retries_duplicates_and_the_end() -> None:
    spec = JobSpec(hops=4, retry=frozenset({1}), duplicate=frozenset({2}), end="failed")
    chain = chain_of(job_events(spec))
    out = text(render_chain(chain))
    assert re.findall(r"\b[0-9a-f]{8}\s+(#\d+)", out) == ["#0", "#1", "#1", "#2", "#3", "#2"]
    assert "attempt 2 (retry from the checkpoint)" in out
    assert "duplicate delivery, ignored (hop claimed by " in out
    assert "job failed: state could not be serialized: TypeError" in out
    first = job_head(out)
    assert "failed" in first
    assert "1 retry" in first
    assert "1 duplicate ignored" in first
    assert "2 checkpoints" in out


def test_a_long_job_collapses_healthy_hops_by_number_and_keeps_the_notable_ones() -> None:
    spec = JobSpec(hops=60, total=6000, retry=frozenset({30}), duplicate=frozenset({40}))
    out = text(render_chain(chain_of(job_events(spec)), RenderOptions()))
    assert "more ok hops, #5..#24" in out
    assert "attempt 2 (retry" in out
    assert "duplicate delivery" in out
    assert len(out.splitlines()) < 45  # of 62 hops


def test_the_live_frame_keeps_the_job_line_when_the_tree_does_not_fit() -> None:
    spec = JobSpec(hops=40, total=4000, end=None, retry=frozenset({3, 9, 15, 21, 27, 33}))
    chain = running(spec, 30_000)
    out = text(LiveView(chain), width=80, height=12)
    lines = out.splitlines()
    assert len(lines) <= 11
    assert lines[0].startswith("job ")
    assert any("invocations" in ln for ln in lines[-3:])


def test_without_job_markers_the_tree_is_as_before() -> None:
    out = text(render_chain(chain_of(linear_spec(4).events())))
    assert out.startswith("chain ")
    assert "#" not in out


@pytest.mark.parametrize(
    ("end", "exit_code", "words"),
    [
        ("failed", EXIT_CHAIN_FAILED, "failed at hop 2: state could not be serialized"),
        ("paused", EXIT_STOPPED, "is paused at hop 2"),
        ("cancelled", EXIT_STOPPED, "was cancelled at hop 2"),
    ],
)
def test_the_verdict_is_the_jobs_status(end: str, exit_code: int, words: str) -> None:
    chain = chain_of(job_events(JobSpec(hops=3, end=end)))
    error = follow.failure(chain, "fn")
    assert error is not None
    assert error.exit_code == exit_code
    assert words in error.message
    assert error.hint
    assert "recursectl" in error.hint


def test_a_done_job_with_a_retried_hop_is_no_failure() -> None:
    chain = chain_of(job_events(JobSpec(hops=3, retry=frozenset({1}))))
    assert chain.summary().errors == 1
    assert follow.failure(chain, "fn") is None


def test_a_running_job_at_the_timeout_says_so() -> None:
    chain = running(JobSpec(hops=5, end=None), 2_500)
    error = follow.failure(chain, "fn")
    assert error is not None
    assert "is still running at hop 2" in error.message


def test_job_line_fields() -> None:
    assert fmt_duration(41_000) == "41 s"
    assert fmt_duration(725_000) == "12m05s"
    assert fmt_duration(7_380_000) == "2h03m"
    assert progress_bar(0.5, 10) == "█████░░░░░"
    chain = chain_of(job_events(JobSpec(hops=2, total=10, spilled=frozenset({0}))))
    assert chain.job is not None
    plain = job_line(chain.job).plain
    assert "2 checkpoints spilled" in plain
    assert "left" not in plain  # done: no estimate
    assert NOW_LATE  # the factories' settled time


def test_a_hop_delivered_twice_under_its_id_is_not_called_a_retry() -> None:
    spec = JobSpec(hops=3, duplicate=frozenset({1}), same_id=True)
    out = text(render_chain(chain_of(job_events(spec))))
    assert "delivered twice: the second delivery was ignored" in out
    assert "attempts (retried)" not in out


def test_info_last_chain_carries_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = chain_of(job_events(JobSpec(hops=2)))
    monkeypatch.setattr(follow, "read", lambda *a, **k: (chain, True))
    doc = follow.last_chain_summary(None, "/aws/lambda/x")  # type: ignore[arg-type]
    assert doc is not None
    assert doc["job"]["status"] == "done"
    plain = chain_of(linear_spec(2).events())
    monkeypatch.setattr(follow, "read", lambda *a, **k: (plain, True))
    doc = follow.last_chain_summary(None, "/aws/lambda/x")  # type: ignore[arg-type]
    assert doc is not None
    assert "job" not in doc


def test_hostile_job_text_is_shown_not_interpreted() -> None:
    evil = "\x1b]52;c;cHduZWQ=\x07\x1b[2J"
    spec = JobSpec(hops=2, end="failed", extra_progress={"note": evil, evil: 1})
    events = job_events(spec)
    for e in events:  # the failing hop's error, as a handler could word it
        e["message"] = e["message"].replace(
            "state could not be serialized: TypeError", "boom \\u001b[31m"
        )
    chain = chain_of(events)
    out = text(render_chain(chain))
    assert "\x1b" not in out
    assert "\\x1b]52;c;cHduZWQ=\\x07" in out
    error = follow.failure(chain, "fn")
    assert error is not None
    assert "\x1b" not in error.message


def test_a_resumed_jobs_run_says_where_it_resumed() -> None:
    chain = chain_of(job_events(JobSpec(hops=3, first_seq=5, total=800)))
    job = chain.job
    assert job is not None
    assert (job.first_seq, job.seq, job.hops) == (5, 7, 3)
    assert job.done == 800  # the handler's own count: absolute, not this run's
    head = job_head(text(render_chain(chain)))
    assert "3 hops (resumed at #5)" in head
    assert "100% 800/800" in head
    assert chain.to_dict()["job"]["first_seq"] == 5


def test_a_job_whose_next_hop_never_started_is_waiting_and_says_why() -> None:
    # `recursectl stop` (reserved concurrency 0): hop 2 was invoked, its event waits.
    spec = JobSpec(hops=4, total=400, end=None)
    events = job_events(spec)
    cut = next(e["timestamp"] for e in events if '"ev":"hop"' in e["message"]
               and '"seq":2' in e["message"])  # fmt: skip
    c = ChainCollector()
    c.add_events(e for e in events if e["timestamp"] < cut)
    early = c.latest(cut + 1_000)  # within the grace time: the next hop is on its way
    assert early is not None
    assert early.job is not None
    assert early.job.waiting is None
    assert not early.complete()
    chain = c.latest(cut + 60_000)
    assert chain is not None
    job = chain.job
    assert job is not None
    assert (job.status, job.waiting, job.eta_ms) == ("running", 2, None)
    assert chain.complete()  # as far as the logs go: follow ends, and says why
    assert "hop #2 invoked, not started" in job_head(text(render_chain(chain)))
    error = follow.failure(chain, "fn")
    assert error is not None
    assert "is waiting: hop 2 was invoked and has not started" in error.message
    assert error.hint is not None
    assert "recursectl resume --name fn" in error.hint


@pytest.mark.parametrize("width", [40, 60, 80])
def test_the_job_line_wraps_between_fields_at_any_width(width: int) -> None:
    spec = JobSpec(hops=6, total=123_456, end=None, retry=frozenset({2}),
                   duplicate=frozenset({3}), extra_progress={"table": "orders"})  # fmt: skip
    chain = running(spec, 5_500)
    out = text(render_chain(chain), width=width)
    lines = out.split("\nchain ", 1)[0].splitlines()
    assert all(len(line) <= width for line in lines)
    assert lines[0].startswith("job ")
    job = chain.job
    assert job is not None
    assert job.fraction is not None
    bar = f"{progress_bar(job.fraction)} {job.fraction:.0%}"
    assert any(bar in line for line in lines)  # the bar and its numbers, never split
