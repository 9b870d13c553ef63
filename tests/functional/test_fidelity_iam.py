"""Execution-role credentials and IAM (issue 11 row 1): handlers call AWS as their role, and
the local cloud enforces the role's policies on those calls; the CLI's calls stay unrestricted.

Real boto3 clients against the session's front door, real workers; one function made by plain
`create-function`, one by recursectl's deploy (its own least-privilege policy)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from recursectl import protocol
from recursectl.aws import Aws, Target
from recursectl.build import package
from recursectl.deploy import apply
from recursectl.names import policy_document, trust_document
from recursectl.settings import Settings
from tests.support.localcloud import make_zip, wait_active

ACCOUNT = "123456789012"
FN_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"

# Reports what its credentials may do: S3, another function, itself (once).
PROBE = """
import json, os
import boto3

def _try(call):
    try:
        call()
        return "ok"
    except Exception as exc:
        err = getattr(exc, "response", {}).get("Error", {})
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        return {"code": err.get("Code"), "message": err.get("Message"), "status": status}

def handler(event, context):
    lam = boto3.client("lambda")
    out = {
        "key": os.environ["AWS_ACCESS_KEY_ID"],
        "token": bool(os.environ.get("AWS_SESSION_TOKEN")),
        "caller": boto3.client("sts").get_caller_identity()["Arn"],
        "s3": _try(lambda: boto3.client("s3").list_buckets()),
        "read_logs": _try(lambda: boto3.client("logs").filter_log_events(
            logGroupName=os.environ["AWS_LAMBDA_LOG_GROUP_NAME"], limit=1)),
    }
    if event.get("other"):
        out["other"] = _try(lambda: lam.invoke(FunctionName=event["other"], Payload=b"{}"))
    if not event.get("child"):
        self_arn = os.environ.get("RECURSECTL_SELF_ARN", context.function_name)
        out["self"] = _try(lambda: lam.invoke(FunctionName=self_arn, Payload=b'{"child": 1}'))
    return out
"""


def _run(lam: Any, name: str, event: dict[str, Any]) -> dict[str, Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event))
    assert "FunctionError" not in response, response["Payload"].read()
    result: dict[str, Any] = json.loads(response["Payload"].read())
    return result


def _role(iam: Any, name: str, policy: dict[str, Any]) -> str:
    arn = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(trust_document(ACCOUNT))
    )
    iam.put_role_policy(RoleName=name, PolicyName="own", PolicyDocument=json.dumps(policy))
    return str(arn["Role"]["Arn"])


def _create(lam: Any, name: str, role: str) -> None:
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": make_zip({"handler.py": PROBE})},
        Timeout=30,
    )
    wait_active(lam, name)


def test_a_handler_calls_aws_as_its_role_and_the_role_policy_is_enforced(
    endpoint: str, lam: Any
) -> None:
    iam = boto3.client("iam", endpoint_url=endpoint)
    # recursectl's own least-privilege policy, on a function made by plain create-function.
    own = policy_document(f"{FN_ARN}probe", "/aws/lambda/probe")
    _create(lam, "probe", _role(iam, "probe-role", own))
    logs_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}],
    }
    _create(lam, "logsonly", _role(iam, "logs-role", logs_only))

    out = _run(lam, "probe", {"other": "logsonly"})
    assert out["key"].startswith("ASIA")
    assert out["token"]
    assert out["caller"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/probe-role/probe"
    assert out["s3"]["code"] == "AccessDenied"
    assert out["s3"]["status"] == 403
    assert out["other"] == {
        "code": "AccessDeniedException",
        "status": 403,
        "message": f"User: arn:aws:sts::{ACCOUNT}:assumed-role/probe-role/probe is not authorized "
        f"to perform: lambda:InvokeFunction on resource: {FN_ARN}logsonly because no "
        "identity-based policy allows the lambda:InvokeFunction action",
    }
    assert out["self"] == "ok"  # InvokeSelf
    # Its logs are written for it, but reading them is not in its policy.
    assert out["read_logs"]["code"] == "AccessDeniedException"
    assert "logs:FilterLogEvents on resource: arn:aws:logs:" in out["read_logs"]["message"]
    # A role that allows only logs: not even its own function.
    alone = _run(lam, "logsonly", {})
    assert alone["self"]["code"] == "AccessDeniedException"
    assert alone["caller"].endswith(":assumed-role/logs-role/logsonly")

    # Granting it (an IAM write) takes effect on the next call: no stale decision.
    grant = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="probe-role", PolicyName="s3", PolicyDocument=json.dumps(grant))
    assert _run(lam, "probe", {"child": 1})["s3"] == "ok"
    managed = iam.create_policy(
        PolicyName="invoke-any",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "lambda:Invoke*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="probe-role", PolicyArn=managed)
    assert _run(lam, "probe", {"child": 1, "other": "logsonly"})["other"] == "ok"
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="probe-role", PolicyName="deny", PolicyDocument=json.dumps(deny))
    denied = _run(lam, "probe", {})["self"]
    assert denied["message"].endswith("with an explicit deny in an identity-based policy")

    # The CLI's own calls (any other key) stay unrestricted.
    assert boto3.client("s3", endpoint_url=endpoint).list_buckets()["Buckets"] == []
    assert lam.invoke(FunctionName="logsonly", Payload=b'{"child": 1}')["StatusCode"] == 200


def test_a_recursectl_deploy_passes_its_chain_and_gets_what_iam_statements_grant(
    endpoint: str, lam: Any, tmp_path: Path
) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text(PROBE, encoding="utf-8")
    aws = Aws(Target(endpoint_url=endpoint, region="us-east-1", local=True), sleep=lambda s: None)
    pkg = dataclasses.replace(
        package.build(package.parse_handler(str(handler))), entry_point=protocol.ENTRY_POINT
    )
    apply.deploy(aws, Settings(name="chained"), pkg)
    out = _run(lam, "chained", {})
    assert out["self"] == "ok"  # its own policy: the self-invoke passes
    assert out["s3"]["code"] == "AccessDenied"
    s3 = {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets"], "Resource": ["*"]}
    apply.deploy(aws, Settings(name="chained", iam_statements=(s3,)), pkg)
    assert _run(lam, "chained", {})["s3"] == "ok"


NODE_PROBE = """
const { LambdaClient, InvokeCommand } = require("@aws-sdk/client-lambda");
exports.handler = async (event) => {
  const out = { key: process.env.AWS_ACCESS_KEY_ID, token: !!process.env.AWS_SESSION_TOKEN };
  try {
    await new LambdaClient({}).send(new InvokeCommand({ FunctionName: event.other }));
    out.other = "ok";
  } catch (err) {
    out.other = err.name;
  }
  return out;
};
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_a_node_handler_gets_its_role_credentials_too(endpoint: str, lam: Any) -> None:
    iam = boto3.client("iam", endpoint_url=endpoint)
    role = _role(iam, "node-role", policy_document(f"{FN_ARN}nodeprobe", "/aws/lambda/nodeprobe"))
    lam.create_function(
        FunctionName="nodeprobe",
        Runtime="nodejs22.x",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": make_zip({"index.js": NODE_PROBE})},
        Timeout=30,
    )
    wait_active(lam, "nodeprobe")
    out = _run(lam, "nodeprobe", {"other": "someone-else"})
    assert out["key"].startswith("ASIA")
    assert out["token"] is True
    assert out["other"] == "AccessDeniedException"


