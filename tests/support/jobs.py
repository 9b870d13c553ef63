"""Job functions on the local cloud, set up as `recursectl deploy` will for a `[job]` table
(docs/jobs.md): the function behind the helper's entry point with its counter table, then
`configure_job` (the bucket, RECURSECTL_JOB_BUCKET / RECURSECTL_JOB_BOUNDS, the on-failure
destination to itself with no async retries, loop detection off). `configure_job` is the one
place to swap for deploy once deploy does it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from recursectl import protocol
from tests.support.localcloud import NO_RETRY, deploy_function, wait_updated

ROOT = Path(__file__).resolve().parents[2]
PYTHON_HELPERS = [ROOT / "templates" / "python" / name for name in protocol.PYTHON_HELPER_FILES]
NODE_HELPERS = sorted((ROOT / "templates" / "node").glob("recursectl_chain*.cjs"))
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class JobFunction:
    name: str
    arn: str
    table: str
    bucket: str
    lam: Any
    ddb: Any
    s3: Any

    def record(self, job_id: str) -> dict[str, Any]:
        """The job's record (`job#<id>`) as stored, {} when there is none."""
        got = self.ddb.get_item(
            TableName=self.table,
            Key={"chain": {"S": protocol.JOB_RECORD_PREFIX + job_id}},
            ConsistentRead=True,
        )
        return dict(got.get("Item") or {})

    def claim(self, job_id: str, seq: int) -> dict[str, Any]:
        got = self.ddb.get_item(
            TableName=self.table,
            Key={"chain": {"S": f"{protocol.JOB_RECORD_PREFIX}{job_id}#{seq}"}},
            ConsistentRead=True,
        )
        return dict(got.get("Item") or {})


TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def job_policy(name: str, arn: str, table: str, bucket: str) -> dict[str, Any]:
    """The least-privilege policy deploy writes for a job function (its table, its prefix)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*",
            },
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": [arn, f"{arn}:*"]},
            {
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                "Resource": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table}",
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{bucket}/{protocol.JOB_STATE_PREFIX}{name}/*",
            },
        ],
    }


def _role(iam: Any, name: str, arn: str, table: str, bucket: str) -> str:
    role_name = f"{name}-role"
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(TRUST))
    policy = json.dumps(job_policy(name, arn, table, bucket))
    iam.put_role_policy(RoleName=role_name, PolicyName="own", PolicyDocument=policy)
    return str(role["Role"]["Arn"])


def configure_job(fn: JobFunction, bounds: dict[str, Any] | None = None) -> None:
    """What deploy does for a `[job]` table, on an already deployed function."""
    fn.s3.create_bucket(Bucket=fn.bucket)
    env = fn.lam.get_function_configuration(FunctionName=fn.name)["Environment"]["Variables"]
    env[protocol.JOB_BUCKET_ENV] = fn.bucket
    env[protocol.JOB_BOUNDS_ENV] = json.dumps(bounds or {"max_hops": 1000}, separators=(",", ":"))
    fn.lam.update_function_configuration(FunctionName=fn.name, Environment={"Variables": env})
    wait_updated(fn.lam, fn.name)
    fn.lam.put_function_event_invoke_config(
        FunctionName=fn.name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": fn.arn}},
    )
    fn.lam.put_function_recursion_config(FunctionName=fn.name, RecursiveLoop="Allow")


def deploy_job_function(
    endpoint: str,
    name: str,
    source: str,
    *,
    runtime: str = "python3.11",
    timeout: int = 3,
    env: dict[str, str] | None = None,
    bounds: dict[str, Any] | None = None,
) -> JobFunction:
    """`source` (handler.py or handler.js exporting `handler`) deployed as a job function."""
    lam = boto3.client("lambda", endpoint_url=endpoint, config=NO_RETRY)
    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    s3 = boto3.client("s3", endpoint_url=endpoint)
    iam = boto3.client("iam", endpoint_url=endpoint)
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    table = f"{name}-recursectl-chains"
    bucket = f"{name}-recursectl-jobs"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "chain", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "chain", "KeyType": "HASH"}],
    )
    if runtime.startswith("nodejs"):
        files = {"handler.js": source, **{p.name: p.read_text() for p in NODE_HELPERS}}
    else:
        files = {"handler.py": source, **{p.name: p.read_text() for p in PYTHON_HELPERS}}
    variables = {
        protocol.HANDLER_ENV: "handler.handler",
        protocol.SELF_ARN_ENV: arn,
        protocol.MAX_CALLS_ENV: "25",
        protocol.GENERATION_ENV: "0",
        protocol.COUNTER_TABLE_ENV: table,
        **(env or {}),
    }
    role = _role(iam, name, arn, table, bucket)
    deploy_function(
        lam, role, name, files, handler=protocol.ENTRY_POINT, timeout=timeout,
        env=variables, runtime=runtime,
    )  # fmt: skip
    fn = JobFunction(name, arn, table, bucket, lam, ddb, s3)
    configure_job(fn, bounds)
    return fn
