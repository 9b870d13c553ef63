"""stop / resume / info / destroy against the real front door."""

from __future__ import annotations

import json

import boto3
import pytest

from recursectl import deploy, ops, package
from recursectl.aws import Aws, Target
from recursectl.errors import NotFoundError, NotOursError
from recursectl.settings import Settings


def _aws(endpoint: str) -> Aws:
    return Aws(Target(endpoint_url=endpoint, region="us-east-1", local=True), sleep=lambda s: None)


def _deploy(endpoint: str, **kw: object) -> None:
    pkg = package.build(package.parse_handler(None))
    deploy.deploy(_aws(endpoint), Settings(name="demo", **kw), pkg)  # type: ignore[arg-type]


def _reserved(endpoint: str) -> int | None:
    lam = boto3.client("lambda", endpoint_url=endpoint)
    return lam.get_function_concurrency(FunctionName="demo").get("ReservedConcurrentExecutions")


def test_stop_sets_concurrency_zero_and_resume_lifts_it(endpoint: str) -> None:
    _deploy(endpoint)
    change = ops.stop(_aws(endpoint), "demo")
    assert (change.before, change.after) == (None, 0)
    assert _reserved(endpoint) == 0
    assert ops.stop(_aws(endpoint), "demo").before == 0  # idempotent
    change = ops.resume(_aws(endpoint), "demo")
    assert (change.before, change.after) == (0, None)
    assert _reserved(endpoint) is None


def _env(endpoint: str) -> dict[str, str]:
    lam = boto3.client("lambda", endpoint_url=endpoint)
    return dict(lam.get_function_configuration(FunctionName="demo")["Environment"]["Variables"])


def test_stop_raises_the_generation_and_deploy_keeps_it(endpoint: str) -> None:
    _deploy(endpoint)
    assert "RECURSECTL_GENERATION" not in _env(endpoint)
    assert ops.stop(_aws(endpoint), "demo").generation == 1
    assert ops.stop(_aws(endpoint), "demo").generation == 2  # every stop ends older chains
    ops.resume(_aws(endpoint), "demo")
    assert _env(endpoint)["RECURSECTL_GENERATION"] == "2"  # resume does not revive old chains

    aws = _aws(endpoint)
    pkg = package.build(package.parse_handler(None))
    result = deploy.deploy(aws, Settings(name="demo"), pkg)
    assert result.steps == []  # unchanged: the generation is carried over, not reset
    assert _env(endpoint)["RECURSECTL_GENERATION"] == "2"


def test_resume_restores_configured_concurrency(endpoint: str) -> None:
    _deploy(endpoint, concurrency=4)
    ops.stop(_aws(endpoint), "demo")
    change = ops.resume(_aws(endpoint), "demo", concurrency=4)
    assert (change.before, change.after) == (0, 4)
    assert _reserved(endpoint) == 4


def test_stop_unknown_function_says_deploy_first(endpoint: str) -> None:
    with pytest.raises(NotFoundError) as info:
        ops.stop(_aws(endpoint), "nope")
    assert "deploy" in (info.value.hint or "")


def test_info_reports_the_deployed_state(endpoint: str) -> None:
    _deploy(endpoint, max_calls=10)
    ops.stop(_aws(endpoint), "demo")
    result = ops.info(_aws(endpoint), "demo", last_chain=lambda name: {"chain": f"c-{name}"})
    assert result.arn == "arn:aws:lambda:us-east-1:123456789012:function:demo"
    assert result.max_calls == 10
    assert result.recursion == "Terminate"
    assert result.concurrency == 0
    assert result.stopped
    assert result.retries == 0
    assert result.managed
    assert (result.runtime, result.memory, result.timeout) == ("python3.13", 128, 30)
    assert result.last_modified
    assert result.last_chain == {"chain": "c-demo"}
    assert result.notes == []
    assert json.loads(json.dumps(result.to_json()))["reserved_concurrency"] == 0


def test_destroy_removes_everything_of_ours(endpoint: str) -> None:
    _deploy(endpoint)
    removals = ops.destroy(_aws(endpoint), "demo")
    assert [(r.resource, r.outcome) for r in removals] == [
        ("function", "deleted"),
        ("policy", "deleted"),
        ("role", "deleted"),
        ("log group", "deleted"),
    ]
    assert boto3.client("lambda", endpoint_url=endpoint).list_functions()["Functions"] == []
    assert boto3.client("iam", endpoint_url=endpoint).list_roles()["Roles"] == []
    logs = boto3.client("logs", endpoint_url=endpoint)
    assert logs.describe_log_groups()["logGroups"] == []
    again = ops.destroy(_aws(endpoint), "demo")
    assert {r.outcome for r in again} == {"absent"}


def test_destroy_keep_logs(endpoint: str) -> None:
    _deploy(endpoint)
    removals = ops.destroy(_aws(endpoint), "demo", keep_logs=True)
    assert removals[-1].outcome == "kept"
    logs = boto3.client("logs", endpoint_url=endpoint)
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == [
        "/aws/lambda/demo"
    ]


def test_destroy_refuses_what_is_not_ours(endpoint: str) -> None:
    iam = boto3.client("iam", endpoint_url=endpoint)
    trust = json.dumps(deploy.trust_document())
    role = iam.create_role(RoleName="theirs", AssumeRolePolicyDocument=trust)["Role"]
    lam = boto3.client("lambda", endpoint_url=endpoint)
    lam.create_function(
        FunctionName="demo",
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="h.handler",
        Code={"ZipFile": package.build_zip({"h.py": b"def handler(e, c): pass\n"})},
    )
    with pytest.raises(NotOursError):
        ops.destroy(_aws(endpoint), "demo")
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["demo"]


def test_destroy_keeps_a_foreign_log_group(endpoint: str) -> None:
    _deploy(endpoint)
    logs = boto3.client("logs", endpoint_url=endpoint)
    logs.untag_log_group(logGroupName="/aws/lambda/demo", tags=["managed-by"])
    removals = ops.destroy(_aws(endpoint), "demo")
    assert removals[-1].outcome == "kept"
    assert len(logs.describe_log_groups()["logGroups"]) == 1
