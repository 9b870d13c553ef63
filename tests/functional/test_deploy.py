"""deploy against the real front door (moto behind real HTTP on loopback)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from recursectl import deploy, package
from recursectl.aws import Aws, Target
from recursectl.errors import AwsError, NotOursError
from recursectl.settings import Settings

ACCOUNT = "123456789012"
ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:demo"
WRITES = ("Create", "Put", "Update", "Tag", "Delete")


def _aws(endpoint: str) -> Aws:
    return Aws(Target(endpoint_url=endpoint, region="us-east-1", local=True), sleep=lambda s: None)


def _writes(aws: Aws) -> list[str]:
    return [c for c in aws.calls if c.split(".", 1)[1].startswith(WRITES)]


def _deploy(
    endpoint: str, settings: Settings | None = None, handler: Path | None = None, **kw: Any
) -> tuple[Aws, deploy.DeployResult]:
    settings = settings or Settings(name="demo")
    pkg = package.build(package.parse_handler(str(handler) if handler else settings.handler))
    aws = _aws(endpoint)
    return aws, deploy.deploy(aws, settings, pkg, **kw)


def test_first_deploy_creates_everything_least_privilege(endpoint: str) -> None:
    aws, result = _deploy(endpoint)
    assert result.function_arn == ARN
    assert [s.op for s in result.steps] == [
        "create_role",
        "put_policy",
        "create_log_group",
        "create_function",
        "put_invoke_config",
        "put_recursion",
        "stamp",
    ]
    iam = boto3.client("iam", endpoint_url=endpoint)
    role = iam.get_role(RoleName="demo-role")["Role"]
    assert {t["Key"]: t["Value"] for t in role["Tags"]} == {"managed-by": "recursectl"}
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
    assert iam.list_role_policies(RoleName="demo-role")["PolicyNames"] == ["recursectl-self-invoke"]
    doc = iam.get_role_policy(RoleName="demo-role", PolicyName="recursectl-self-invoke")[
        "PolicyDocument"
    ]
    assert doc == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/demo:*"],
            },
            {
                "Sid": "InvokeSelf",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [ARN, f"{ARN}:*"],
            },
        ],
    }
    lam = boto3.client("lambda", endpoint_url=endpoint)
    fn = lam.get_function(FunctionName="demo")
    cfg = fn["Configuration"]
    assert cfg["Environment"]["Variables"] == {
        "RECURSECTL_SELF_ARN": ARN,
        "RECURSECTL_MAX_CALLS": "25",
    }
    assert cfg["Role"] == role["Arn"]
    assert cfg["Handler"] == "handler.handler"
    assert cfg["CodeSha256"] == result.code_sha256
    assert fn["Tags"]["managed-by"] == "recursectl"
    assert lam.get_function_event_invoke_config(FunctionName="demo")["MaximumRetryAttempts"] == 0
    assert lam.get_function_recursion_config(FunctionName="demo")["RecursiveLoop"] == "Allow"
    logs = boto3.client("logs", endpoint_url=endpoint)
    (group,) = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/demo")["logGroups"]
    assert group["retentionInDays"] == 14
    assert any("cap of 25" in w for w in result.warnings)
    # the ARN was computed (STS) before the function existed: one deploy is enough
    assert aws.calls.index("sts.GetCallerIdentity") < aws.calls.index("lambda.CreateFunction")


def test_second_deploy_makes_no_write_calls(endpoint: str) -> None:
    _deploy(endpoint)
    aws, result = _deploy(endpoint)
    assert result.unchanged
    assert _writes(aws) == []
    assert aws.calls == [
        "lambda.GetFunction",
        "lambda.GetFunctionEventInvokeConfig",
        "iam.GetRolePolicy",
        "logs.DescribeLogGroups",
    ]


def test_retries_switched_back_on_by_hand_are_switched_off_by_redeploy(endpoint: str) -> None:
    _deploy(endpoint)
    lam = boto3.client("lambda", endpoint_url=endpoint)
    lam.put_function_event_invoke_config(FunctionName="demo", MaximumRetryAttempts=2)
    _, result = _deploy(endpoint)
    assert [s.op for s in result.steps] == ["put_invoke_config"]
    assert lam.get_function_event_invoke_config(FunctionName="demo")["MaximumRetryAttempts"] == 0


def test_code_change_updates_code_only(endpoint: str, tmp_path: Path) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text("def handler(event, context):\n    return 1\n")
    _deploy(endpoint, handler=handler)
    handler.write_text("def handler(event, context):\n    return 2\n")
    aws, result = _deploy(endpoint, handler=handler)
    assert [s.op for s in result.steps] == ["update_code"]
    assert _writes(aws) == ["lambda.UpdateFunctionCode"]
    # waited for (function_updated_v2 polls GetFunction) before returning
    assert aws.calls[-1] == "lambda.GetFunction"
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.get_function(FunctionName="demo")["Configuration"]["CodeSha256"] == (
        result.code_sha256
    )


def test_config_change_updates_config_and_recursion(endpoint: str) -> None:
    _deploy(endpoint)
    _, result = _deploy(endpoint, Settings(name="demo", max_calls=10, memory=256))
    assert [s.op for s in result.steps] == ["update_config", "put_recursion", "stamp"]
    lam = boto3.client("lambda", endpoint_url=endpoint)
    cfg = lam.get_function(FunctionName="demo")["Configuration"]
    assert cfg["MemorySize"] == 256
    assert cfg["Environment"]["Variables"]["RECURSECTL_MAX_CALLS"] == "10"
    assert lam.get_function_recursion_config(FunctionName="demo")["RecursiveLoop"] == "Terminate"
    assert result.warnings == []


def test_dry_run_changes_nothing(endpoint: str) -> None:
    aws, result = _deploy(endpoint, dry_run=True)
    assert result.dry_run
    assert "create_function" in [s.op for s in result.steps]
    assert _writes(aws) == []
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.list_functions()["Functions"] == []


def test_fresh_role_not_yet_assumable_is_retried(endpoint: str) -> None:
    failures = {"left": 2}
    aws = _aws(endpoint)

    def not_yet(**_: Any) -> Any:
        # What Lambda answers for seconds after CreateRole, before IAM has propagated.
        if failures["left"]:
            failures["left"] -= 1
            error = {
                "Error": {
                    "Code": "InvalidParameterValueException",
                    "Message": "The role defined for the function cannot be assumed by Lambda.",
                }
            }
            return (type("R", (), {"status_code": 400, "headers": {}})(), error)
        return None

    aws.lambda_.meta.events.register("before-call.lambda.CreateFunction", not_yet)
    seen: list[str] = []
    pkg = package.build(package.parse_handler(None))
    deploy.deploy(aws, Settings(name="demo"), pkg, progress=seen.append)
    assert failures["left"] == 0
    assert sum("role to become assumable" in m for m in seen) == 2
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.get_function(FunctionName="demo")["Configuration"]["FunctionName"] == "demo"


def test_failed_deploy_converges_on_rerun(endpoint: str) -> None:
    aws = _aws(endpoint)

    def boom(**_: Any) -> Any:
        error = {"Error": {"Code": "ServiceException", "Message": "Lambda had a bad day"}}
        return (type("R", (), {"status_code": 500, "headers": {}})(), error)

    aws.lambda_.meta.events.register("before-call.lambda.PutFunctionRecursionConfig", boom)
    pkg = package.build(package.parse_handler(None))
    with pytest.raises(AwsError, match="bad day"):
        deploy.deploy(aws, Settings(name="demo"), pkg)
    _, result = _deploy(endpoint)
    assert [s.op for s in result.steps] == ["put_recursion", "stamp"]
    _, again = _deploy(endpoint)
    assert again.unchanged


def test_not_ours_refused_then_adopted(endpoint: str) -> None:
    iam = boto3.client("iam", endpoint_url=endpoint)
    trust = json.dumps(deploy.trust_document())
    role = iam.create_role(RoleName="other", AssumeRolePolicyDocument=trust)["Role"]
    lam = boto3.client("lambda", endpoint_url=endpoint)
    zip_bytes = package.build_zip({"h.py": b"def handler(e, c):\n    return 0\n"})
    lam.create_function(
        FunctionName="demo",
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="h.handler",
        Code={"ZipFile": zip_bytes},
        Environment={"Variables": {"THEIRS": "1"}},
    )
    with pytest.raises(NotOursError):
        _deploy(endpoint)
    cfg = lam.get_function(FunctionName="demo")["Configuration"]
    assert cfg["Environment"]["Variables"] == {"THEIRS": "1"}  # untouched
    assert iam.list_roles()["Roles"][0]["RoleName"] == "other"  # nothing created
    assert len(iam.list_roles()["Roles"]) == 1

    _, result = _deploy(endpoint, adopt=True)
    assert "tag_function" in [s.op for s in result.steps]
    fn = lam.get_function(FunctionName="demo")
    assert fn["Tags"]["managed-by"] == "recursectl"
    assert fn["Configuration"]["Role"].endswith(":role/demo-role")
    assert "THEIRS" not in fn["Configuration"]["Environment"]["Variables"]


def test_toml_write_back_keeps_comments(endpoint: str, tmp_path: Path) -> None:
    cfg = tmp_path / "recursectl.toml"
    cfg.write_text('# my function\nname = "demo"  # the name\n\n# cap\nmax_calls = 25\n')
    settings = Settings(name="demo", config_path=cfg)
    _, result = _deploy(endpoint, settings)
    assert result.config_written == cfg
    text = cfg.read_text()
    assert text.startswith('# my function\nname = "demo"  # the name\n\n# cap\nmax_calls = 25\n')
    assert f'function_arn = "{ARN}"' in text
    _, again = _deploy(endpoint, settings)
    assert again.config_written is None  # already there: file not rewritten
    assert again.unchanged


def test_concurrency_is_reserved_when_configured(endpoint: str) -> None:
    _deploy(endpoint, Settings(name="demo", concurrency=3))
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.get_function_concurrency(FunctionName="demo")["ReservedConcurrentExecutions"] == 3
    aws, again = _deploy(endpoint, Settings(name="demo", concurrency=3))
    assert again.unchanged
    assert _writes(aws) == []


def test_deploy_keeps_a_stopped_function_stopped(endpoint: str) -> None:
    settings = Settings(name="demo", concurrency=3)
    _deploy(endpoint, settings)
    lam = boto3.client("lambda", endpoint_url=endpoint)
    lam.put_function_concurrency(FunctionName="demo", ReservedConcurrentExecutions=0)
    _, result = _deploy(endpoint, dataclasses.replace(settings, memory=256))
    assert [s.op for s in result.steps] == ["update_config"]
    assert any("stopped" in w for w in result.warnings)
    assert lam.get_function_concurrency(FunctionName="demo")["ReservedConcurrentExecutions"] == 0
