"""Long jobs in the logs (docs/jobs.md): the job markers parsed, a job's hops as a sequence with
their retries and duplicates, the job's progress line, and completion by the job's status."""

from __future__ import annotations

import json
import random

import pytest

from recursectl.chain import ChainCollector, parse_message
from recursectl.chain.job import RUNNING
from recursectl.chain.markers import MAX_PROGRESS_KEYS, MAX_PROGRESS_TEXT
from recursectl.chain.records import Marker
from recursectl.protocol import MARKER
from tests.support.chain_factory import NOW_LATE, chain_of, linear_spec
from tests.support.job_factory import JobSpec, job_events

RID = "8f507cfc-4fe0-4697-b07a-ac58fc914c95"
JOB = "0b9c3a58-1111-4f00-a000-000000000001"


def marker(**fields: object) -> Marker:
    rec = parse_message(f"{MARKER} {json.dumps({'v': 1, **fields})}", 5, "s")
    assert isinstance(rec, Marker), rec
    return rec


def collect(spec: JobSpec, now_ms: int | None = NOW_LATE) -> ChainCollector:
    c = ChainCollector()
    c.add_events(job_events(spec))
    return c


# parsing ------------------------------------------------------------------------------------
def test_checkpoint_marker_is_read_with_its_progress_size_and_spill() -> None:
    rec = marker(
        ev="checkpoint", chain=RID, req=RID, job=JOB, seq=3, attempt=2, bytes=1234,
        spilled=True, progress={"done": 40, "total": 100, "phase": "scan"},
    )  # fmt: skip
    assert (rec.ev, rec.job, rec.seq, rec.attempt) == ("checkpoint", JOB, 3, 2)
    assert rec.progress == (("done", 40), ("total", 100), ("phase", "scan"))
    assert (rec.nbytes, rec.spilled) == (1234, True)


def test_job_and_duplicate_markers_are_read() -> None:
    ended = marker(ev="job", chain=RID, req=RID, job=JOB, seq=9, status="failed", error="boom")
    assert (ended.status, ended.error, ended.seq) == ("failed", "boom", 9)
    dup = marker(ev="duplicate", chain=RID, req=RID, job=JOB, seq=2, owner="other-request")
    assert dup.holder == "other-request"
    assert dup.owner is None  # `owner` of a record is who logged it, not the claim's holder


def test_hop_marker_with_job_fields_keeps_its_chain_fields() -> None:
    rec = marker(
        ev="hop", chain=RID, req=RID, parent=None, depth=0, max=25, budget=10,
        job=JOB, seq=0, attempt=1,
    )  # fmt: skip
    assert (rec.depth, rec.max, rec.budget, rec.job, rec.seq, rec.attempt) == (0, 25, 10, JOB, 0, 1)


@pytest.mark.parametrize(
    "odd",
    [{"seq": "3"}, {"seq": 1.5}, {"attempt": True}, {"seq": -1}, {"bytes": 1e999}],
)
def test_a_job_marker_with_odd_numbers_is_a_handler_line(odd: dict[str, object]) -> None:
    line = f"{MARKER} " + json.dumps(
        {"v": 1, "ev": "checkpoint", "chain": RID, "req": RID, "job": JOB, "seq": 1, **odd}
    )
    rec = parse_message(line, 5, "s")
    assert not isinstance(rec, Marker)
    assert rec is not None
    assert rec.kind == "line"


def test_unknown_status_and_odd_progress_are_dropped_not_trusted() -> None:
    rec = marker(ev="job", chain=RID, req=RID, job=JOB, seq=1, status="exploded")
    assert rec.status is None
    assert marker(ev="checkpoint", req=RID, job=JOB, progress=[1, 2]).progress == ()


def test_progress_is_bounded_and_nested_values_are_shown_as_json() -> None:
    big = {f"k{i}": i for i in range(100)}
    rec = marker(ev="checkpoint", req=RID, job=JOB, progress=big)
    assert len(rec.progress) == MAX_PROGRESS_KEYS
    rec = marker(
        ev="checkpoint", req=RID, job=JOB,
        progress={"nested": {"a": [1, 2]}, "long": "x" * 1000, "huge": 10**30},
    )  # fmt: skip
    values = dict(rec.progress)
    assert values["nested"] == '{"a":[1,2]}'
    assert values["long"] == "x" * MAX_PROGRESS_TEXT
    assert values["huge"] == 1e30


# the job in the tree ------------------------------------------------------------------------
def test_a_job_is_a_sequence_of_hops_each_with_its_checkpoints() -> None:
    chain = collect(JobSpec(hops=4, checkpoints=3, total=120)).latest(NOW_LATE)
    assert chain is not None
    hops = [inv.job for inv in chain.invocations]
    assert [h.seq if h else None for h in hops] == [0, 1, 2, 3]
    assert all(h is not None and len(h.checkpoints) == 3 for h in hops)
    # the continuation is a child: each hop under the previous one
    assert [len(inv.children) for inv in chain.invocations] == [1, 1, 1, 0]
    job = chain.job
    assert job is not None
    assert (job.status, job.hops, job.seq, job.retries, job.duplicates) == ("done", 4, 3, 0, 0)
    assert (job.done, job.total, job.checkpoints) == (120.0, 120.0, 12)
    assert chain.complete()
    assert not chain.failed


