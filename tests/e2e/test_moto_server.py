"""The AWS path against a second, independent endpoint: moto's own server (started by the
`moto_server` fixture). It lacks PutFunctionRecursionConfig and GetFunctionRecursionConfig
(a Flask HTML 404 page) and runs no handler code; everything else recursectl needs is there.
A user's folder, their handler, the real executable; boto3 reads back what each command did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.cli import Cli

pytestmark = pytest.mark.e2e

HANDLER = "def handler(event, context):\n    return {'seen': event}\n"


def _client(cli: Cli, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=cli.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _project(cli: Cli, tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "my-function"
    folder.mkdir()
    (folder / "handler.py").write_text(HANDLER)
    (folder / "recursectl.toml").write_text(
        f'name = "{name}"\nhandler = "handler.py:handler"\nruntime = "python3.12"\n'
    )
    return folder


def test_deploy_goes_on_without_the_recursion_config_and_says_so(
    moto_server: Cli, fn_name: str, tmp_path: Path
) -> None:
    folder = _project(moto_server, tmp_path, fn_name)
    proc = moto_server.run("deploy", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "<" not in out  # no HTML page printed
    lines = [ln for ln in proc.stderr.splitlines() if "PutFunctionRecursionConfig" in ln]
    assert lines == [
        "warning: this endpoint does not implement lambda:PutFunctionRecursionConfig: "
        "recursive loop not set to Allow, loop detection is left at the endpoint's default"
    ]
    assert "recursive loop left at the endpoint's default" in proc.stdout
    assert "turned off" not in out  # the plan's note would be false here

    # Everything else was created, as on AWS.
    lam, iam, logs = (_client(moto_server, s) for s in ("lambda", "iam", "logs"))
    fn = lam.get_function(FunctionName=fn_name)
    assert fn["Configuration"]["Handler"] == "recursectl_chain.handler"
    assert fn["Tags"]["managed-by"] == "recursectl"
    assert lam.get_function_event_invoke_config(FunctionName=fn_name)["MaximumRetryAttempts"] == 0
    assert iam.get_role(RoleName=f"{fn_name}-role")["Role"]["Arn"]
    groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{fn_name}")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [f"/aws/lambda/{fn_name}"]

    # A re-run tries the recursion config again (never recorded as applied) and says so again.
    doc = json.loads(moto_server.ok("deploy", "--json", cwd=folder))
    assert doc["recursion"] == "Allow"
    assert doc["recursion_applied"] is False
    assert doc["unsupported_apis"] == [
        {
            "api": "lambda:PutFunctionRecursionConfig",
            "consequence": "recursive loop not set to Allow, "
            "loop detection is left at the endpoint's default",
        }
    ]
    assert [c["op"] for c in doc["changes"]] == ["put_recursion", "stamp"]


def test_info_invoke_stop_resume_destroy(moto_server: Cli, fn_name: str, tmp_path: Path) -> None:
    folder = _project(moto_server, tmp_path, fn_name)
    moto_server.ok("deploy", cwd=folder)
    lam = _client(moto_server, "lambda")

    proc = moto_server.run("info", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert "recursion   unknown (this endpoint cannot tell" in proc.stdout
    assert "does not implement lambda:GetFunctionRecursionConfig" in proc.stderr
    assert "<" not in proc.stdout + proc.stderr
    info = json.loads(moto_server.ok("info", "--json", cwd=folder))
    assert info["recursion"] is None
    assert [u["api"] for u in info["unsupported_apis"]] == ["lambda:GetFunctionRecursionConfig"]
    assert info["async_retries"] == 0
    assert info["guard"]["active"] is True

    # moto runs no code: an Event invoke is accepted (202), a sync one answers moto's echo of
    # the event. What is meaningful is recursectl's side: the event it built (the chain
    # context with the cap) reached the endpoint and the answer is decoded.
    event = json.loads(moto_server.ok("invoke", "--json", cwd=folder))
    assert event["status_code"] == 202
    assert event["chain_id"] == event["request_id"]
    sync = json.loads(moto_server.ok("invoke", "--sync", "--calls", "2", "--json", cwd=folder))
    assert sync["status_code"] == 200
    assert sync["function_error"] is None
    assert sync["payload"]["numberOfCalls"] == 2

    moto_server.ok("stop", cwd=folder)
    assert lam.get_function_concurrency(FunctionName=fn_name)["ReservedConcurrentExecutions"] == 0
    refused = moto_server.run("invoke", cwd=folder)
    assert refused.returncode == 6, refused.stderr
    moto_server.ok("resume", cwd=folder)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=fn_name)

    removed = json.loads(moto_server.ok("destroy", "--yes", "--json", cwd=folder))
    outcomes = {(r["resource"], r["outcome"]) for r in removed["removed"]}
    assert {("function", "deleted"), ("role", "deleted"), ("log group", "deleted")} <= outcomes
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=fn_name)


def test_a_job_function_deploys_and_destroys_its_bucket_on_another_implementation(
    moto_server: Cli, fn_name: str, tmp_path: Path
) -> None:
    """The job bucket's calls (create, tags, public access block, encryption, lifecycle) and
    the self destination, against moto's server; destroy deletes the bucket it made."""
    folder = _project(moto_server, tmp_path, fn_name)
    with (folder / "recursectl.toml").open("a") as toml:
        toml.write("[job]\nmax_hops = 50\nstate_ttl_days = 2\n")
    proc = moto_server.run("deploy", "--json", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    bucket = doc["job"]["bucket"]
    s3, lam = _client(moto_server, "s3"), _client(moto_server, "lambda")
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["managed-by"] == "recursectl"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert (rule["Filter"]["Prefix"], rule["Expiration"]["Days"]) == ("recursectl/", 2)
    config = lam.get_function_event_invoke_config(FunctionName=fn_name)
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == doc["function_arn"]
    again = json.loads(moto_server.ok("deploy", "--json", cwd=folder))
    # the recursion config is the one thing moto's server lacks: the rest has converged
    assert [c["op"] for c in again["changes"]] == ["put_recursion", "stamp"]
    s3.put_object(Bucket=bucket, Key=f"recursectl/{fn_name}/state/a.json.gz", Body=b"x")
    gone = json.loads(moto_server.ok("destroy", "--yes", "--json", cwd=folder))
    (removal,) = [r for r in gone["removed"] if r["resource"] == "bucket"]
    assert (removal["outcome"], removal["reason"]) == ("deleted", "1 object(s)")
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
