"""The Python helper's job API in this process, against moto's DynamoDB and S3 behind the
local cloud's front door, with Lambda's Invoke answered by the scripted fake (so each
continuation's payload is read as sent): retries from a failure record and the fencing of
the attempt they replace, the attempts bound, the hops bound, a state that cannot be
serialized, a job bucket that is not there."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest

from tests.functional.fake_lambda import (
    FakeLambda,
    fake_lambda,
    load_helper,
    markers,
    unload_helper,
)
from tests.support.localcloud import counter_table

SELF_ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"
TABLE = "f-recursectl-chains"
BUCKET = "f-recursectl-jobs"


@pytest.fixture
def ddb(endpoint: str) -> Any:
    return counter_table(endpoint, TABLE)


def _helper(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, **env: str
) -> Iterator[tuple[ModuleType, FakeLambda]]:
    with fake_lambda() as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL", fake.url)  # Lambda: the scripted fake
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "f")
        monkeypatch.setenv("RECURSECTL_SELF_ARN", SELF_ARN)
        monkeypatch.setenv("RECURSECTL_COUNTER_TABLE", TABLE)
        monkeypatch.setenv("RECURSECTL_JOB_BUCKET", BUCKET)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield load_helper(), fake
        unload_helper()


@pytest.fixture
def helper(
    endpoint: str, ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ModuleType, FakeLambda]]:
    yield from _helper(endpoint, monkeypatch, RECURSECTL_JOB_BOUNDS='{"max_hops":2}')


def _ctx(request_id: str) -> SimpleNamespace:
    return SimpleNamespace(
        aws_request_id=request_id, function_name="f", get_remaining_time_in_millis=lambda: 3000
    )


def _item(ddb: Any, key: str) -> dict[str, Any]:
    got = ddb.get_item(TableName=TABLE, Key={"chain": {"S": key}}, ConsistentRead=True)
    return dict(got.get("Item") or {})


def _failure(request_id: str, payload: dict[str, Any], message: str) -> dict[str, Any]:
    """The on-failure destination record AWS sends for an Event invoke of `f` that failed."""
    return {
        "version": "1.0",
        "timestamp": "2026-12-07T07:00:00.000Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{SELF_ARN}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 1,
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                            "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": message, "errorType": "RuntimeError"},
    }  # fmt: skip


def test_a_failed_hop_is_retried_from_its_checkpoint_and_the_old_attempt_is_fenced(
    helper: tuple[ModuleType, FakeLambda], ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _ = helper
    jobs: list[Any] = []

    def user(event: Any, context: Any) -> Any:
        job = rc.job(event, context)
        jobs.append(job)
        if job.attempt == 1:
            job.checkpoint({"n": 1}, progress={"done": 1, "total": 2})
            raise RuntimeError("boom")
        with pytest.raises(rc.JobFenced, match="no longer holds the job"):
            jobs[0].checkpoint({"n": 99})  # the slow first attempt, after the takeover
        return job.done({"from": job.state})

    rc._user_handler = user
    with pytest.raises(RuntimeError, match="boom"):  # re-raised: Lambda's failure path
        rc.handler({"total": 2}, _ctx("root"))
    assert rc.handler(_failure("root", {"total": 2}, "boom"), _ctx("retry")) == {"from": {"n": 1}}
    assert [(j.seq, j.attempt, j.input) for j in jobs] == [
        (0, 1, {"total": 2}),
        (0, 2, {"total": 2}),
    ]
    record = _item(ddb, "job#root")
    assert record["status"] == {"S": "done"}
    assert record["attempt"] == {"N": "2"}
    assert json.loads(record["checkpoint"]["S"]) == {"seq": 0, "state": {"n": 1}}
    claim = _item(ddb, "job#root#0")
    assert (claim["owner"], claim["attempt"], claim["status"]) == (
        {"S": "retry"}, {"N": "2"}, {"S": "done"}
    )  # fmt: skip
    jobs_marks = [m for m in markers(capsys.readouterr().out) if m["ev"] == "job"]
    assert [(m["status"], m.get("error")) for m in jobs_marks] == [
        ("retry", "RuntimeError: boom"), ("done", None)
    ]  # fmt: skip


def test_a_hop_that_failed_its_last_attempt_fails_the_job_and_keeps_its_checkpoint(
    helper: tuple[ModuleType, FakeLambda], ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _ = helper
    ran: list[int] = []

    def user(event: Any, context: Any) -> Any:
        job = rc.job(event, context)
        ran.append(job.attempt)
        job.checkpoint({"n": job.attempt})
        raise RuntimeError(f"attempt {job.attempt}")

    rc._user_handler = user
    with pytest.raises(RuntimeError):
        rc.handler({}, _ctx("root"))
    payload: dict[str, Any] = {}
    for attempt in (2, 3):
        with pytest.raises(RuntimeError):
            rc.handler(_failure("root", payload, f"attempt {attempt - 1}"), _ctx(f"r{attempt}"))
        payload = {"_recursectl": {"chain": "root", "job": {"id": "root", "seq": 0,
                                                             "attempt": attempt}}}  # fmt: skip
    assert rc.handler(_failure("root", payload, "attempt 3"), _ctx("r4")) is None
    assert ran == [1, 2, 3]  # JOB_MAX_ATTEMPTS
    record = _item(ddb, "job#root")
    assert record["status"] == {"S": "failed"}
    assert "failed 3 times" in record["error"]["S"]
    assert json.loads(record["checkpoint"]["S"]) == {"seq": 0, "state": {"n": 3}}
    last = [m for m in markers(capsys.readouterr().out) if m["ev"] == "job"][-1]
    assert (last["status"], last["job"], last["seq"]) == ("failed", "root", 0)


def test_the_hops_bound_ends_the_job_and_continuations_are_sequence_steps(
    helper: tuple[ModuleType, FakeLambda], ddb: Any
) -> None:
    rc, fake = helper
    rc._user_handler = lambda event, context: rc.job(event, context).continue_with({"k": 1})
    assert rc.handler({"x": 1}, _ctx("root")) == {"job": "root", "seq": 1, "continued": True}
    (sent,) = fake.requests
    event = sent.event
    ctx = event.pop("_recursectl")
    assert event == {"x": 1}  # the job's input, the same on every hop
    assert (ctx["chain"], ctx["parent"], ctx["depth"]) == ("root", "root", 0)
    assert ctx["job"] == {
        "id": "root",
        "seq": 1,
        "attempt": 1,
        "state": {"k": 1},
        "bounds": {"max_hops": 2, "max_seconds": 21600, "max_cost": None},
    }
    # Hop 1 is the last of max_hops 2: its continuation is refused, the job fails.
    out = rc.handler({**event, "_recursectl": ctx}, _ctx("child-1"))
    assert out == {"job": "root", "seq": 1, "continued": False, "status": "failed"}
    assert len(fake.requests) == 1
    record = _item(ddb, "job#root")
    assert record["status"] == {"S": "failed"}
    assert "max_hops reached" in record["error"]["S"]
    assert record["hops"] == {"N": "2"}
    # The job's invocations are counted on its record (with the checkpoint, in one write),
    # which never expires; no counter item of its own.
    assert record["n"] == {"N": "1"}
    assert "expires" not in record
    assert _item(ddb, "root") == {}


def test_a_state_that_cannot_be_serialized_fails_the_job_with_its_last_good_checkpoint(
    helper: tuple[ModuleType, FakeLambda], ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, fake = helper

    def user(event: Any, context: Any) -> Any:
        job = rc.job(event, context)
        job.checkpoint({"good": 1})
        return job.continue_with({"bad": object()})

    rc._user_handler = user
    assert rc.handler({}, _ctx("root")) is None  # the hop ends; not a failure to retry
    assert fake.requests == []
    record = _item(ddb, "job#root")
    assert record["status"] == {"S": "failed"}
    assert "cannot be serialized" in record["error"]["S"]
    assert json.loads(record["checkpoint"]["S"]) == {"seq": 0, "state": {"good": 1}}
    out = capsys.readouterr().out
    assert "the state cannot be serialized to JSON" in out
    (failed,) = [m for m in markers(out) if m["ev"] == "job"]
    assert failed["status"] == "failed"


def test_a_missing_bucket_fails_the_hop_before_the_handler_and_names_it(
    helper: tuple[ModuleType, FakeLambda], ddb: Any
) -> None:
    rc, fake = helper
    ran: list[Any] = []
    rc._user_handler = lambda event, context: ran.append(event)
    rc.handler({}, _ctx("root"))  # the job's record exists; the handler just returned
    ref = {"bucket": BUCKET, "key": "recursectl/f/state/" + "0" * 64 + ".json.gz",
           "sha256": "0" * 64, "bytes": 10}  # fmt: skip
    ddb.update_item(
        TableName=TABLE,
        Key={"chain": {"S": "job#root"}},
        UpdateExpression="SET #s = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": "running"}},
    )
    event = {"_recursectl": {"chain": "root", "job": {"id": "root", "seq": 1, "ref": ref}}}
    with pytest.raises(RuntimeError, match=f"the job bucket {BUCKET} does not exist"):
        rc.handler(event, _ctx("hop-1"))
    assert len(ran) == 1  # the root's; hop 1's handler never ran
    # Above the inline limit a continuation needs the bucket too: it says so, naming it.
    rc._user_handler = lambda event, context: rc.job(event, context).continue_with("x" * 300_000)
    with pytest.raises(RuntimeError, match=f"{BUCKET} does not exist .s3:PutObject on arn:aws:s3"):
        rc.handler({}, _ctx("root2"))
    assert fake.requests == []


def test_a_failure_record_that_is_no_jobs_is_dropped_in_a_job_function(
    helper: tuple[ModuleType, FakeLambda], ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Run, it could fail again and come back nested in its own record, for ever.
    rc, fake = helper
    ran: list[Any] = []
    rc._user_handler = lambda event, context: ran.append(event)
    assert rc.handler(_failure("plain", {"x": 1}, "boom"), _ctx("r1")) is None
    nested = _failure("r1", _failure("plain", {"x": 1}, "boom"), "again")
    assert rc.handler(nested, _ctx("r2")) is None
    assert ran == []
    assert capsys.readouterr().out.count("no job's: dropped") == 2
    assert fake.requests == []


def test_a_cancelled_job_ends_at_its_next_continuation_and_its_next_hop_does_not_run(
    helper: tuple[ModuleType, FakeLambda], ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, fake = helper

    def cancel() -> None:  # what `recursectl job cancel` does
        ddb.update_item(
            TableName=TABLE,
            Key={"chain": {"S": "job#root"}},
            UpdateExpression="SET #s = :c",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":c": {"S": "cancelled"}},
        )

    def user(event: Any, context: Any) -> Any:
        job = rc.job(event, context)
        cancel()  # while the hop runs
        job.checkpoint({"n": 1})  # still saved: the hop's progress is kept
        assert not job.should_continue()
        return job.continue_with({"n": 2})

    rc._user_handler = user
    out = rc.handler({}, _ctx("root"))
    assert out == {"job": "root", "seq": 0, "continued": False, "status": "cancelled"}
    assert fake.requests == []
    assert _item(ddb, "job#root")["status"] == {"S": "cancelled"}
    # A hop already on its way (invoked before the cancel) ends without running.
    ran: list[Any] = []
    rc._user_handler = lambda event, context: ran.append(event)
    hop = {"_recursectl": {"chain": "root", "job": {"id": "root", "seq": 1, "state": {}}}}
    assert rc.handler(hop, _ctx("hop-1")) is None
    assert ran == []
    statuses = [m["status"] for m in markers(capsys.readouterr().out) if m["ev"] == "job"]
    assert statuses == ["cancelled", "cancelled"]


@pytest.fixture
def stopped_helper(
    endpoint: str, ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ModuleType, FakeLambda]]:
    """The helper in an environment started after a `recursectl stop` (generation 1)."""
    yield from _helper(endpoint, monkeypatch, RECURSECTL_GENERATION="1")


@pytest.mark.parametrize("resumed", [False, True])
def test_a_hop_from_before_a_stop_pauses_its_job_unless_the_job_was_resumed_since(
    stopped_helper: tuple[ModuleType, FakeLambda], ddb: Any, resumed: bool
) -> None:
    rc, fake = stopped_helper
    # The job started under generation 0; `resume` sets its record's gen to the current one.
    ddb.put_item(
        TableName=TABLE,
        Item={"chain": {"S": "job#j"}, "status": {"S": "running"}, "seq": {"N": "0"},
              "attempt": {"N": "1"}, "gen": {"N": "1" if resumed else "0"}},
    )  # fmt: skip
    ran: list[Any] = []

    def user(event: Any, context: Any) -> Any:
        ran.append(event)
        return rc.job(event, context).continue_with({"n": 2})

    rc._user_handler = user
    # Its hop was held back by the stop's concurrency 0 and runs only now.
    hop = {"_recursectl": {"chain": "j", "gen": 0, "job": {"id": "j", "seq": 1, "state": {}}}}
    rc.handler(hop, _ctx("hop-1"))
    status = _item(ddb, "job#j")["status"]["S"]
    if resumed:  # it goes on, under the current generation
        assert (len(ran), status) == (1, "running")
        assert fake.requests[0].event["_recursectl"]["gen"] == 1
    else:
        assert (ran, status, fake.requests) == ([], "paused", [])


def _record_calls(rc: ModuleType) -> list[tuple[str, str]]:
    """(operation, item key or object key) of every DynamoDB and S3 call the helper makes."""
    calls: list[tuple[str, str]] = []
    dynamo = rc._counter_client()  # its own signed requests: recorded where they are made
    assert dynamo.lean
    call = dynamo._call

    def dynamo_call(target: str, method: str, params: dict[str, Any]) -> Any:
        key = params.get("Key") or params.get("Item")
        calls.append((target, key["chain"]["S"]))
        return call(target, method, params)

    dynamo._call = dynamo_call

    def note(model: Any, params: dict[str, Any], **_: Any) -> None:
        # an object: the first 8 hex digits of its SHA-256
        calls.append((model.name, str(params.get("Key")).rsplit("/", 1)[-1][:8]))

    rc._jobs()._s3_client().meta.events.register("before-parameter-build", note)
    return calls


def test_a_hop_costs_its_claim_its_record_its_checkpoints_one_continue_write_and_done(
    helper: tuple[ModuleType, FakeLambda], ddb: Any, endpoint: str
) -> None:
    """What a hop costs (docs/jobs.md): the continuation is counted in the checkpoint's own
    write, and a spilled state checkpointed and then handed on is put once."""
    rc, fake = helper
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    calls = _record_calls(rc)

    def user(event: Any, context: Any) -> Any:
        job = rc.job(event, context)
        state = job.state or {"blob": "x" * 300_000, "n": 0}
        state["n"] += 1
        job.checkpoint(state, progress={"done": state["n"], "total": 2})
        if state["n"] == 2:
            return job.done(state["n"])
        return job.continue_with(state)

    rc._user_handler = user
    assert rc.handler({}, _ctx("root"))["continued"] is True
    sha = fake.requests[0].event["_recursectl"]["job"]["ref"]["sha256"]
    assert (
        calls
        == [
            ("PutItem", "job#root"),  # the job's record
            ("UpdateItem", "job#root#0"),  # the claim
            ("PutObject", sha[:8]),  # the checkpoint's state, spilled
            ("UpdateItem", "job#root"),  # the checkpoint
            ("UpdateItem", "job#root"),  # continue: the checkpoint and the next hop's count
            ("UpdateItem", "job#root#0"),  # the claim done
        ]
    )
    calls.clear()
    assert rc.handler(fake.requests[0].event, _ctx("hop-1")) == 2
    assert [op for op, _ in calls] == [
        "UpdateItem",  # the claim
        "UpdateItem",  # the record: seq, attempt, hops
        "GetObject",  # the state
        "PutObject",  # the checkpoint's new state
        "UpdateItem",  # the checkpoint
        "UpdateItem",  # done
        "UpdateItem",  # the claim done
    ]
    record = _item(ddb, "job#root")
    assert (record["status"], record["n"], record["hops"]) == (
        {"S": "done"}, {"N": "1"}, {"N": "2"}
    )  # fmt: skip


def test_a_continuation_the_budget_refuses_fails_the_job_with_its_checkpoint_saved(
    helper: tuple[ModuleType, FakeLambda], ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, fake = helper

    def user(event: Any, context: Any) -> Any:
        job = rc.job(event, context)
        ddb.update_item(  # the job's budget spent meanwhile (its hops' fan-out, say)
            TableName=TABLE,
            Key={"chain": {"S": "job#root"}},
            UpdateExpression="SET #n = :n",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":n": {"N": "5000"}},
        )
        return job.continue_with({"k": 7})

    rc._user_handler = user
    out = rc.handler({}, _ctx("root"))
    assert out == {"job": "root", "seq": 0, "continued": False, "status": "failed"}
    assert fake.requests == []
    record = _item(ddb, "job#root")
    assert record["status"] == {"S": "failed"}
    assert "invocations is spent" in record["error"]["S"]
    assert record["n"] == {"N": "5000"}  # not counted
    assert json.loads(record["checkpoint"]["S"]) == {"seq": 0, "state": {"k": 7}}
    evs = [(m["ev"], m.get("reason") or m.get("status")) for m in markers(capsys.readouterr().out)]
    assert evs[-3:] == [("capped", "budget"), ("checkpoint", None), ("job", "failed")]


class _Died(BaseException):
    """The hop's process ended there (a crash, a timeout): nothing after it runs."""