def test_a_retried_hop_and_a_duplicate_delivery_are_visible_and_do_not_fail_the_job() -> None:
    spec = JobSpec(hops=4, retry=frozenset({1}), duplicate=frozenset({2}))
    chain = collect(spec).latest(NOW_LATE)
    assert chain is not None
    seqs = sorted(
        (inv.job.seq, inv.job.attempt, inv.status, inv.job.duplicate_of is not None)
        for inv in chain.invocations
        if inv.job is not None
    )
    assert seqs == [
        (0, 1, "ok", False),
        (1, 1, "error", False),  # the first attempt crashed after its first checkpoint
        (1, 2, "ok", False),  # the retry, from the checkpoint
        (2, 1, "ok", False),
        (2, 1, "ok", True),  # the duplicate delivery: it found the claim taken
        (3, 1, "ok", False),
    ]
    job = chain.job
    assert job is not None
    assert (job.status, job.hops, job.attempts, job.retries, job.duplicates) == (
        "done", 4, 5, 1, 1,
    )  # fmt: skip
    assert chain.summary().errors == 1  # the invocations say what happened ...
    assert not chain.failed  # ... and the job says how it ended
    assert chain.to_dict()["failed"] is False


def test_a_job_whose_last_hop_failed_is_complete_only_once_a_hop_says_so() -> None:
    # The first attempt of the last hop failed and no retry has been seen yet: the tree is
    # quiet, but a retry is due (delivered by the on-failure destination, not announced).
    events = job_events(JobSpec(hops=3, retry=frozenset({2})))
    retry = next(
        json.loads(e["message"].split(" ", 1)[1])["req"]
        for e in events
        if '"ev":"hop"' in e["message"] and '"attempt":2' in e["message"]
    )
    c = ChainCollector()
    c.add_events(e for e in events if retry not in e["message"])
    chain = c.latest(NOW_LATE)
    assert chain is not None
    assert chain.job is not None
    assert chain.job.status == RUNNING
    assert not chain.complete()


@pytest.mark.parametrize("end", ["failed", "paused", "cancelled"])
def test_the_job_status_comes_from_the_last_hop_that_logged_one(end: str) -> None:
    chain = collect(JobSpec(hops=3, end=end)).latest(NOW_LATE)
    assert chain is not None
    assert chain.job is not None
    assert chain.job.status == end
    assert chain.complete()
    assert chain.failed is (end == "failed")
    if end == "failed":
        assert chain.job.error == "state could not be serialized: TypeError"


def test_a_job_without_a_final_status_is_running_with_an_estimate_of_time_left() -> None:
    spec = JobSpec(hops=10, total=1000, end=None, hop_ms=1000)
    events = job_events(spec)
    c = ChainCollector()
    now = spec.start_ms + 4_500  # mid-way through the fifth hop
    c.add_events(e for e in events if e["timestamp"] <= now)
    chain = c.latest(now)
    assert chain is not None
    assert chain.job is not None
    job = chain.job
    assert job.status == "running"
    assert not chain.complete()
    assert job.done is not None
    assert 300 <= job.done < 1000
    assert job.elapsed_ms == 4_500
    # 100 items a hop of ~1 s: the rest at that rate
    assert job.eta_ms is not None
    assert job.eta_ms == pytest.approx((1000 - job.done) * 10, rel=0.15)
    assert job.fraction == pytest.approx(job.done / 1000)


def test_order_between_hops_is_by_hop_number_not_by_their_clocks() -> None:
    # The last hop's environment clock is behind (skew): its checkpoint still counts as the
    # latest, and its `done` status still ends the job.
    spec = JobSpec(hops=3, total=90)
    events = job_events(spec)
    last_rid = None
    for e in events:
        if '"seq":2' in e["message"] and '"ev":"hop"' in e["message"]:
            last_rid = json.loads(e["message"].split(" ", 1)[1])["req"]
    assert last_rid is not None
    streams = {e["logStreamName"] for e in events if last_rid in e["message"]}
    skewed = [
        {**e, "timestamp": e["timestamp"] - 60_000} if e["logStreamName"] in streams else e
        for e in events
    ]
    chain = chain_of(skewed)
    assert chain.job is not None
    assert (chain.job.status, chain.job.done) == ("done", 90.0)


def test_job_markers_delivered_twice_and_in_any_order_change_nothing() -> None:
    events = job_events(JobSpec(hops=5, retry=frozenset({2}), duplicate=frozenset({3})))
    once = chain_of(events).to_dict()
    shuffled = events + events[::3]
    random.Random(4).shuffle(shuffled)
    assert chain_of(shuffled).to_dict() == once


