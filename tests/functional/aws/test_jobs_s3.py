"""aws/jobs.JobsApi and aws/s3.JobBucketApi through real boto3 against the local cloud (moto's
DynamoDB and S3 behind the front door)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.support.deploying import local_aws

TABLE = "fn-recursectl-chains"


@pytest.fixture
def table(endpoint: str) -> str:
    local_aws(endpoint).counter_api.ensure_table(TABLE, {"managed-by": "recursectl"})
    return TABLE


def _put(endpoint: str, item: dict[str, Any]) -> None:
    boto3.client("dynamodb", endpoint_url=endpoint).put_item(TableName=TABLE, Item=item)


def _job(job_id: str, status: str, started: int) -> dict[str, Any]:
    return {
        "chain": {"S": f"job#{job_id}"},
        "status": {"S": status},
        "started_ms": {"N": str(started)},
        # written as JSON text by a helper that prefers strings: read the same
        "checkpoint": {"S": '{"seq": 2, "state": {"next": 20}}'},
    }


def test_jobs_are_listed_across_pages_without_claims_or_chain_counters(
    endpoint: str, table: str
) -> None:
    for i in range(30):
        _put(endpoint, _job(f"j{i:02d}", "running", 1000 + i))
        _put(endpoint, {"chain": {"S": f"job#j{i:02d}#0"}, "status": {"S": "done"}})
    _put(endpoint, {"chain": {"S": "some-chain-id"}, "n": {"N": "3"}})  # a chain's counter
    api = local_aws(endpoint).jobs_api
    client = api._client
    pages: list[int] = []
    scan = client.scan

    def small_pages(**kw: Any) -> Any:  # moto pages by size only: make pages of 7 items
        got = scan(Limit=7, **kw)
        pages.append(len(got.get("Items", [])))
        return got

    client.scan = small_pages
    try:
        jobs = api.list_jobs(table)
    finally:
        client.scan = scan
    assert len(pages) > 5
    assert [j.id for j in jobs] == [f"j{i:02d}" for i in reversed(range(30))]
    assert jobs[0].checkpoint == {"seq": 2, "state": {"next": 20}}


def test_status_changes_are_conditional(endpoint: str, table: str) -> None:
    _put(endpoint, _job("a", "paused", 1))
    api = local_aws(endpoint).jobs_api
    after = api.set_status(table, "a", "running", ("paused", "failed"), now_ms=5)
    assert after is not None
    assert (after.status, after.updated_ms) == ("running", 5)
    assert api.set_status(table, "a", "running", ("paused", "failed"), now_ms=6) is None
    assert api.set_status(table, "missing", "cancelled", ("running",), now_ms=6) is None
    assert api.get_job(table, "missing") is None  # the condition created nothing
    job = api.get_job(table, "a")
    assert job is not None
    assert job.status == "running"


def test_claims_are_read(endpoint: str, table: str) -> None:
    _put(
        endpoint,
        {
            "chain": {"S": "job#a#4"},
            "owner": {"S": "req"},
            "attempt": {"N": "2"},
            "status": {"S": "claimed"},
        },
    )
    api = local_aws(endpoint).jobs_api
    claim = api.get_claim(table, "a", 4)
    assert claim is not None
    assert (claim.owner, claim.attempt, claim.status) == ("req", 2, "claimed")
    assert api.get_claim(table, "a", 5) is None


def test_the_bucket_lifecycle_keeps_other_rules_and_is_written_once(endpoint: str) -> None:
    api = local_aws(endpoint).job_bucket_api
    assert api.bucket_tags("b-jobs") is None
    assert api.create_bucket("b-jobs") is True
    assert api.bucket_tags("b-jobs") == {}
    api.tag("b-jobs", {"managed-by": "recursectl"})
    api.tag("b-jobs", {"recursectl:project": "p"})  # adds: PutBucketTagging replaces
    assert api.bucket_tags("b-jobs") == {"managed-by": "recursectl", "recursectl:project": "p"}
    assert api.posture("b-jobs").public_access_blocked is False
    api.secure("b-jobs")
    posture = api.posture("b-jobs")
    assert (posture.public_access_blocked, posture.encrypted) == (True, True)
    assert api.expire_prefix("b-jobs", "r1", "recursectl/", 14) is True
    assert api.expire_prefix("b-jobs", "r1", "recursectl/", 14) is False  # already so
    assert api.expire_prefix("b-jobs", "r1", "recursectl/", 3) is True
    assert [r["Expiration"]["Days"] for r in api.lifecycle_rules("b-jobs")] == [3]


def test_emptying_and_deleting_a_bucket_with_versions(endpoint: str) -> None:
    api = local_aws(endpoint).job_bucket_api
    api.create_bucket("b-del")
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.put_bucket_versioning(Bucket="b-del", VersioningConfiguration={"Status": "Enabled"})
    for i in range(3):
        s3.put_object(Bucket="b-del", Key="recursectl/fn/state/x", Body=str(i).encode())
    s3.delete_object(Bucket="b-del", Key="recursectl/fn/state/x")  # a delete marker
    assert api.count_objects("b-del") == 0  # only the current versions count
    assert api.empty_and_delete("b-del") == 4
    assert api.bucket_tags("b-del") is None
    assert api.empty_and_delete("b-del") == 0  # gone already


def test_a_bucket_this_account_owns_is_not_an_error(endpoint: str) -> None:
    api = local_aws(endpoint).job_bucket_api
    api.create_bucket("b-twice")
    # us-east-1 answers 200 to a bucket its owner creates again (other regions answer
    # BucketAlreadyOwnedByYou, which create_bucket turns into False): no error either way
    api.create_bucket("b-twice")
    assert api.bucket_tags("b-twice") == {}


def test_a_running_job_adopts_a_newer_generation_once(endpoint: str, table: str) -> None:
    _put(endpoint, {**_job("r", "running", 1), "gen": {"N": "0"}})
    _put(endpoint, _job("nogen", "running", 1))  # a record without gen: adopts too
    _put(endpoint, {**_job("p", "paused", 1), "gen": {"N": "0"}})
    api = local_aws(endpoint).jobs_api
    assert api.adopt_generation(table, "r", 2, now_ms=9) is True
    assert api.adopt_generation(table, "r", 2, now_ms=9) is False  # has it already
    assert api.adopt_generation(table, "r", 1, now_ms=9) is False  # never lowered
    assert api.adopt_generation(table, "nogen", 2, now_ms=9) is True
    assert api.adopt_generation(table, "p", 2, now_ms=9) is False  # not running
    job = api.get_job(table, "r")
    assert job is not None
    assert (job.gen, job.updated_ms) == (2, 9)
    resumed = api.set_status(table, "p", "running", ("paused",), now_ms=10, gen=2)
    assert resumed is not None
    assert (resumed.status, resumed.gen) == ("running", 2)
