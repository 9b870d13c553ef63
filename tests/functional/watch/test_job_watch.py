"""A long job on the local cloud (Python and Node), read back the way `logs` reads it
(watch/follow with a real boto3 FilterLogEvents): the job line and the tree agree with what
the handler itself recorded, with an injected duplicate delivery and an injected crash
(docs/jobs.md)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from recursectl.aws.session import Aws, Target
from recursectl.chain import Chain
from recursectl.watch import follow
from tests.support.jobs import JobFunction, deploy_job_function
from tests.support.localcloud import TOKENS

DEADLINE_S = 180.0  # a bound, not a speed check: the machine is shared

# A user's batch job (the docs' shape) that notes each hop it runs and each batch it does in
# files the test reads (a worker's /tmp is its own: /dev/shm is shared).
JOB = r"""
import json, os, time
import recursectl_chain

OUT = os.environ["RECORD_DIR"]

def note(name, doc):
    with open(os.path.join(OUT, name), "a") as f:
        f.write(json.dumps(doc) + "\n")

def handler(event, context):
    job = recursectl_chain.job(event, context)
    state = job.state or {"next": 0}
    note("hops.log", [job.seq, job.attempt, context.aws_request_id])
    total, batch = event["total"], event["batch"]
    while state["next"] < total and job.should_continue():
        time.sleep(0.05)
        state["next"] = min(total, state["next"] + batch)
        job.checkpoint(state, progress={"done": state["next"], "total": total, "unit": "rows"})
        note("batches.log", [job.seq, state["next"]])
        if event.get("one_batch_per_hop"):
            break
    if state["next"] >= total:
        return job.done({"processed": total})
    return job.continue_with(state)
"""

NODE_JOB = r"""
const fs = require('node:fs');
const path = require('node:path');
const { job: startJob } = require('./recursectl_chain.cjs');

const OUT = process.env.RECORD_DIR;
const note = (name, doc) => fs.appendFileSync(path.join(OUT, name), JSON.stringify(doc) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

exports.handler = async (event, context) => {
  const job = await startJob(event, context);
  const state = job.state ?? { next: 0 };
  note('hops.log', [job.seq, job.attempt, context.awsRequestId]);
  const { total, batch } = event;
  while (state.next < total && job.shouldContinue()) {
    await sleep(50);
    state.next = Math.min(total, state.next + batch);
    await job.checkpoint(state, { progress: { done: state.next, total, unit: 'rows' } });
    note('batches.log', [job.seq, state.next]);
    if (event.one_batch_per_hop) break;
  }
  if (state.next >= total) return job.done({ processed: total });
  return job.continueWith(state);
};
"""
RUNTIMES = {"python": ("python3.11", JOB), "node": ("nodejs20.x", NODE_JOB)}


@pytest.fixture(params=sorted(RUNTIMES))
def runtime(request: pytest.FixtureRequest) -> str:
    if request.param == "node":
        request.getfixturevalue("node_ready")
    return str(request.param)


def _arm(endpoint: str, function: str, fault: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/_recursectl/faults",
        method="POST",
        data=json.dumps({"function": function, "fault": fault}).encode(),
        headers={"X-Recursectl-Token": TOKENS[endpoint]},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def _lines(path: Path) -> list[Any]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _read(endpoint: str, fn: JobFunction, job_id: str, since_ms: int) -> Chain:
    """The job's chain as `recursectl logs --chain` reads it, once it has ended."""
    aws = Aws(Target(endpoint_url=endpoint, region="us-east-1", local=True))
    deadline = time.monotonic() + DEADLINE_S
    while True:
        chain, _ = follow.read(
            aws, f"/aws/lambda/{fn.name}", chain_id=job_id, start_ms=since_ms, lines=False
        )
        if chain is not None and chain.complete():
            return chain
        assert time.monotonic() < deadline, chain and chain.job
        time.sleep(0.5)


def test_the_job_line_matches_what_the_handler_did_with_a_duplicate_and_a_crash(
    endpoint: str, runtime: str, record_dir: Path
) -> None:
    lambda_runtime, source = RUNTIMES[runtime]
    fn = deploy_job_function(
        endpoint, f"watched-{runtime}", source, runtime=lambda_runtime,
        env={"RECORD_DIR": str(record_dir)}, timeout=3,
    )  # fmt: skip
    _arm(endpoint, fn.name, "duplicate")  # the root event is delivered twice
    _arm(endpoint, fn.name, "crash")  # the root's first checkpoint is its last
    since = int(time.time() * 1000) - 1000
    event = {"total": 400, "batch": 100, "one_batch_per_hop": True}
    got = fn.lam.invoke(FunctionName=fn.name, InvocationType="Event", Payload=json.dumps(event))
    job_id = got["ResponseMetadata"]["RequestId"]
    chain = _read(endpoint, fn, job_id, since)

    ran = _lines(record_dir / "hops.log")  # [seq, attempt, request id] per hop the handler ran
    batches = _lines(record_dir / "batches.log")
    job = chain.job
    assert job is not None
    assert (job.job_id, job.status, job.error) == (job_id, "done", None)
    # 400 rows, a batch a hop: the crashed root did the first, its retry the second
    assert job.hops == len({seq for seq, _, _ in ran}) == 3
    assert job.seq == 2
    assert job.attempts == len(ran)  # every delivery that ran the handler
    assert job.retries == 1  # the crashed root, run again from its checkpoint
    assert job.duplicates == 1  # the root's second delivery, ignored
    # one batch (one checkpoint) per delivery that ran, and each continue_with's (it
    # checkpoints the state it hands on), but the crashed delivery's: the local cloud kills
    # it once its checkpoint write is applied, before the answer, so the marker the helper
    # prints after the write never comes; batches.log may miss that delivery's line too
    # (killed before or after the handler noted it)
    assert job.checkpoints == len(ran) + job.hops - 2, (job.checkpoints, ran, job.hops)
    assert len(batches) in (len(ran) - 1, len(ran))
    assert (job.done, job.total) == (400.0, 400.0)
    assert dict(job.progress)["unit"] == "rows"
    assert job.spend_usd > 0
    assert job.elapsed_ms is not None
    assert job.elapsed_ms > 0

    # The tree: each hop the handler ran is an invocation with its number and delivery.
    hops = {
        inv.request_id: (inv.job.seq, inv.job.attempt or 1)
        for inv in chain.invocations
        if inv.job is not None and inv.job.ran
    }
    assert sorted(hops.values()) == sorted((seq, attempt) for seq, attempt, _ in ran)
    assert {rid for _, _, rid in ran} <= set(hops)
    root = chain.get(job_id)
    assert root is not None
    assert root.job is not None
    # Delivered twice under its id: one delivery ran and crashed after its checkpoint, the
    # other found the claim taken (their REPORTs come in either order: the row's status is
    # the later one's)
    assert root.attempts == 2
    assert root.job.duplicate_of == job_id
    assert root.job.checkpoints == ()  # killed before its checkpoint's marker (above)
    retry = next(inv for inv in chain.invocations if inv.job and inv.job.attempt == 2)
    assert (retry.job.seq if retry.job else None, retry.status) == (0, "ok")
    assert retry.job is not None
    assert [e.status for e in retry.job.events] == ["retry"]
    assert not chain.failed  # the job is done: the crash was retried, as designed
    assert follow.failure(chain, fn.name) is None
