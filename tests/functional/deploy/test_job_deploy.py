"""Deploy of a job function ([job] table) against the real front door: the job bucket (created
or adopted), the role's scope, the function's job variables, the retry path, convergence."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from recursectl import protocol
from recursectl.deploy.plan import Op
from recursectl.errors import NotFoundError, NotOursError
from recursectl.names import JOB_LIFECYCLE_RULE, job_bucket_for
from recursectl.settings import Settings
from tests.support.deploying import deploy_demo

ARN = "arn:aws:lambda:us-east-1:123456789012:function:demo"
BUCKET = job_bucket_for("demo", "123456789012", "us-east-1")


def job_settings(**kw: Any) -> Settings:
    return Settings(name="demo", job=True, **kw)


def _s3(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def _policy(endpoint: str) -> dict[str, Any]:
    iam = boto3.client("iam", endpoint_url=endpoint)
    doc = iam.get_role_policy(RoleName="demo-role", PolicyName="recursectl-self-invoke")
    raw = doc["PolicyDocument"]
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def test_a_job_function_gets_a_private_expiring_bucket_and_a_role_scoped_to_its_prefix(
    endpoint: str,
) -> None:
    _, result = deploy_demo(endpoint, job_settings(job_max_hops=500, job_state_ttl_days=3))
    assert [s.op for s in result.steps if s.op == Op.ENSURE_JOB_BUCKET] == [Op.ENSURE_JOB_BUCKET]
    s3 = _s3(endpoint)
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert tags["managed-by"] == "recursectl"
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (life,) = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert (life["ID"], life["Filter"]["Prefix"], life["Expiration"]["Days"]) == (
        JOB_LIFECYCLE_RULE,
        "recursectl/",
        3,
    )
    statements = {s.get("Sid"): s for s in _policy(endpoint)["Statement"]}
    assert statements["JobState"]["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert statements["JobState"]["Resource"] == [f"arn:aws:s3:::{BUCKET}/recursectl/demo/*"]
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/demo-recursectl-chains"
    assert statements["KeepOwnJobs"]["Resource"] == [table]
    assert statements["CountOwnChains"]["Resource"] == [table]
    lam = boto3.client("lambda", endpoint_url=endpoint)
    env = lam.get_function_configuration(FunctionName="demo")["Environment"]["Variables"]
    assert env[protocol.JOB_BUCKET_ENV] == BUCKET
    assert json.loads(env[protocol.JOB_BOUNDS_ENV]) == {"max_hops": 500, "max_seconds": 21600}
    assert protocol.JOB_MARGIN_ENV not in env
    config = lam.get_function_event_invoke_config(FunctionName="demo")
    assert config["MaximumRetryAttempts"] == 0
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == ARN
    assert "is a job function" in " ".join(result.warnings)
    assert result.to_json()["job"]["bucket"] == BUCKET


def test_a_job_deploy_converges_and_a_dead_half_deploy_finishes(endpoint: str) -> None:
    deploy_demo(endpoint, job_settings())
    _, again = deploy_demo(endpoint, job_settings())
    assert again.steps == []
    # A deploy that died after creating the bucket, before tagging it: the next one takes it.
    _s3(endpoint).delete_bucket_tagging(Bucket=BUCKET)
    lam = boto3.client("lambda", endpoint_url=endpoint)
    lam.untag_resource(Resource=ARN, TagKeys=["recursectl:applied"])
    _, third = deploy_demo(endpoint, job_settings())
    assert Op.ENSURE_JOB_BUCKET in [s.op for s in third.steps]
    tags = _s3(endpoint).get_bucket_tagging(Bucket=BUCKET)["TagSet"]
    assert {"Key": "managed-by", "Value": "recursectl"} in tags


def test_an_adopted_bucket_keeps_its_rules_and_is_not_tagged(endpoint: str) -> None:
    s3 = _s3(endpoint)
    s3.create_bucket(Bucket="team-bucket")
    s3.put_bucket_lifecycle_configuration(
        Bucket="team-bucket",
        LifecycleConfiguration={
            "Rules": [
                {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
                 "Expiration": {"Days": 30}}
            ]
        },
    )  # fmt: skip
    _, result = deploy_demo(endpoint, job_settings(job_bucket="team-bucket"))
    rules = {
        r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket="team-bucket")["Rules"]
    }
    assert set(rules) == {"logs", JOB_LIFECYCLE_RULE}
    with pytest.raises(s3.exceptions.ClientError):  # not tagged: not ours
        s3.get_bucket_tagging(Bucket="team-bucket")
    assert any("does not block all public access" in w for w in result.warnings)
    statements = {s.get("Sid"): s for s in _policy(endpoint)["Statement"]}
    assert statements["JobState"]["Resource"] == ["arn:aws:s3:::team-bucket/recursectl/demo/*"]


def test_an_adopted_bucket_that_does_not_exist_is_a_clear_error(endpoint: str) -> None:
    with pytest.raises(NotFoundError, match=r"S3 bucket gone-bucket .* does not exist"):
        deploy_demo(endpoint, job_settings(job_bucket="gone-bucket"))


def test_a_bucket_of_that_name_that_is_not_ours_is_refused(endpoint: str) -> None:
    s3 = _s3(endpoint)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "team", "Value": "x"}]})
    with pytest.raises(NotOursError, match=rf"S3 bucket {BUCKET} exists but is not managed"):
        deploy_demo(endpoint, job_settings())


def test_a_function_that_stops_being_a_job_loses_its_self_destination(endpoint: str) -> None:
    deploy_demo(endpoint, job_settings(job_margin_ms=1500))
    lam = boto3.client("lambda", endpoint_url=endpoint)
    env = lam.get_function_configuration(FunctionName="demo")["Environment"]["Variables"]
    assert env[protocol.JOB_MARGIN_ENV] == "1500"
    _, result = deploy_demo(endpoint, Settings(name="demo"))
    config = lam.get_function_event_invoke_config(FunctionName="demo")
    assert not config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    env = lam.get_function_configuration(FunctionName="demo")["Environment"]["Variables"]
    assert protocol.JOB_BUCKET_ENV not in env
    assert any(s.op == Op.PUT_INVOKE_CONFIG for s in result.steps)


def test_a_redeploy_creates_a_bucket_that_was_deleted_again(endpoint: str) -> None:
    deploy_demo(endpoint, job_settings())
    s3 = _s3(endpoint)
    s3.delete_bucket(Bucket=BUCKET)
    _, result = deploy_demo(endpoint, job_settings())
    assert [s.op for s in result.steps] == [Op.ENSURE_JOB_BUCKET]
    assert s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"][0]["ID"] == (
        JOB_LIFECYCLE_RULE
    )
    _, again = deploy_demo(endpoint, job_settings())
    assert again.steps == []


def test_an_adopted_bucket_deleted_since_is_a_clear_error(endpoint: str) -> None:
    s3 = _s3(endpoint)
    s3.create_bucket(Bucket="team-bucket")
    deploy_demo(endpoint, job_settings(job_bucket="team-bucket"))
    s3.delete_bucket(Bucket="team-bucket")
    with pytest.raises(NotFoundError, match=r"S3 bucket team-bucket \(`bucket` in \[job\]\)"):
        deploy_demo(endpoint, job_settings(job_bucket="team-bucket"))
