"""The Node guard's job API in a node process as Lambda runs it (the entry point, a task
root, Lambda's environment), against moto's DynamoDB behind the local cloud's front door:
a failed hop retried from its checkpoint through its failure record, the older attempt
fenced, a cancel, as the Python helper's tests check (test_job_helper.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from recursectl import nodejs, protocol
from tests.functional.fake_lambda import fake_lambda
from tests.support.localcloud import counter_table

ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"
TABLE = "f-recursectl-chains"

HANDLER = """
const { job: startJob } = require('./recursectl_chain.cjs');
const jobs = [];
exports.handler = async (event, context) => {
  const job = await startJob(event, context);
  jobs.push(job);
  if (event.cancelInside) {
    // `recursectl job cancel` while the hop runs.
    const { DynamoDBClient, UpdateItemCommand } = require('@aws-sdk/client-dynamodb');
    await new DynamoDBClient({}).send(new UpdateItemCommand({
      TableName: process.env.RECURSECTL_COUNTER_TABLE,
      Key: { chain: { S: `job#${job.id}` } },
      UpdateExpression: 'SET #s = :c',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':c': { S: 'cancelled' } },
    }));
    await job.checkpoint({ n: 1 }); // still saved: the hop's progress is kept
    return { goOn: job.shouldContinue(), out: await job.continueWith({ n: 2 }) };
  }
  if (event.spentInside) {
    // The job's budget spent meanwhile (its hops' fan-out, say).
    const { DynamoDBClient, UpdateItemCommand } = require('@aws-sdk/client-dynamodb');
    await new DynamoDBClient({}).send(new UpdateItemCommand({
      TableName: process.env.RECURSECTL_COUNTER_TABLE,
      Key: { chain: { S: `job#${job.id}` } },
      UpdateExpression: 'SET #n = :n',
      ExpressionAttributeNames: { '#n': 'n' },
      ExpressionAttributeValues: { ':n': { N: '5000' } },
    }));
    return { out: await job.continueWith({ n: 7 }) };
  }
  if (job.attempt === 1) {
    await job.checkpoint({ n: 1 }, { progress: { done: 1, total: 2 } });
    throw new Error('boom');
  }
  let fenced = null;
  if (jobs.length > 1) {
    try { await jobs[0].checkpoint({ n: 99 }); } catch (e) { fenced = e.name; }
  }
  return job.done({ from: job.state, fenced, seq: job.seq, attempt: job.attempt });
};
"""
DRIVER = """
const api = await import(process.argv[2] + '/recursectl_chain.cjs');
for (const [event, rid] of JSON.parse(process.argv[3])) {
  const ctx = { awsRequestId: rid, functionName: 'f', getRemainingTimeInMillis: () => 3000 };
  let out;
  try {
    out = { ok: await api.handler(event, ctx) };
  } catch (e) {
    out = { error: e.name, message: e.message };
  }
  process.stdout.write('RESULT ' + JSON.stringify(out) + '\\n');
}
"""


@pytest.fixture
def ddb(endpoint: str) -> Any:
    return counter_table(endpoint, TABLE)


def _run(
    endpoint: str, tmp: Path, events: list[Any], handler: str = HANDLER, **extra: str
) -> tuple[list[Any], list[dict[str, Any]]]:
    """(results, markers) of the guard driven through `events`, in one node process."""
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH")
    root = tmp / "task"
    root.mkdir(exist_ok=True)
    for helper in (ROOT / "templates" / "node").glob("recursectl_chain*.cjs"):
        shutil.copy(helper, root / helper.name)
    (root / "handler.js").write_text(handler)
    driver = tmp / "drive.mjs"
    driver.write_text(DRIVER)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "NODE_PATH": str(nodejs.ensure_sdk()),
        "AWS_LAMBDA_FUNCTION_NAME": "f",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "LAMBDA_TASK_ROOT": str(root),
        protocol.HANDLER_ENV: "handler.handler",
        protocol.SELF_ARN_ENV: ARN,
        protocol.COUNTER_TABLE_ENV: TABLE,
        protocol.JOB_BOUNDS_ENV: '{"max_hops":5}',
        **extra,
    }
    done = subprocess.run(
        ["node", str(driver), str(root), json.dumps(events)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results, marks = [], []
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            results.append(json.loads(line[7:]))
        elif line.startswith(protocol.MARKER + " "):
            marks.append(json.loads(line.split(" ", 1)[1]))
    return results, marks


def _item(ddb: Any, key: str) -> dict[str, Any]:
    got = ddb.get_item(TableName=TABLE, Key={"chain": {"S": key}}, ConsistentRead=True)
    return dict(got.get("Item") or {})


def test_the_node_guard_retries_a_failed_hop_from_its_checkpoint_and_fences_the_old_attempt(
    endpoint: str, ddb: Any, node_ready: None, tmp_path: Path
) -> None:
    record = {
        "version": "1.0",
        "requestContext": {"requestId": "root", "functionArn": f"{ARN}:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": 1},
        "requestPayload": {"total": 2},
        "responsePayload": {"errorType": "Error", "errorMessage": "boom"},
    }  # fmt: skip
    results, marks = _run(endpoint, tmp_path, [[{"total": 2}, "root"], [record, "retry"]])
    assert results[0] == {"error": "Error", "message": "boom"}  # re-raised: Lambda's failure
    assert results[1] == {"ok": {"from": {"n": 1}, "fenced": "JobFenced", "seq": 0, "attempt": 2}}
    item = _item(ddb, "job#root")
    assert (item["status"], item["attempt"]) == ({"S": "done"}, {"N": "2"})
    assert json.loads(item["checkpoint"]["S"]) == {"seq": 0, "state": {"n": 1}}
    assert json.loads(item["progress"]["S"]) == {"done": 1, "total": 2}
    claim = _item(ddb, "job#root#0")
    assert (claim["owner"], claim["attempt"], claim["status"]) == (
        {"S": "retry"}, {"N": "2"}, {"S": "done"}
    )  # fmt: skip
    jobs = [(m["status"], m.get("error")) for m in marks if m["ev"] == "job"]
    assert jobs == [("retry", "Error: boom"), ("done", None)]
    (retry_hop,) = [m for m in marks if m["ev"] == "hop" and m["req"] == "retry"]
    assert (retry_hop["job"], retry_hop["seq"], retry_hop["attempt"]) == ("root", 0, 2)


def test_the_node_guard_ends_a_cancelled_jobs_next_hop_without_running_it(
    endpoint: str, ddb: Any, node_ready: None, tmp_path: Path
) -> None:
    ddb.put_item(
        TableName=TABLE,
        Item={"chain": {"S": "job#j"}, "status": {"S": "cancelled"}, "seq": {"N": "0"},
              "attempt": {"N": "1"}},
    )  # fmt: skip
    hop = {"_recursectl": {"chain": "j", "job": {"id": "j", "seq": 1, "state": {"n": 1}}}}
    results, marks = _run(endpoint, tmp_path, [[hop, "hop-1"]])
    assert results == [{"ok": None}]
    assert [(m["ev"], m.get("status")) for m in marks if m["ev"] != "hop"] == [("job", "cancelled")]


def test_the_node_guard_keeps_a_cancelled_hops_checkpoint_and_ends_the_job_at_continue_with(
    endpoint: str, ddb: Any, node_ready: None, tmp_path: Path
) -> None:
    results, marks = _run(endpoint, tmp_path, [[{"cancelInside": True}, "root"]])
    out = {"job": "root", "seq": 0, "continued": False, "status": "cancelled"}
    assert results == [{"ok": {"goOn": False, "out": out}}]
    item = _item(ddb, "job#root")
    assert item["status"] == {"S": "cancelled"}
    assert json.loads(item["checkpoint"]["S"]) == {"seq": 0, "state": {"n": 2}}
    assert [m["status"] for m in marks if m["ev"] == "job"] == ["cancelled"]
    assert not [m for m in marks if m["ev"] == "child"]  # no next hop


def test_the_node_guard_fails_a_job_whose_budget_refuses_its_continuation_with_its_checkpoint(
    endpoint: str, ddb: Any, node_ready: None, tmp_path: Path
) -> None:
    # The continuation is counted in its checkpoint's own write, on the job's record: refused,
    # the job fails with that checkpoint saved, and no next hop is invoked.
    results, marks = _run(endpoint, tmp_path, [[{"spentInside": True}, "root"]])
    out = {"job": "root", "seq": 0, "continued": False, "status": "failed"}
    assert results == [{"ok": {"out": out}}]
    item = _item(ddb, "job#root")
    assert item["status"] == {"S": "failed"}
    assert "invocations is spent" in item["error"]["S"]
    assert item["n"] == {"N": "5000"}  # not counted
    assert "expires" not in item
    assert json.loads(item["checkpoint"]["S"]) == {"seq": 0, "state": {"n": 7}}
    evs = [(m["ev"], m.get("reason") or m.get("status")) for m in marks if m["ev"] != "hop"]
    assert evs == [("capped", "budget"), ("checkpoint", None), ("job", "failed")]


@pytest.mark.parametrize("resumed", [False, True])
def test_the_node_guard_pauses_a_stopped_jobs_hop_unless_the_job_was_resumed_since(
    endpoint: str, ddb: Any, node_ready: None, tmp_path: Path, resumed: bool
) -> None:
    ddb.put_item(
        TableName=TABLE,
        Item={"chain": {"S": "job#j"}, "status": {"S": "running"}, "seq": {"N": "0"},
              "attempt": {"N": "2"}, "gen": {"N": "1" if resumed else "0"}},
    )  # fmt: skip
    # A hop of generation 0 (a resumed failed hop's: attempt 2), run in an environment of
    # generation 1 (after a `stop`).
    job = {"id": "j", "seq": 1, "attempt": 2, "state": {"n": 1}}
    hop = {"_recursectl": {"chain": "j", "gen": 0, "job": job}}
    results, marks = _run(endpoint, tmp_path, [[hop, "hop-1"]], RECURSECTL_GENERATION="1")
    item = _item(ddb, "job#j")
    if resumed:  # it runs (and finishes the job: the handler's done())
        assert results == [{"ok": {"from": {"n": 1}, "fenced": None, "seq": 1, "attempt": 2}}]
        assert item["status"] == {"S": "done"}
    else:
        assert results == [{"ok": None}]
        assert item["status"] == {"S": "paused"}
        assert [m["ev"] for m in marks] == ["hop", "job", "stopped"]


BATCHES = """
const fs = require('node:fs');
const { job: startJob } = require('./recursectl_chain.cjs');
exports.handler = async (event, context) => {
  const job = await startJob(event, context);
  const batch = (job.state && job.state.next) || 0;
  fs.appendFileSync(process.env.PROCESSED, JSON.stringify([batch, context.awsRequestId]) + '\\n');
  if (batch + 1 >= 3) return job.done({ batches: 3 });
  return job.continueWith({ next: batch + 1 });
};
"""


@pytest.mark.parametrize("retry_first", [False, True], ids=["next-hop-first", "retry-first"])
def test_the_node_guard_does_not_run_again_a_hop_that_died_after_handing_over(
    endpoint: str, ddb: Any, node_ready: None, tmp_path: Path, retry_first: bool
) -> None:
    """As the Python helper's test: hop 0 hands over to hop 1 and dies before its claim is
    marked done (the claim is set back to `claimed` here, what such a death leaves); its
    retry, before or after hop 1, must not process a batch again."""
    processed = tmp_path / "processed.log"
    with fake_lambda() as fake:  # Lambda's Invoke, read as sent; DynamoDB: the local cloud
        env = {"AWS_ENDPOINT_URL": fake.url, "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
               "PROCESSED": str(processed), protocol.JOB_BOUNDS_ENV: '{"max_hops":10}'}  # fmt: skip

        def run(*events: tuple[Any, str]) -> None:
            results, _ = _run(endpoint, tmp_path, [list(e) for e in events], BATCHES, **env)
            assert all("ok" in r for r in results), results

        def sent(seq: int) -> list[Any]:
            return [r.event for r in fake.requests if r.event["_recursectl"]["job"]["seq"] == seq]

        run(({"total": 3}, "hop-0"))
        ddb.update_item(
            TableName=TABLE,
            Key={"chain": {"S": "job#hop-0#0"}},
            UpdateExpression="SET #s = :c",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":c": {"S": "claimed"}},
        )
        retry = {
            "version": "1.0",
            "requestContext": {"requestId": "hop-0", "functionArn": f"{ARN}:$LATEST",
                               "condition": "RetriesExhausted", "approximateInvokeCount": 1},
            "requestPayload": {"total": 3},
            "responsePayload": {"errorType": "Error", "errorMessage": "Task timed out"},
        }  # fmt: skip
        (hop1,) = sent(1)
        if retry_first:
            run((retry, "retry-0"))
            run(*[(event, f"hop-1-{n}") for n, event in enumerate(sent(1))])
        else:
            run((hop1, "hop-1-0"), (retry, "retry-0"))
        (hop2,) = sent(2)
        run((hop2, "hop-2"))
    lines = [json.loads(line) for line in processed.read_text().splitlines()]
    assert lines == [[0, "hop-0"], [1, "hop-1-0"], [2, "hop-2"]]  # each batch once
    assert _item(ddb, "job#hop-0")["status"] == {"S": "done"}