def test_a_role_session_reads_logs_only_where_its_policy_allows(endpoint: str) -> None:
    """FilterLogEvents and StartLiveTail, served by the front door itself, are checked for a
    role session as `logs:` actions on the group (the CLI's own calls are not)."""
    from botocore.config import Config

    iam = boto3.client("iam", endpoint_url=endpoint)
    logs = boto3.client("logs", endpoint_url=endpoint)
    logs.create_log_group(logGroupName="/aws/lambda/readable")
    logs.create_log_group(logGroupName="/aws/lambda/secret")
    group = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/readable"
    reads = {"Effect": "Allow", "Action": ["logs:FilterLogEvents", "logs:StartLiveTail"]}
    policy = {"Version": "2012-10-17", "Statement": [{**reads, "Resource": f"{group}:*"}]}
    role = _role(iam, "reader-role", policy)
    creds = boto3.client("sts", endpoint_url=endpoint).assume_role(
        RoleArn=role, RoleSessionName="reader"
    )["Credentials"]
    session = boto3.client(
        "logs",
        endpoint_url=endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}),
    )
    assert session.filter_log_events(logGroupName="/aws/lambda/readable")["events"] == []
    stream = session.start_live_tail(logGroupIdentifiers=[group])["responseStream"]
    assert "sessionStart" in next(iter(stream))
    stream.close()
    for call in (
        lambda: session.filter_log_events(logGroupName="/aws/lambda/secret"),
        lambda: session.start_live_tail(logGroupIdentifiers=[group.replace("readable", "secret")]),
    ):
        with pytest.raises(session.exceptions.ClientError) as denied:
            call()
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert logs.filter_log_events(logGroupName="/aws/lambda/secret")["events"] == []  # the CLI


# Reads and writes S3 objects as its role: each call's outcome, by name.
S3_PROBE = """
import boto3
from botocore.exceptions import ClientError

s3 = boto3.client("s3")

def _try(call):
    try:
        call()
        return "ok"
    except ClientError as exc:
        return exc.response["Error"]["Code"]

def handler(event, context):
    return {
        "list": _try(lambda: s3.list_objects_v2(Bucket="data", Prefix="in/")),
        "get": _try(lambda: s3.get_object(Bucket="data", Key="in/a.json")["Body"].read()),
        "head": _try(lambda: s3.head_object(Bucket="data", Key="in/a.json")),
        "get_other": _try(lambda: s3.get_object(Bucket="data", Key="secret/b.json")),
        "put": _try(lambda: s3.put_object(Bucket="data", Key="out/c.json", Body=b"{}")),
        "put_in": _try(lambda: s3.put_object(Bucket="data", Key="in/c.json", Body=b"{}")),
        "buckets": _try(lambda: s3.list_buckets()),
    }
"""


def test_s3_calls_are_authorized_with_iam_action_names_whatever_moto_version(
    endpoint: str, lam: Any
) -> None:
    """AWS authorizes ListObjectsV2 as s3:ListBucket on the bucket and HeadObject as
    s3:GetObject; moto 5.2.6's own check used the operation names and refused both."""
    iam = boto3.client("iam", endpoint_url=endpoint)
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="in/a.json", Body=b"{}")
    s3.put_object(Bucket="data", Key="secret/b.json", Body=b"{}")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/in/*"},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::data/out/*"},
        ],
    }
    lam.create_function(
        FunctionName="s3probe",
        Runtime="python3.11",
        Role=_role(iam, "s3probe-role", policy),
        Handler="handler.handler",
        Code={"ZipFile": make_zip({"handler.py": S3_PROBE})},
        Timeout=30,
    )
    wait_active(lam, "s3probe")
    assert _run(lam, "s3probe", {}) == {
        "list": "ok",
        "get": "ok",
        "head": "ok",
        "get_other": "AccessDenied",
        "put": "ok",
        "put_in": "AccessDenied",
        "buckets": "AccessDenied",
    }
    assert s3.get_object(Bucket="data", Key="out/c.json")["Body"].read() == b"{}"
