"""The pure side of the job commands: records read in either shape, the resume's event, the
progress and checkpoint summaries, invoke's bounds."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from recursectl import protocol
from recursectl.aws.jobs import JobRecord
from recursectl.aws.view import FunctionView
from recursectl.deploy import jobops
from recursectl.errors import UsageError
from recursectl.invoke import bounds_line, job_bounds, set_job_bounds

ITEM = {
    "chain": "job#abc",
    "status": "paused",
    "function": "fn",
    "seq": Decimal(7),
    "attempt": Decimal(2),
    "hops": Decimal(9),
    "checkpoint": {"seq": Decimal(7), "state": {"next": Decimal(700), "rate": Decimal("0.5")}},
    "progress": {"done": Decimal(700), "total": Decimal(1000)},
    "started_ms": Decimal(1_000),
    "updated_ms": Decimal(2_000),
    "bounds": {"max_hops": Decimal(1000), "max_seconds": Decimal(21600)},
    "chains": ["c1", "c2"],
}


def test_a_record_of_dynamodb_maps_is_read_with_plain_numbers() -> None:
    r = JobRecord.from_item(ITEM)
    assert (r.id, r.status, r.seq, r.attempt, r.hops) == ("abc", "paused", 7, 2, 9)
    assert r.checkpoint == {"seq": 7, "state": {"next": 700, "rate": 0.5}}
    assert isinstance(r.checkpoint["state"]["rate"], float)
    assert r.chains == ["c1", "c2"]


def test_a_record_of_json_text_is_read_the_same() -> None:
    as_text = {
        k: json.dumps(JobRecord.from_item(ITEM).raw[k])
        if k in ("checkpoint", "progress", "bounds")
        else v
        for k, v in ITEM.items()
    }
    assert JobRecord.from_item(as_text).checkpoint == JobRecord.from_item(ITEM).checkpoint
    assert JobRecord.from_item(as_text).bounds == {"max_hops": 1000, "max_seconds": 21600}
    assert JobRecord.from_item({"chain": "job#x", "error": "plain text"}).error == "plain text"


def test_the_resume_event_carries_the_inline_state_or_the_ref_and_the_root_input() -> None:
    record = JobRecord.from_item({**ITEM, "input": {"source": "x"}})
    event = jobops.resume_event(record, 8, 1)
    assert event == {
        "source": "x",
        protocol.CONTEXT_KEY: {
            "job": {
                "id": "abc",
                "seq": 8,
                "attempt": 1,
                "bounds": {"max_hops": 1000, "max_seconds": 21600},
                "state": {"next": 700, "rate": 0.5},
            }
        },
    }
    ref = {"bucket": "b", "key": "k", "sha256": "s", "bytes": 5}
    spilled = JobRecord.from_item({**ITEM, "checkpoint": {"seq": 7, "ref": ref}})
    job = jobops.resume_event(spilled, 7, 3)[protocol.CONTEXT_KEY]["job"]
    assert job["ref"] == ref
    assert "state" not in job
    bare = JobRecord.from_item({"chain": "job#n", "status": "failed"})
    assert jobops.resume_event(bare, 0, 2) == {
        protocol.CONTEXT_KEY: {"job": {"id": "n", "seq": 0, "attempt": 2}}
    }


def test_progress_and_checkpoint_summaries() -> None:
    assert jobops.progress_text({"done": 2500, "total": 10000}) == "2,500/10,000 (25%)"
    assert jobops.progress_text({"files": 3}) == '{"files":3}'
    assert jobops.progress_text(None) == "-"
    assert jobops.progress_text({"done": True, "total": 0}) == '{"done":true,"total":0}'
    summary = jobops.checkpoint_summary(JobRecord.from_item(ITEM))
    assert summary == {"seq": 7, "where": "inline", "bytes": 23, "keys": ["next", "rate"]}
    assert jobops.iso(1_765_000_000_000) == "2025-12-06T05:46:40+00:00"


def _fn(bounds: str | None) -> FunctionView:
    env = {protocol.JOB_BOUNDS_ENV: bounds} if bounds is not None else {}
    return FunctionView(
        name="fn", arn="arn", role="r", runtime="python3.13", lambda_handler="h",
        memory_mb=128, timeout=3, env=env, code_sha256="", code_size=0, log_group="/g",
    )  # fmt: skip


def test_invoke_bounds_are_the_declared_ones_narrowed_never_widened() -> None:
    fn = _fn('{"max_hops":100,"max_seconds":3600}')
    assert job_bounds(fn) == ({"max_hops": 100, "max_seconds": 3600}, False)
    narrowed = job_bounds(fn, max_hops=10, max_cost=0.25)
    assert narrowed == ({"max_hops": 10, "max_seconds": 3600, "max_cost": 0.25}, True)
    assert job_bounds(fn, max_hops=100) == ({"max_hops": 100, "max_seconds": 3600}, False)
    with pytest.raises(UsageError, match="--max-hops 101 is above fn's declared max_hops of 100"):
        job_bounds(fn, max_hops=101)
    capped = _fn('{"max_hops":100,"max_seconds":3600,"max_cost":1.0}')
    with pytest.raises(UsageError, match="--max-cost 2 is above"):
        job_bounds(capped, max_cost=2.0)
    assert job_bounds(_fn(None)) == (None, False)
    assert job_bounds(_fn(None), max_cost=1.0) == (None, False)  # a chain's cost cap: allowed
    with pytest.raises(UsageError, match="--max-seconds bound a job; fn is not a job function"):
        job_bounds(_fn(None), max_seconds=5)


def test_the_root_context_and_the_bounds_line() -> None:
    event: dict[str, object] = {protocol.CONTEXT_KEY: {"max_cost": 0.5}}
    set_job_bounds(event, {"max_hops": 5, "max_seconds": 60})
    assert event[protocol.CONTEXT_KEY] == {
        "max_cost": 0.5,
        "job": {"bounds": {"max_hops": 5, "max_seconds": 60}},
    }
    line = bounds_line({"max_hops": 1000, "max_seconds": 21600}, False)
    assert line == "job bounds: 1,000 hops, 6 h, no cost bound (declared in [job])"
    line = bounds_line({"max_hops": 5, "max_seconds": 90, "max_cost": 0.1}, True)
    assert line == "job bounds: 5 hops, 90 s, $0.1 (narrowed for this run)"
