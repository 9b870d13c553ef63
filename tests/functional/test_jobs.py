"""Long jobs (docs/jobs.md) on the local cloud, in Python and Node: real workers behind the
helpers' entry points, real boto3 clients, the job's table and bucket in moto. Each handler
is a user's job handler (the docs' shape): it records every item it processes, and every hop
it starts, in files under /dev/shm the test reads (a worker's /tmp is its own)."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from recursectl import protocol
from tests.support.jobs import JobFunction, deploy_job_function, job_policy
from tests.support.localcloud import TOKENS, chain_records, wait_for_events, wait_updated

DEADLINE_S = 180.0  # a bound, not a speed check: the machine is shared and loaded

# A batch job as the docs write one; `pause` seconds of "work" per batch, `wait_for` a file
# that must exist before the first hop hands its state on (the test's moment to act), `blob`
# bytes of state carried from hop to hop (spilled above 256 KB).
PY_JOB = r"""
import hashlib, json, os, time
import recursectl_chain

OUT = os.environ["RECORD_DIR"]

def note(name, doc):
    with open(os.path.join(OUT, name), "a") as f:
        f.write(json.dumps(doc) + "\n")

def handler(event, context):
    job = recursectl_chain.job(event, context)
    total, batch = event["total"], event["batch"]
    state = job.state
    if state is None:
        state = {"next": 0}
        if event.get("blob"):
            state["blob"] = hashlib.sha256(b"seed").hexdigest() * (event["blob"] // 64)
    blob = state.get("blob")
    note("hops.log", {"seq": job.seq, "attempt": job.attempt, "next": state["next"],
                      "blob": hashlib.sha256(blob.encode()).hexdigest() if blob else None})
    while state["next"] < total and job.should_continue():
        lo = state["next"]
        hi = min(total, lo + batch)
        time.sleep(event["pause"])
        note("items.log", [job.seq, job.attempt, lo, hi])
        state["next"] = hi
        job.checkpoint(state, progress={"done": hi, "total": total})
        if event.get("one_batch_per_hop"):
            break
    if state["next"] >= total:
        return job.done({"processed": total})
    go = event.get("wait_for")
    while go and not os.path.exists(os.path.join(OUT, go)) and job.remaining_ms() > 500:
        time.sleep(0.05)
    return job.continue_with(state)
"""

NODE_JOB = r"""
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { job: startJob } = require('./recursectl_chain.cjs');

const OUT = process.env.RECORD_DIR;
const note = (name, doc) => fs.appendFileSync(path.join(OUT, name), JSON.stringify(doc) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha = (text) => crypto.createHash('sha256').update(text).digest('hex');

exports.handler = async (event, context) => {
  const job = await startJob(event, context);
  const { total, batch } = event;
  let state = job.state;
  if (state === null || state === undefined) {
    state = { next: 0 };
    if (event.blob) state.blob = sha('seed').repeat(Math.floor(event.blob / 64));
  }
  note('hops.log', { seq: job.seq, attempt: job.attempt, next: state.next,
                     blob: state.blob ? sha(state.blob) : null });
  while (state.next < total && job.shouldContinue()) {
    const lo = state.next;
    const hi = Math.min(total, lo + batch);
    await sleep(event.pause * 1000);
    note('items.log', [job.seq, job.attempt, lo, hi]);
    state.next = hi;
    await job.checkpoint(state, { progress: { done: hi, total } });
    if (event.one_batch_per_hop) break;
  }
  if (state.next >= total) return job.done({ processed: total });
  const go = event.wait_for && path.join(OUT, event.wait_for);
  while (go && !fs.existsSync(go) && job.remainingMs() > 500) {
    await sleep(50);
  }
  return job.continueWith(state);
};
"""

RUNTIMES = {"python": ("python3.11", PY_JOB), "node": ("nodejs20.x", NODE_JOB)}


@pytest.fixture(params=sorted(RUNTIMES))
def runtime(request: pytest.FixtureRequest) -> str:
    if request.param == "node":
        request.getfixturevalue("node_ready")
    return str(request.param)


def _deploy(endpoint: str, runtime: str, name: str, record_dir: Path) -> JobFunction:
    lambda_runtime, source = RUNTIMES[runtime]
    return deploy_job_function(
        endpoint, name, source, runtime=lambda_runtime, env={"RECORD_DIR": str(record_dir)}
    )


def _start(fn: JobFunction, event: dict[str, Any]) -> str:
    """The root Event invoke; its request id is the job's id."""
    got = fn.lam.invoke(FunctionName=fn.name, InvocationType="Event", Payload=json.dumps(event))
    return str(got["ResponseMetadata"]["RequestId"])


def _status(fn: JobFunction, job_id: str) -> str | None:
    return (fn.record(job_id).get("status") or {}).get("S")


def _wait(what: str, check: Callable[[], bool], timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.2)


def _wait_status(fn: JobFunction, job_id: str, *statuses: str) -> str:
    _wait(f"job {job_id} {statuses}", lambda: _status(fn, job_id) in statuses)
    return str(_status(fn, job_id))


def _lines(record_dir: Path, name: str) -> list[Any]:
    path = record_dir / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _items(record_dir: Path) -> Counter[int]:
    seen: Counter[int] = Counter()
    for _, _, lo, hi in _lines(record_dir, "items.log"):
        seen.update(range(lo, hi))
    return seen


def _markers(endpoint: str, logs: Any, fn: JobFunction, ev: str, n: int) -> list[dict[str, Any]]:
    group = f"/aws/lambda/{fn.name}"
    events = wait_for_events(
        endpoint, logs, group, lambda e: len(chain_records(e, ev)) >= n, timeout=60
    )
    return chain_records(events, ev)


def _arm(endpoint: str, function: str, fault: str) -> None:
    import urllib.request

    request = urllib.request.Request(
        f"{endpoint}/_recursectl/faults",
        method="POST",
        data=json.dumps({"function": function, "fault": fault}).encode(),
        headers={"X-Recursectl-Token": TOKENS[endpoint]},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        armed = json.loads(response.read())["armed"]
    assert {"function": function, "fault": fault, "count": 1} in armed


def test_a_10000_item_job_runs_every_item_exactly_once_across_many_hops(
    endpoint: str, logs: Any, runtime: str, record_dir: Path
) -> None:
    fn = _deploy(endpoint, runtime, f"tenk-{runtime}", record_dir)
    # 100 batches of 100 items, 120 ms of work each: a 3 s hop with its 600 ms margin takes
    # at most 20 of them, so the job needs at least 5 hops.
    job_id = _start(fn, {"total": 10_000, "batch": 100, "pause": 0.12})
    assert _wait_status(fn, job_id, "done", "failed") == "done", fn.record(job_id)
    seen = _items(record_dir)
    assert set(seen) == set(range(10_000))
    assert set(seen.values()) == {1}  # exactly once
    hops = _lines(record_dir, "hops.log")
    assert [h["seq"] for h in hops] == list(range(len(hops)))  # one delivery of each hop
    assert len(hops) >= 5
    record = fn.record(job_id)
    assert record["hops"] == {"N": str(len(hops))}
    assert json.loads(record["result"]["S"]) == {"processed": 10_000}
    assert json.loads(record["progress"]["S"]) == {"done": 10_000, "total": 10_000}
    # The continuations are sequence steps: every hop at depth 0, with its job fields.
    hop_marks = [m for m in _markers(endpoint, logs, fn, "hop", len(hops)) if m.get("job")]
    # A hop past its 3 s on a loaded machine is retried from its checkpoint (attempt 2, any
    # seq, the first hop included): the items above stay exactly once either way.
    firsts = [m["seq"] for m in hop_marks if m["attempt"] == 1]
    assert sorted(firsts) == list(range(1, len(hops)))
    assert {m["depth"] for m in hop_marks} == {0}
    done = _markers(endpoint, logs, fn, "job", 1)
    assert [(m["job"], m["status"]) for m in done] == [(job_id, "done")]
    # The contract's fields, the same from both helpers (docs/jobs.md, "Markers").
    base = {"v", "ev", "chain", "req"}
    assert {frozenset(m) for m in hop_marks} == {
        frozenset(base | {"parent", "depth", "max", "budget", "job", "seq", "attempt"})
    }
    children = _markers(endpoint, logs, fn, "child", len(hops) - 1)
    assert {frozenset(m) for m in children} == {
        frozenset(base | {"child", "depth", "budget", "job", "seq", "attempt"})
    }
    checkpoints = _markers(endpoint, logs, fn, "checkpoint", 100)
    assert {frozenset(m) for m in checkpoints} == {
        frozenset(base | {"job", "seq", "progress", "bytes", "spilled"})
    }
    assert {frozenset(m) for m in done} == {frozenset(base | {"job", "seq", "status"})}


def test_a_duplicate_delivery_is_ignored_and_a_crash_resumes_from_the_checkpoint(
    endpoint: str, logs: Any, runtime: str, record_dir: Path
) -> None:
    fn = _deploy(endpoint, runtime, f"faults-{runtime}", record_dir)
    _arm(endpoint, fn.name, "duplicate")  # the root event is delivered twice
    _arm(endpoint, fn.name, "crash")  # its first checkpoint is its last
    job_id = _start(fn, {"total": 400, "batch": 100, "pause": 0.05, "one_batch_per_hop": True})
    assert _wait_status(fn, job_id, "done", "failed") == "done", fn.record(job_id)
    (duplicate,) = _markers(endpoint, logs, fn, "duplicate", 1)
    assert set(duplicate) == {"v", "ev", "chain", "req", "job", "seq", "owner"}
    assert (duplicate["job"], duplicate["seq"]) == (job_id, 0)
    assert duplicate["owner"] == job_id  # the first delivery holds the claim
    retry = [m for m in _markers(endpoint, logs, fn, "job", 2) if m["status"] == "retry"]
    assert [(m["job"], m["seq"]) for m in retry] == [(job_id, 0)]
    hops = [(h["seq"], h["attempt"], h["next"]) for h in _lines(record_dir, "hops.log")]
    # The crashed hop 0 saved {"next": 100} and died; its retry (attempt 2) started there.
    assert hops[:2] == [(0, 1, 0), (0, 2, 100)]
    assert hops[2:] == [(1, 1, 200), (2, 1, 300)]
    seen = _items(record_dir)
    assert set(seen) == set(range(400))
    assert set(seen.values()) == {1}
    assert fn.claim(job_id, 0)["attempt"] == {"N": "2"}


def test_stop_pauses_a_3mb_state_job_and_a_tampered_state_is_refused_then_resumed(
    endpoint: str, logs: Any, runtime: str, record_dir: Path
) -> None:
    fn = _deploy(endpoint, runtime, f"big-{runtime}", record_dir)
    blob = 3 * 1024 * 1024
    event = {"total": 200, "batch": 100, "pause": 0.01, "one_batch_per_hop": True,
             "blob": blob, "wait_for": "go"}  # fmt: skip
    job_id = _start(fn, event)
    _wait("hop 0 checkpointed", lambda: len(_lines(record_dir, "items.log")) == 1)
    # `recursectl stop`'s generation, raised while hop 0 runs: hop 1 must not run.
    env = fn.lam.get_function_configuration(FunctionName=fn.name)["Environment"]["Variables"]
    env[protocol.GENERATION_ENV] = "1"
    fn.lam.update_function_configuration(FunctionName=fn.name, Environment={"Variables": env})
    wait_updated(fn.lam, fn.name)
    (record_dir / "go").touch()
    assert _wait_status(fn, job_id, "paused", "failed", "done") == "paused", fn.record(job_id)
    record = fn.record(job_id)
    checkpoint = json.loads(record["checkpoint"]["S"])
    ref = checkpoint["ref"]  # 3 MB: spilled, the record holds its reference
    assert checkpoint["seq"] == 0
    assert ref["bucket"] == fn.bucket
    assert ref["key"] == f"recursectl/{fn.name}/state/{ref['sha256']}.json.gz"
    head = fn.s3.head_object(Bucket=fn.bucket, Key=ref["key"])
    assert head["ServerSideEncryption"] == "AES256"
    original = fn.s3.get_object(Bucket=fn.bucket, Key=ref["key"])["Body"].read()
    raw = gzip.decompress(original)
    assert hashlib.sha256(raw).hexdigest() == ref["sha256"]
    assert ref["bytes"] == len(raw) > blob
    assert json.loads(raw)["next"] == 100
    assert [h["seq"] for h in _lines(record_dir, "hops.log")] == [0]
    (paused,) = [m for m in _markers(endpoint, logs, fn, "job", 1) if m["status"] == "paused"]
    assert (paused["job"], paused["seq"]) == (job_id, 1)

    def resume(attempt: int) -> None:
        """What `recursectl job resume` does (docs/jobs.md): running again, then the hop."""
        fn.ddb.update_item(
            TableName=fn.table,
            Key={"chain": {"S": f"job#{job_id}"}},
            UpdateExpression="SET #s = :running",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":running": {"S": "running"}},
        )
        ctx = {"gen": 1, "job": {"id": job_id, "seq": 1, "attempt": attempt, "ref": ref}}
        payload = {**{k: v for k, v in event.items() if k != "wait_for"}, "_recursectl": ctx}
        fn.lam.invoke(FunctionName=fn.name, InvocationType="Event", Payload=json.dumps(payload))

    # Someone rewrites the state object: the hop refuses it before the handler runs.
    tampered = gzip.compress(raw.replace(b'"next":100', b'"next":199'))
    fn.s3.put_object(Bucket=fn.bucket, Key=ref["key"], Body=tampered)
    resume(1)
    assert _wait_status(fn, job_id, "failed", "done") == "failed"
    assert "state object changed" in fn.record(job_id)["error"]["S"]
    assert [h["seq"] for h in _lines(record_dir, "hops.log")] == [0]
    # The object put back, a resume of the failed hop (its claim's attempt + 1) reads the
    # 3 MB state back whole and finishes the job.
    fn.s3.put_object(Bucket=fn.bucket, Key=ref["key"], Body=original)
    resume(int(fn.claim(job_id, 1)["attempt"]["N"]) + 1)
    assert _wait_status(fn, job_id, "done", "failed") == "done", fn.record(job_id)
    last = _lines(record_dir, "hops.log")[-1]
    expected = hashlib.sha256((hashlib.sha256(b"seed").hexdigest() * (blob // 64)).encode())
    assert (last["seq"], last["next"], last["blob"]) == (1, 100, expected.hexdigest())
    assert set(_items(record_dir).values()) == {1}


PY_BOUNDED = """
import recursectl_chain

def handler(event, context):
    job = recursectl_chain.job(event, context)
    job.checkpoint({"seq": job.seq}, progress={"done": job.seq})
    if event.get("bad") and job.seq == 1:
        return job.continue_with({"bad": {1, 2}})  # a set: no JSON form
    return job.continue_with({"seq": job.seq + 1})
"""
NODE_BOUNDED = """
const { job: startJob } = require('./recursectl_chain.cjs');
exports.handler = async (event, context) => {
  const job = await startJob(event, context);
  await job.checkpoint({ seq: job.seq }, { progress: { done: job.seq } });
  if (event.bad && job.seq === 1) return job.continueWith({ bad: 1n }); // a BigInt: no JSON form
  return job.continueWith({ seq: job.seq + 1 });
};
"""


def test_a_run_lowers_the_bounds_that_end_a_job_and_a_bad_state_fails_it(
    endpoint: str, runtime: str
) -> None:
    source = NODE_BOUNDED if runtime == "node" else PY_BOUNDED
    fn = deploy_job_function(
        endpoint, f"bounded-{runtime}", source,
        runtime=RUNTIMES[runtime][0], bounds={"max_hops": 10, "max_seconds": 600},
    )  # fmt: skip
    # `invoke --max-hops 3` as the root's context: lowered to 3; max_seconds cannot be raised.
    lowered = {"_recursectl": {"job": {"bounds": {"max_hops": 3, "max_seconds": 99_999}}}}
    job_id = _start(fn, lowered)
    assert _wait_status(fn, job_id, "failed", "done") == "failed"
    record = fn.record(job_id)
    assert json.loads(record["bounds"]["S"]) == {"max_hops": 3, "max_seconds": 600,
                                                 "max_cost": None}  # fmt: skip
    assert "max_hops reached" in record["error"]["S"]
    assert record["hops"] == {"N": "3"}
    assert not fn.claim(job_id, 3)  # the fourth hop was never invoked
    bad = _start(fn, {"bad": True})
    assert _wait_status(fn, bad, "failed", "done") == "failed"
    record = fn.record(bad)
    assert "cannot be serialized" in record["error"]["S"]
    assert json.loads(record["checkpoint"]["S"]) == {"seq": 1, "state": {"seq": 1}}  # last good
    assert record["hops"] == {"N": "2"}


def test_a_bucket_the_role_may_not_write_fails_each_attempt_then_the_job_naming_the_permission(
    endpoint: str, runtime: str, record_dir: Path
) -> None:
    import boto3

    fn = _deploy(endpoint, runtime, f"denied-{runtime}", record_dir)
    # The role loses s3:PutObject (an IAM change made by hand, say).
    policy = job_policy(fn.name, fn.arn, fn.table, fn.bucket)
    for statement in policy["Statement"]:
        if statement["Resource"] == f"arn:aws:s3:::{fn.bucket}/recursectl/{fn.name}/*":
            statement["Action"] = ["s3:GetObject"]
    iam = boto3.client("iam", endpoint_url=endpoint)
    iam.put_role_policy(
        RoleName=f"{fn.name}-role", PolicyName="own", PolicyDocument=json.dumps(policy)
    )
    # 300 KB of state: over the inline limits, so its first checkpoint needs the bucket.
    job_id = _start(fn, {"total": 200, "batch": 100, "pause": 0, "blob": 300_000})
    assert _wait_status(fn, job_id, "failed", "done") == "failed"
    error = fn.record(job_id)["error"]["S"]
    assert "hop 0 failed 3 times" in error
    assert f"s3:PutObject on arn:aws:s3:::{fn.bucket}/recursectl/{fn.name}/state/" in error
    assert "denied" in error
    attempts = [(h["seq"], h["attempt"]) for h in _lines(record_dir, "hops.log")]
    assert attempts == [(0, 1), (0, 2), (0, 3)]  # JOB_MAX_ATTEMPTS, then no more


PY_SLOW = """
import time
import recursectl_chain

def handler(event, context):
    job = recursectl_chain.job(event, context)
    state = job.state or {"done": 0}
    state["done"] += 1
    job.checkpoint(state, progress={"done": state["done"], "total": 2})
    if job.attempt == 1:
        time.sleep(30)  # past the 3 s timeout, as a hop that ignores should_continue()
    return job.done({"state": state, "attempt": job.attempt})
"""
NODE_SLOW = """
const { job: startJob } = require('./recursectl_chain.cjs');
exports.handler = async (event, context) => {
  const job = await startJob(event, context);
  const state = job.state || { done: 0 };
  state.done += 1;
  await job.checkpoint(state, { progress: { done: state.done, total: 2 } });
  if (job.attempt === 1) await new Promise((r) => setTimeout(r, 30000)); // past the timeout
  return job.done({ state, attempt: job.attempt });
};
"""


def test_a_hop_that_times_out_is_retried_from_its_checkpoint(endpoint: str, runtime: str) -> None:
    source = NODE_SLOW if runtime == "node" else PY_SLOW
    fn = deploy_job_function(endpoint, f"slow-{runtime}", source, runtime=RUNTIMES[runtime][0])
    job_id = _start(fn, {})
    assert _wait_status(fn, job_id, "done", "failed") == "done", fn.record(job_id)
    record = fn.record(job_id)
    # The timed-out attempt saved {"done": 1}; its retry started there and added its own.
    assert json.loads(record["result"]["S"]) == {"state": {"done": 2}, "attempt": 2}
    assert record["attempt"] == {"N": "2"}