def test_a_forged_checkpoint_from_another_request_is_not_trusted() -> None:
    events = job_events(JobSpec(hops=2, total=10))
    hop = next(e for e in events if '"ev":"hop"' in e["message"])
    forged = {
        **hop,
        "eventId": "f" * 56,
        "message": f"{MARKER} "
        + json.dumps({"v": 1, "ev": "checkpoint", "chain": "x", "req": "someone-else",
                      "job": "x", "seq": 0, "progress": {"done": 999, "total": 10}}),
    }  # fmt: skip
    honest = chain_of(events).job
    chain = chain_of([*events, forged])
    assert chain.job is not None
    assert honest is not None
    assert chain.job == honest


def test_without_job_markers_nothing_changes() -> None:
    chain = chain_of(linear_spec(5).events())
    assert chain.job is None
    doc = chain.to_dict()
    assert "job" not in doc
    assert all("job" not in inv for inv in doc["invocations"])
    plain = collect(JobSpec(hops=3, markers=False)).latest(NOW_LATE)
    assert plain is not None
    assert plain.job is None
    assert not plain.linked


def test_json_document_has_the_job_and_each_hops_place() -> None:
    doc = chain_of(job_events(JobSpec(hops=2, spilled=frozenset({1})))).to_dict()
    job = doc["job"]
    assert job["status"] == "done"
    assert job["progress"] == {"done": 100, "total": 100}
    assert job["spilled"] == 2
    assert job["cost_is_estimate"] is True
    assert job["spend_usd"] == pytest.approx(doc["summary"]["estimated_cost_usd"])
    last = doc["invocations"][-1]["job"]
    assert last["seq"] == 1
    assert [c["spilled"] for c in last["checkpoints"]] == [True, True]
    assert last["statuses"][0]["status"] == "done"
    json.dumps(doc)  # plain JSON


def test_a_job_hop_checkpointing_in_a_loop_stays_bounded() -> None:
    from recursectl.chain.job_state import MAX_CHECKPOINTS

    spec = JobSpec(hops=1, checkpoints=MAX_CHECKPOINTS * 2, total=MAX_CHECKPOINTS * 2)
    chain = chain_of(job_events(spec))
    hop = chain.invocations[0].job
    assert hop is not None
    assert len(hop.checkpoints) == MAX_CHECKPOINTS
    assert hop.checkpoints_dropped == MAX_CHECKPOINTS
    assert chain.job is not None
    assert chain.job.done == MAX_CHECKPOINTS * 2  # the latest kept


def test_a_hop_that_fails_every_attempt_fails_the_job_with_its_error() -> None:
    # Attempts 2 and 3 are the guard's retries (each delivery says `retry` first); the
    # delivery of the third failure says `failed` and runs nothing.
    chain = chain_of(job_events(JobSpec(hops=5, exhausted=2)))
    job = chain.job
    assert job is not None
    assert (job.status, job.hops, job.seq, job.attempts, job.retries) == ("failed", 3, 2, 5, 2)
    assert job.error == "Runtime.ExitError"
    assert chain.complete()
    assert chain.failed


def test_a_duplicate_under_the_hops_own_request_id_is_one_hop_delivered_twice() -> None:
    spec = JobSpec(hops=3, duplicate=frozenset({1}), same_id=True)
    chain = chain_of(job_events(spec))
    job = chain.job
    assert job is not None
    assert (job.status, job.hops, job.attempts, job.retries, job.duplicates) == (
        "done", 3, 3, 0, 1,
    )  # fmt: skip
    twice = chain.invocations[1]
    assert twice.attempts == 2
    assert twice.job is not None
    assert twice.job.duplicate_of == twice.request_id


def test_the_hand_over_checkpoint_of_continue_with_keeps_the_last_progress_shown() -> None:
    spec = JobSpec(hops=4, total=400, end=None, handoff=True)
    c = ChainCollector()
    now = spec.start_ms + 1_000  # the first hop has handed over; the next has not begun
    c.add_events(e for e in job_events(spec) if e["timestamp"] <= now)
    chain = c.latest(now)
    assert chain is not None
    job = chain.job
    assert job is not None
    assert job.checkpoints == 3  # two of the handler's, one of continue_with's
    assert (job.done, job.total) == (100.0, 400.0)
    assert job.eta_ms is not None


def test_a_first_hop_that_crashed_before_any_job_marker_still_counts_as_a_retry() -> None:
    # The root hop writes no job field on its hop marker (the job starts there) and died
    # before its first checkpoint: only its retry, attempt 2, names the job.
    events = job_events(JobSpec(hops=3, retry=frozenset({0})))
    root = events[0]["message"].split()[2]  # START RequestId: <id>
    kept = []
    for e in events:
        message = e["message"]
        if root in message and message.startswith(MARKER):
            record = json.loads(message.split(" ", 1)[1])
            if record["req"] != root:
                kept.append(e)
            elif record["ev"] == "hop":
                plain = {k: v for k, v in record.items() if k not in ("job", "seq", "attempt")}
                kept.append({**e, "message": f"{MARKER} {json.dumps(plain)}"})
            continue  # the root's checkpoint: never written
        kept.append(e)
    events = kept
    chain = chain_of(events)
    job = chain.job
    assert job is not None
    assert (job.status, job.hops, job.retries) == ("done", 3, 1)