def _batches_job(rc: ModuleType, processed: list[tuple[int, str]]) -> Any:
    """A job of 3 batches, one per hop; each batch's processing is recorded with its hop."""

    def user(event: Any, context: Any) -> Any:
        job = rc.job(event, context)
        batch = (job.state or {}).get("next", 0)
        processed.append((batch, context.aws_request_id))
        if batch + 1 >= 3:
            return job.done({"batches": 3})
        return job.continue_with({"next": batch + 1})

    return user


@pytest.fixture
def ten_hops(
    endpoint: str, ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ModuleType, FakeLambda]]:
    yield from _helper(endpoint, monkeypatch, RECURSECTL_JOB_BOUNDS='{"max_hops":10}')


@pytest.mark.parametrize("retry_first", [False, True], ids=["next-hop-first", "retry-first"])
def test_a_hop_that_dies_after_sending_its_continuation_is_not_run_again(
    ten_hops: tuple[ModuleType, FakeLambda],
    ddb: Any,
    monkeypatch: pytest.MonkeyPatch,
    retry_first: bool,
) -> None:
    """Each batch is processed once, whether the dead hop's retry comes before or after the
    hop it had already handed over to (a retry that arrives first sends that hop again, as
    its Invoke may not have happened: the next hop's claim drops the copy)."""
    rc, fake = ten_hops
    processed: list[tuple[int, str]] = []
    rc._user_handler = _batches_job(rc, processed)

    def die(*args: Any, **kwargs: Any) -> None:
        raise _Died  # after the Invoke of hop 1 returned, before hop 0's claim is done

    with monkeypatch.context() as m:
        m.setattr(rc._jobs().Job, "_claim_done", die)
        with pytest.raises(_Died):
            rc.handler({"total": 3}, _ctx("hop-0"))
    (handed,) = fake.requests
    next_hop = handed.event
    retry = _failure("hop-0", {"total": 3}, "Task timed out after 3.00 seconds")
    if retry_first:
        rc.handler(copy.deepcopy(retry), _ctx("retry-0"))
        rc.handler(copy.deepcopy(next_hop), _ctx("hop-1"))
        # The retry's copy of hop 1 (if it sent one) finds hop 1 claimed.
        for request in fake.requests[1:]:
            if request.event["_recursectl"]["job"]["seq"] == 1:
                rc.handler(copy.deepcopy(request.event), _ctx("hop-1-copy"))
    else:
        rc.handler(copy.deepcopy(next_hop), _ctx("hop-1"))
        rc.handler(copy.deepcopy(retry), _ctx("retry-0"))
    # Hop 1 continued to hop 2: deliver it (once).
    (last,) = [r for r in fake.requests if r.event["_recursectl"]["job"]["seq"] == 2]
    rc.handler(copy.deepcopy(last.event), _ctx("hop-2"))
    assert sorted(batch for batch, _ in processed) == [0, 1, 2]  # each batch once
    assert [rid for _, rid in processed] == ["hop-0", "hop-1", "hop-2"]
    assert _item(ddb, "job#hop-0")["status"] == {"S": "done"}
