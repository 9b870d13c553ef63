"""stop / resume / info / destroy against the real front door."""

from __future__ import annotations

import json

import boto3
import pytest

from recursectl.aws import Aws, Target
from recursectl.build import package
from recursectl.deploy import ops
from recursectl.errors import NotFoundError, NotOursError
from recursectl.names import CONCURRENCY_TAG, trust_document
from recursectl.settings import Settings
from tests.support.deploying import demo_package, deploy_demo, local_aws


def _tags(endpoint: str) -> dict[str, str]:
    lam = boto3.client("lambda", endpoint_url=endpoint)
    return dict(lam.get_function(FunctionName="demo")["Tags"])


def _reserved(endpoint: str) -> int | None:
    lam = boto3.client("lambda", endpoint_url=endpoint)
    return lam.get_function_concurrency(FunctionName="demo").get("ReservedConcurrentExecutions")


def test_stop_sets_concurrency_zero_and_resume_lifts_it(endpoint: str) -> None:
    deploy_demo(endpoint)
    change = ops.stop(local_aws(endpoint), "demo")
    assert (change.before, change.after) == (None, 0)
    assert _reserved(endpoint) == 0
    assert ops.stop(local_aws(endpoint), "demo").before == 0  # idempotent
    change = ops.resume(local_aws(endpoint), "demo")
    assert (change.before, change.after) == (0, None)
    assert _reserved(endpoint) is None


def _env(endpoint: str) -> dict[str, str]:
    lam = boto3.client("lambda", endpoint_url=endpoint)
    return dict(lam.get_function_configuration(FunctionName="demo")["Environment"]["Variables"])


def test_stop_raises_the_generation_and_deploy_keeps_it(endpoint: str) -> None:
    deploy_demo(endpoint)
    assert "RECURSECTL_GENERATION" not in _env(endpoint)
    assert ops.stop(local_aws(endpoint), "demo").generation == 1
    assert ops.stop(local_aws(endpoint), "demo").generation == 2  # every stop ends older chains
    ops.resume(local_aws(endpoint), "demo")
    assert _env(endpoint)["RECURSECTL_GENERATION"] == "2"  # resume does not revive old chains

    from recursectl.deploy import apply

    result = apply.deploy(local_aws(endpoint), Settings(name="demo"), demo_package())
    assert result.steps == []  # unchanged: the generation is carried over, not reset
    assert _env(endpoint)["RECURSECTL_GENERATION"] == "2"


def test_resume_restores_the_concurrency_in_effect_before_stop(endpoint: str) -> None:
    deploy_demo(endpoint, Settings(name="demo", concurrency=5))
    change = ops.stop(local_aws(endpoint), "demo")
    assert (change.before, change.after) == (5, 0)
    assert _tags(endpoint)[CONCURRENCY_TAG] == "5"
    ops.stop(local_aws(endpoint), "demo")  # a second stop keeps what the first remembered
    assert _tags(endpoint)[CONCURRENCY_TAG] == "5"
    change = ops.resume(local_aws(endpoint), "demo")
    assert (change.before, change.after, change.source) == (0, 5, "remembered")
    assert _reserved(endpoint) == 5
    assert CONCURRENCY_TAG not in _tags(endpoint)  # forgotten once restored


def test_resume_flag_overrides_what_stop_remembered(endpoint: str) -> None:
    deploy_demo(endpoint, Settings(name="demo", concurrency=5))
    ops.stop(local_aws(endpoint), "demo")
    change = ops.resume(local_aws(endpoint), "demo", concurrency=2)
    assert (change.before, change.after, change.source) == (0, 2, "flag")
    assert _reserved(endpoint) == 2


def test_resume_of_a_function_stopped_by_hand_uses_the_configured_value(endpoint: str) -> None:
    deploy_demo(endpoint)
    lam = boto3.client("lambda", endpoint_url=endpoint)
    lam.put_function_concurrency(FunctionName="demo", ReservedConcurrentExecutions=0)
    change = ops.resume(local_aws(endpoint), "demo", configured=4)
    assert (change.after, change.source) == (4, "config")
    assert _reserved(endpoint) == 4


def test_resume_of_a_running_function_changes_nothing(endpoint: str) -> None:
    deploy_demo(endpoint, Settings(name="demo", concurrency=3))
    aws = local_aws(endpoint)
    change = ops.resume(aws, "demo")
    assert (change.before, change.after) == (3, 3)
    assert [c for c in aws.calls if not c.split(".")[1].startswith("Get")] == []


def test_stop_unknown_function_says_deploy_first(endpoint: str) -> None:
    with pytest.raises(NotFoundError) as info:
        ops.stop(local_aws(endpoint), "nope")
    assert "deploy" in (info.value.hint or "")


def test_info_reports_the_deployed_state(endpoint: str) -> None:
    deploy_demo(endpoint, Settings(name="demo", max_calls=10))
    ops.stop(local_aws(endpoint), "demo")
    result = ops.info(local_aws(endpoint), "demo")
    f = result.function
    assert f.arn == "arn:aws:lambda:us-east-1:123456789012:function:demo"
    assert (f.max_calls, f.max_invocations) == (10, 1000)
    assert result.recursion == "Terminate"
    assert f.concurrency == 0
    assert f.stopped
    assert result.retries == 0
    assert f.managed
    assert (f.runtime, f.memory_mb, f.timeout) == ("python3.13", 128, 30)
    assert f.last_modified
    assert result.last_chain is None  # read from the logs by the caller (watch)
    assert result.notes == []
    doc = json.loads(json.dumps(result.to_json()))
    assert doc["reserved_concurrency"] == 0
    assert doc["handler"] == "handler.handler"  # the user's, not the entry point
    assert doc["lambda_handler"] == "recursectl_chain.handler"
    assert doc["guard"] == {
        "active": True,
        "entry_point": "recursectl_chain.handler",
        "handler": "handler.handler",
    }
    assert doc["max_invocations"] == 1000
    assert doc["counter_table"] == "demo-recursectl-chains"  # the exact budget's counter


