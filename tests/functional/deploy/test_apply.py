"""deploy against the real front door (moto behind real HTTP on loopback)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from recursectl import protocol
from recursectl.aws import Aws
from recursectl.build import package
from recursectl.deploy import apply
from recursectl.errors import AwsError, NotOursError
from recursectl.names import trust_document
from recursectl.settings import Settings
from tests.support.deploying import demo_package, deploy_demo, local_aws

ACCOUNT = "123456789012"
ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:demo"
WRITES = ("Create", "Put", "Update", "Tag", "Delete")


def _writes(aws: Aws) -> list[str]:
    return [c for c in aws.calls if c.split(".", 1)[1].startswith(WRITES)]


def test_first_deploy_creates_everything_least_privilege(endpoint: str) -> None:
    aws, result = deploy_demo(endpoint)
    assert result.function_arn == ARN
    assert [s.op for s in result.steps] == [
        "create_role",
        "put_policy",
        "create_log_group",
        "ensure_counter",
        "create_function",
        "put_invoke_config",
        "put_recursion",
        "stamp",
    ]
    iam = boto3.client("iam", endpoint_url=endpoint)
    role = iam.get_role(RoleName="demo-role")["Role"]
    assert {t["Key"]: t["Value"] for t in role["Tags"]} == {"managed-by": "recursectl"}
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    # confused-deputy protection: Lambda may assume it on behalf of this account only
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
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
            {
                # the chain counter: one action, on this function's own table only
                "Sid": "CountOwnChains",
                "Effect": "Allow",
                "Action": ["dynamodb:UpdateItem"],
                "Resource": [f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/demo-recursectl-chains"],
            },
        ],
    }
    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    table = ddb.describe_table(TableName="demo-recursectl-chains")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "chain", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = ddb.describe_time_to_live(TableName="demo-recursectl-chains")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires")
    tags = ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    assert {"Key": "managed-by", "Value": "recursectl"} in tags
    lam = boto3.client("lambda", endpoint_url=endpoint)
    fn = lam.get_function(FunctionName="demo")
    cfg = fn["Configuration"]
    # handler redirection: the guard's entry point wraps the user's handler
    assert cfg["Handler"] == "recursectl_chain.handler"
    assert cfg["Environment"]["Variables"] == {
        "RECURSECTL_SELF_ARN": ARN,
        "RECURSECTL_MAX_CALLS": "25",
        "RECURSECTL_MAX_INVOCATIONS": "1000",
        "RECURSECTL_HANDLER": "handler.handler",
        "RECURSECTL_COUNTER_TABLE": "demo-recursectl-chains",
    }
    assert cfg["Role"] == role["Arn"]
    assert (result.handler, result.guard) == ("handler.handler", "recursectl_chain.handler")
    assert cfg["CodeSha256"] == result.code_sha256
    assert fn["Tags"]["managed-by"] == "recursectl"
    assert lam.get_function_event_invoke_config(FunctionName="demo")["MaximumRetryAttempts"] == 0
    assert lam.get_function_recursion_config(FunctionName="demo")["RecursiveLoop"] == "Allow"
    logs = boto3.client("logs", endpoint_url=endpoint)
    (group,) = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/demo")["logGroups"]
    assert group["retentionInDays"] == 14
    assert any(
        "guard (recursectl_chain.handler: cap 25, budget 1000)" in w for w in result.warnings
    )
    # the ARN was computed (STS) before the function existed: one deploy is enough
    assert aws.calls.index("sts.GetCallerIdentity") < aws.calls.index("lambda.CreateFunction")


def test_second_deploy_makes_no_write_calls(endpoint: str) -> None:
    deploy_demo(endpoint)
    aws, result = deploy_demo(endpoint)
    assert result.unchanged
    assert _writes(aws) == []
    assert aws.calls == [
        "lambda.GetFunction",
        "lambda.GetFunctionEventInvokeConfig",
        "iam.GetRolePolicy",
        "logs.DescribeLogGroups",
    ]


def test_retries_switched_back_on_by_hand_are_switched_off_by_redeploy(endpoint: str) -> None:
    deploy_demo(endpoint)
    lam = boto3.client("lambda", endpoint_url=endpoint)
    lam.put_function_event_invoke_config(FunctionName="demo", MaximumRetryAttempts=2)
    _, result = deploy_demo(endpoint)
    assert [s.op for s in result.steps] == ["put_invoke_config"]
    assert lam.get_function_event_invoke_config(FunctionName="demo")["MaximumRetryAttempts"] == 0


def test_code_change_updates_code_only(endpoint: str, tmp_path: Path) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text("def handler(event, context):\n    return 1\n")
    deploy_demo(endpoint, handler=handler)
    handler.write_text("def handler(event, context):\n    return 2\n")
    aws, result = deploy_demo(endpoint, handler=handler)
    assert [s.op for s in result.steps] == ["update_code"]
    assert _writes(aws) == ["lambda.UpdateFunctionCode"]
    # waited for (function_updated_v2 polls GetFunction) before returning
    assert aws.calls[-1] == "lambda.GetFunction"
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.get_function(FunctionName="demo")["Configuration"]["CodeSha256"] == (
        result.code_sha256
    )


def test_config_change_updates_config_and_recursion(endpoint: str) -> None:
    deploy_demo(endpoint)
    _, result = deploy_demo(endpoint, Settings(name="demo", max_calls=10, memory=256))
    assert [s.op for s in result.steps] == ["update_config", "put_recursion", "stamp"]
    lam = boto3.client("lambda", endpoint_url=endpoint)
    cfg = lam.get_function(FunctionName="demo")["Configuration"]
    assert cfg["MemorySize"] == 256
    assert cfg["Environment"]["Variables"]["RECURSECTL_MAX_CALLS"] == "10"
    assert lam.get_function_recursion_config(FunctionName="demo")["RecursiveLoop"] == "Terminate"
    assert result.warnings == []


def test_dry_run_changes_nothing(endpoint: str) -> None:
    aws, result = deploy_demo(endpoint, dry_run=True)
    assert result.dry_run
    assert "create_function" in [s.op for s in result.steps]
    assert _writes(aws) == []
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.list_functions()["Functions"] == []


def test_fresh_role_not_yet_assumable_is_retried(endpoint: str) -> None:
    failures = {"left": 2}
    aws = local_aws(endpoint)

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
    apply.deploy(aws, Settings(name="demo"), demo_package(), progress=seen.append)
    assert failures["left"] == 0
    assert sum("role to become assumable" in m for m in seen) == 2
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.get_function(FunctionName="demo")["Configuration"]["FunctionName"] == "demo"


def test_failed_deploy_converges_on_rerun(endpoint: str) -> None:
    aws = local_aws(endpoint)

    def boom(**_: Any) -> Any:
        error = {"Error": {"Code": "ServiceException", "Message": "Lambda had a bad day"}}
        return (type("R", (), {"status_code": 500, "headers": {}})(), error)

    aws.lambda_.meta.events.register("before-call.lambda.PutFunctionRecursionConfig", boom)
    with pytest.raises(AwsError, match="bad day"):
        apply.deploy(aws, Settings(name="demo"), demo_package())
    _, result = deploy_demo(endpoint)
    assert [s.op for s in result.steps] == ["ensure_counter", "put_recursion", "stamp"]
    _, again = deploy_demo(endpoint)
    assert again.unchanged


def test_not_ours_refused_then_adopted(endpoint: str) -> None:
    iam = boto3.client("iam", endpoint_url=endpoint)
    trust = json.dumps(trust_document(ACCOUNT))
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
        deploy_demo(endpoint)
    cfg = lam.get_function(FunctionName="demo")["Configuration"]
    assert cfg["Environment"]["Variables"] == {"THEIRS": "1"}  # untouched
    assert iam.list_roles()["Roles"][0]["RoleName"] == "other"  # nothing created
    assert len(iam.list_roles()["Roles"]) == 1

    _, result = deploy_demo(endpoint, adopt=True)
    assert "tag_function" in [s.op for s in result.steps]
    fn = lam.get_function(FunctionName="demo")
    assert fn["Tags"]["managed-by"] == "recursectl"
    assert fn["Configuration"]["Role"].endswith(":role/demo-role")
    # a variable set outside recursectl is never removed silently: kept, and named
    assert fn["Configuration"]["Environment"]["Variables"]["THEIRS"] == "1"
    assert any("THEIRS" in w and "--prune-env" in w for w in result.warnings)


def test_toml_write_back_keeps_comments(endpoint: str, tmp_path: Path) -> None:
    cfg = tmp_path / "recursectl.toml"
    cfg.write_text('# my function\nname = "demo"  # the name\n\n# cap\nmax_calls = 25\n')
    settings = Settings(name="demo", config_path=cfg)
    _, result = deploy_demo(endpoint, settings)
    assert result.config_written == cfg
    text = cfg.read_text()
    assert text.startswith('# my function\nname = "demo"  # the name\n\n# cap\nmax_calls = 25\n')
    assert f'function_arn = "{ARN}"' in text
    _, again = deploy_demo(endpoint, settings)
    assert again.config_written is None  # already there: file not rewritten
    assert again.unchanged


def test_concurrency_is_reserved_when_configured(endpoint: str) -> None:
    deploy_demo(endpoint, Settings(name="demo", concurrency=3))
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.get_function_concurrency(FunctionName="demo")["ReservedConcurrentExecutions"] == 3
    aws, again = deploy_demo(endpoint, Settings(name="demo", concurrency=3))
    assert again.unchanged
    assert _writes(aws) == []


def test_deploy_keeps_a_stopped_function_stopped(endpoint: str) -> None:
    settings = Settings(name="demo", concurrency=3)
    deploy_demo(endpoint, settings)
    lam = boto3.client("lambda", endpoint_url=endpoint)
    lam.put_function_concurrency(FunctionName="demo", ReservedConcurrentExecutions=0)
    _, result = deploy_demo(endpoint, dataclasses.replace(settings, memory=256))
    assert [s.op for s in result.steps] == ["update_config"]
    assert any("stopped" in w for w in result.warnings)
    assert lam.get_function_concurrency(FunctionName="demo")["ReservedConcurrentExecutions"] == 0


def test_a_users_handler_is_redirected_and_shown_as_the_users(
    endpoint: str, tmp_path: Path
) -> None:
    handler = tmp_path / "app.py"
    handler.write_text("def main(event, context):\n    return 1\n")
    _, result = deploy_demo(
        endpoint, Settings(name="demo", max_invocations=300), handler=Path(f"{handler}:main")
    )
    lam = boto3.client("lambda", endpoint_url=endpoint)
    cfg = lam.get_function(FunctionName="demo")["Configuration"]
    assert cfg["Handler"] == protocol.ENTRY_POINT
    env = cfg["Environment"]["Variables"]
    assert env[protocol.HANDLER_ENV] == "app.main"
    assert env[protocol.MAX_INVOCATIONS_ENV] == "300"
    doc = result.to_json()
    assert doc["handler"] == "app.main"
    assert doc["guard"] == {"active": True, "entry_point": "recursectl_chain.handler"}
    assert "handler app.main" in next(s.detail for s in result.steps if s.op == "create_function")
    # a redeploy with the guard's settings unchanged converges
    aws, again = deploy_demo(
        endpoint, Settings(name="demo", max_invocations=300), handler=Path(f"{handler}:main")
    )
    assert again.unchanged
    assert _writes(aws) == []


@pytest.mark.parametrize(
    ("guarded", "max_calls", "mode"),
    [(True, 25, "Allow"), (True, 15, "Terminate"), (False, 25, "Terminate")],
)
def test_loop_detection_is_lifted_only_when_the_guard_covers_the_function(
    endpoint: str, guarded: bool, max_calls: int, mode: str
) -> None:
    _, result = deploy_demo(endpoint, Settings(name="demo", max_calls=max_calls), guarded=guarded)
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.get_function_recursion_config(FunctionName="demo")["RecursiveLoop"] == mode
    cfg = lam.get_function(FunctionName="demo")["Configuration"]
    assert (cfg["Handler"] == protocol.ENTRY_POINT) is guarded
    honoured = not any("cannot be honoured" in w for w in result.warnings)
    assert honoured is (guarded or max_calls < 16)


def test_a_log_group_we_do_not_own_keeps_its_retention(endpoint: str) -> None:
    logs = boto3.client("logs", endpoint_url=endpoint)
    logs.create_log_group(logGroupName="/aws/lambda/demo")  # theirs: untagged, never expires
    _, planned = deploy_demo(endpoint, dry_run=True)
    assert any("retention (never expire) is left as it is" in w for w in planned.warnings)
    assert "put_retention" not in [s.op for s in planned.steps]
    aws, result = deploy_demo(endpoint)
    assert "logs.PutRetentionPolicy" not in aws.calls
    (group,) = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/demo")["logGroups"]
    assert "retentionInDays" not in group
    assert logs.list_tags_log_group(logGroupName="/aws/lambda/demo")["tags"] == {}
    assert any("left as it is" in w for w in result.warnings)


def test_our_own_log_group_gets_the_new_retention(endpoint: str) -> None:
    deploy_demo(endpoint)
    _, result = deploy_demo(endpoint, Settings(name="demo", log_retention_days=30))
    assert [s.op for s in result.steps] == ["put_retention"]
    logs = boto3.client("logs", endpoint_url=endpoint)
    (group,) = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/demo")["logGroups"]
    assert group["retentionInDays"] == 30


def test_an_older_role_without_the_trust_condition_is_updated_once(endpoint: str) -> None:
    deploy_demo(endpoint)
    iam = boto3.client("iam", endpoint_url=endpoint)
    old = trust_document(ACCOUNT)
    del old["Statement"][0]["Condition"]
    iam.update_assume_role_policy(RoleName="demo-role", PolicyDocument=json.dumps(old))
    lam = boto3.client("lambda", endpoint_url=endpoint)
    lam.tag_resource(Resource=ARN, Tags={"recursectl:applied": "recursion:Allow"})  # older stamp
    _, result = deploy_demo(endpoint)
    assert [s.op for s in result.steps] == ["update_trust", "ensure_counter", "stamp"]
    (trust,) = iam.get_role(RoleName="demo-role")["Role"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    aws, again = deploy_demo(endpoint)
    assert again.unchanged
    assert "iam.GetRole" not in aws.calls  # the stamp says the trust is current


def test_a_function_of_another_project_is_refused_unless_adopted(
    endpoint: str, tmp_path: Path
) -> None:
    alpha, beta = tmp_path / "alpha", tmp_path / "beta"
    for folder in (alpha, beta):
        folder.mkdir()
        (folder / "recursectl.toml").write_text('name = "demo"\n')
    deploy_demo(endpoint, Settings(name="demo", config_path=alpha / "recursectl.toml"))
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.get_function(FunctionName="demo")["Tags"]["recursectl:project"] == "alpha"
    iam = boto3.client("iam", endpoint_url=endpoint)
    role_tags = {t["Key"]: t["Value"] for t in iam.get_role(RoleName="demo-role")["Role"]["Tags"]}
    assert role_tags["recursectl:project"] == "alpha"

    theirs = Settings(name="demo", config_path=beta / "recursectl.toml", memory=256)
    aws = local_aws(endpoint)
    with pytest.raises(NotOursError, match="belongs to recursectl project 'alpha'") as info:
        apply.deploy(aws, theirs, demo_package())
    assert info.value.exit_code == 5
    assert _writes(aws) == []
    assert lam.get_function(FunctionName="demo")["Configuration"]["MemorySize"] == 128

    _, result = deploy_demo(endpoint, theirs, adopt=True)
    assert result.project == "beta"
    fn = lam.get_function(FunctionName="demo")
    assert fn["Tags"]["recursectl:project"] == "beta"
    assert fn["Configuration"]["MemorySize"] == 256


def test_an_explicit_project_setting_wins_over_the_folder(tmp_path: Path) -> None:
    cfg = tmp_path / "recursectl.toml"
    assert Settings(config_path=cfg).project_identity == tmp_path.name
    assert Settings(config_path=cfg, project="shop").project_identity == "shop"
    assert Settings().project_identity is None


PROBE = """\
import os