def test_info_of_a_function_without_the_guard_says_so(endpoint: str) -> None:
    deploy_demo(endpoint, guarded=False)
    result = ops.info(local_aws(endpoint), "demo")
    assert result.guard is None
    assert result.function.handler == "handler.handler"
    assert result.recursion == "Terminate"  # cap 25, but no guard: loop detection stays on
    assert any("no guard" in n for n in result.notes)


def test_stop_says_whether_the_guard_binds_every_handler(endpoint: str) -> None:
    deploy_demo(endpoint, guarded=False)
    assert ops.stop(local_aws(endpoint), "demo").guarded is False
    deploy_demo(endpoint)
    assert ops.stop(local_aws(endpoint), "demo").guarded is True


def test_destroy_removes_everything_of_ours(endpoint: str) -> None:
    deploy_demo(endpoint)
    removals = ops.destroy(local_aws(endpoint), "demo")
    assert [(r.resource, r.outcome) for r in removals] == [
        ("function", "deleted"),
        ("policy", "deleted"),
        ("role", "deleted"),
        ("table", "deleted"),
        ("log group", "deleted"),
    ]
    assert boto3.client("lambda", endpoint_url=endpoint).list_functions()["Functions"] == []
    assert boto3.client("iam", endpoint_url=endpoint).list_roles()["Roles"] == []
    logs = boto3.client("logs", endpoint_url=endpoint)
    assert logs.describe_log_groups()["logGroups"] == []
    again = ops.destroy(local_aws(endpoint), "demo")
    assert {r.outcome for r in again} == {"absent"}


def test_destroy_keep_logs(endpoint: str) -> None:
    deploy_demo(endpoint)
    removals = ops.destroy(local_aws(endpoint), "demo", keep_logs=True)
    assert removals[-1].outcome == "kept"
    logs = boto3.client("logs", endpoint_url=endpoint)
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == [
        "/aws/lambda/demo"
    ]


def test_destroy_refuses_what_is_not_ours(endpoint: str) -> None:
    iam = boto3.client("iam", endpoint_url=endpoint)
    trust = json.dumps(trust_document("123456789012"))
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
        ops.destroy(local_aws(endpoint), "demo")
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["demo"]


def test_destroy_keeps_a_foreign_log_group(endpoint: str) -> None:
    deploy_demo(endpoint)
    logs = boto3.client("logs", endpoint_url=endpoint)
    logs.untag_log_group(logGroupName="/aws/lambda/demo", tags=["managed-by"])
    removals = ops.destroy(local_aws(endpoint), "demo")
    assert removals[-1].outcome == "kept"
    assert len(logs.describe_log_groups()["logGroups"]) == 1


def _updating(endpoint: str, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Start a configuration update that stays InProgress for `seconds` (as a deploy or a
    pipeline leaves it on AWS), so every other configuration write gets a 409 meanwhile."""
    from tests.support.localcloud import SERVERS

    monkeypatch.setattr(SERVERS[endpoint].door.engine.limits, "state_delay", seconds)
    lam = boto3.client("lambda", endpoint_url=endpoint)
    lam.update_function_configuration(FunctionName="demo", Description="a pipeline's update")
    state = lam.get_function_configuration(FunctionName="demo")["LastUpdateStatus"]
    assert state == "InProgress"
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.update_function_configuration(FunctionName="demo", Timeout=5)


def _real_aws(endpoint: str) -> Aws:
    return Aws(Target(endpoint_url=endpoint, region="us-east-1", local=True))


def test_stop_during_an_update_in_progress_waits_it_out_and_lands(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy_demo(endpoint)
    _updating(endpoint, monkeypatch, 1.5)
    heard: list[str] = []
    change = ops.stop(_real_aws(endpoint), "demo", on_wait=heard.append)
    assert (change.before, change.after, change.generation) == (None, 0, 1)
    assert _reserved(endpoint) == 0
    env = _env(endpoint)
    assert env["RECURSECTL_GENERATION"] == "1"  # written: older chains end
    assert env["RECURSECTL_MAX_CALLS"]  # the rest of the environment kept
    assert change.waited_s > 0.5
    assert heard
    assert all("update of demo is in progress" in h for h in heard)
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.get_function_configuration(FunctionName="demo")["Description"] == (
        "a pipeline's update"  # the update that was in progress is not undone
    )


def test_resume_during_an_update_in_progress_lands(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy_demo(endpoint, Settings(name="demo", concurrency=5))
    ops.stop(local_aws(endpoint), "demo")
    _updating(endpoint, monkeypatch, 1.0)
    change = ops.resume(_real_aws(endpoint), "demo")
    assert (change.before, change.after, change.source) == (0, 5, "remembered")
    assert _reserved(endpoint) == 5
    assert CONCURRENCY_TAG not in _tags(endpoint)