import boto3
import botocore


def handler(event, context):
    ddb = boto3.client("dynamodb")
    own = os.environ["RECURSECTL_COUNTER_TABLE"]
    key = {"chain": {"S": "probe"}}
    tries = {
        "count on its own table": lambda: ddb.update_item(
            TableName=own, Key=key, UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        ),
        "put on its own table": lambda: ddb.put_item(TableName=own, Item=key),
        "read its own table": lambda: ddb.get_item(TableName=own, Key=key),
        "count on another table": lambda: ddb.update_item(
            TableName="other-recursectl-chains", Key=key, UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        ),
        "delete its own table": lambda: ddb.delete_table(TableName=own),
    }
    out = {}
    for what, call in tries.items():
        try:
            call()
            out[what] = "allowed"
        except botocore.exceptions.ClientError as exc:
            out[what] = exc.response["Error"]["Code"]
    return out
"""


def test_the_role_may_count_on_its_own_table_and_nothing_else(
    endpoint: str, tmp_path: Path
) -> None:
    handler = tmp_path / "probe.py"
    handler.write_text(PROBE)
    deploy_demo(endpoint, Settings(name="demo", handler=str(handler)))
    deploy_demo(endpoint, Settings(name="other", handler=str(handler)))  # a second counter table
    lam = boto3.client("lambda", endpoint_url=endpoint)
    got = lam.invoke(FunctionName="demo", Payload=b"{}")
    assert "FunctionError" not in got, got["Payload"].read()
    assert json.loads(got["Payload"].read()) == {
        "count on its own table": "allowed",
        "put on its own table": "AccessDeniedException",
        "read its own table": "AccessDeniedException",
        "count on another table": "AccessDeniedException",
        "delete its own table": "AccessDeniedException",
    }
