"""A job function through the CLI (click's runner) on the local cloud: deploy and destroy with
its bucket, `job list/show/cancel/resume`, `resume` of paused jobs, `invoke`'s bounds. The job
records are written with boto3 in docs/jobs.md's shape, as the helpers write them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from recursectl import protocol
from recursectl.cli import cli
from recursectl.names import job_bucket_for
from tests.support.localcloud import wait_for_events, wait_updated

TABLE = "jobs-recursectl-chains"
BUCKET = job_bucket_for("jobs", "123456789012", "us-east-1")
HANDLER = """\
import json


def handler(event, context):
    print("EVENT " + json.dumps(event, sort_keys=True))
    return {"ok": True}
"""


def run(endpoint: str, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(
        cli, ["--endpoint-url", endpoint, *args], input=input, catch_exceptions=False
    )


@pytest.fixture
def job_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text(HANDLER)
    (tmp_path / "recursectl.toml").write_text(
        'name = "jobs"\nhandler = "app.py:handler"\ntimeout = 10\n'
        "[job]\nmax_hops = 200\nmax_seconds = 3600\nmax_cost = 2\n"
    )
    return tmp_path


@pytest.fixture
def deployed(endpoint: str, job_project: Path) -> str:
    result = run(endpoint, "deploy")
    assert result.exit_code == 0, result.output
    return endpoint


def put_job(endpoint: str, job_id: str, status: str, **fields: Any) -> None:
    """A job record as docs/jobs.md gives it (DynamoDB maps, numbers as numbers)."""
    from boto3.dynamodb.types import TypeSerializer

    item: dict[str, Any] = {
        "chain": f"job#{job_id}",
        "status": status,
        "function": "jobs",
        "seq": 3,
        "attempt": 1,
        "hops": 4,
        "checkpoint": {"seq": 3, "state": {"next": 4000}},
        "progress": {"done": 4000, "total": 10000},
        "started_ms": 1_765_000_000_000,
        "updated_ms": 1_765_000_060_000,
        "bounds": {"max_hops": 200, "max_seconds": 3600, "max_cost": 2},
        "gen": 0,
        "chains": ["chain-a"],
        **fields,
    }
    ser = TypeSerializer()
    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    ddb.put_item(TableName=TABLE, Item={k: ser.serialize(v) for k, v in _decimals(item).items()})


def put_claim(endpoint: str, job_id: str, seq: int, status: str, attempt: int = 1) -> None:
    boto3.client("dynamodb", endpoint_url=endpoint).put_item(
        TableName=TABLE,
        Item={
            "chain": {"S": f"job#{job_id}#{seq}"},
            "owner": {"S": "req-1"},
            "attempt": {"N": str(attempt)},
            "status": {"S": status},
        },
    )


def _decimals(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def status_of(endpoint: str, job_id: str) -> str:
    got = boto3.client("dynamodb", endpoint_url=endpoint).get_item(
        TableName=TABLE, Key={"chain": {"S": f"job#{job_id}"}}, ConsistentRead=True
    )
    return str(got["Item"]["status"]["S"])


def gen_of(endpoint: str, job_id: str) -> int:
    got = boto3.client("dynamodb", endpoint_url=endpoint).get_item(
        TableName=TABLE, Key={"chain": {"S": f"job#{job_id}"}}, ConsistentRead=True
    )
    return int(got["Item"]["gen"]["N"])


def unguard(endpoint: str) -> None:
    """Point the Handler at app.handler itself, so the handler prints the raw event the
    resume sent (the guard would take the context out of it)."""
    lam = boto3.client("lambda", endpoint_url=endpoint)
    lam.update_function_configuration(FunctionName="jobs", Handler="app.handler")
    wait_updated(lam, "jobs")


def events_printed(endpoint: str, count: int) -> list[dict[str, Any]]:
    logs = boto3.client("logs", endpoint_url=endpoint)
    found = wait_for_events(
        endpoint,
        logs,
        "/aws/lambda/jobs",
        lambda evs: sum("EVENT " in e["message"] for e in evs) >= count,
    )
    return [
        json.loads(e["message"].split("EVENT ", 1)[1]) for e in found if "EVENT " in e["message"]
    ]


def test_deploy_says_what_a_job_function_gets_and_destroy_removes_its_bucket(
    endpoint: str, job_project: Path
) -> None:
    first = run(endpoint, "deploy")
    assert first.exit_code == 0, first.output
    text = " ".join(first.output.split())
    assert "jobs is a job function: AWS's recursive loop detection is turned off (Allow)" in text
    assert "job bounds max_hops 200, max_seconds 3600, max_cost 2.0" in text
    assert f"S3 bucket {BUCKET} (created by recursectl)" in text
    assert "jobs is unchanged\n" in run(endpoint, "deploy").stderr
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.put_object(Bucket=BUCKET, Key="recursectl/jobs/state/abc.json.gz", Body=b"x")
    # --json never prompts: a bucket holding state is kept without --yes
    kept = run(endpoint, "destroy", "--json", input="y\n")
    assert kept.exit_code == 0, kept.output
    removed = {r["resource"]: r for r in json.loads(kept.stdout)["removed"]}
    assert removed["function"]["outcome"] == "deleted"
    assert removed["bucket"]["outcome"] == "kept"
    assert "holds 1 state object(s); --yes deletes them" in removed["bucket"]["reason"]
    assert s3.head_bucket(Bucket=BUCKET)
    # run again (the function is gone): the bucket is found from [job], asked about, deleted
    again = run(endpoint, "destroy", input="y\ny\n")
    assert again.exit_code == 0, again.output
    assert f"S3 bucket {BUCKET} holds 1 object(s)" in again.stderr
    assert f"deleted bucket {BUCKET} (1 object(s))" in again.stderr
    assert BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_destroy_asks_and_keeps_the_bucket_when_told_no(deployed: str) -> None:
    s3 = boto3.client("s3", endpoint_url=deployed)
    s3.put_object(Bucket=BUCKET, Key="recursectl/jobs/state/abc.json.gz", Body=b"x")
    result = run(deployed, "destroy", input="y\nn\n")
    assert result.exit_code == 0, result.output
    assert f"kept    bucket {BUCKET} (holds 1 state object(s); --yes deletes them)" in result.stderr
    assert s3.head_bucket(Bucket=BUCKET)
    assert run(deployed, "destroy", "--yes").exit_code == 0
    assert BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_destroy_leaves_an_adopted_bucket(endpoint: str, job_project: Path) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="team-jobs")
    s3.put_object(Bucket="team-jobs", Key="keep/me.txt", Body=b"x")
    toml = job_project / "recursectl.toml"
    toml.write_text(toml.read_text() + 'bucket = "team-jobs"\n')
    assert run(endpoint, "deploy").exit_code == 0
    result = run(endpoint, "destroy", "--yes", "--json")
    removed = {r["resource"]: r for r in json.loads(result.stdout)["removed"]}
    assert removed["bucket"] == {
        "resource": "bucket",
        "name": "team-jobs",
        "outcome": "kept",
        "reason": "adopted: not created by recursectl",
    }
    assert s3.get_object(Bucket="team-jobs", Key="keep/me.txt")["Body"].read() == b"x"


def test_job_list_and_show(deployed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # a wide terminal whatever the test process has
    put_job(deployed, "j-old", "done", started_ms=1_764_000_000_000, result={"processed": 10})
    put_job(deployed, "j-new", "failed", error="ValueError: bad item 4001")
    put_claim(deployed, "j-new", 3, "claimed")  # a claim is not a job
    doc = json.loads(run(deployed, "job", "list", "--json").stdout)
    assert doc["function_name"] == "jobs"
    assert [j["id"] for j in doc["jobs"]] == ["j-new", "j-old"]  # newest first
    new = doc["jobs"][0]
    assert (new["status"], new["hops"], new["error"]) == ("failed", 4, "ValueError: bad item 4001")
    assert new["progress"] == {"done": 4000, "total": 10000}
    assert new["started"] == "2025-12-06T05:46:40+00:00"
    only = json.loads(run(deployed, "job", "list", "--status", "done", "--json").stdout)
    assert [j["id"] for j in only["jobs"]] == ["j-old"]
    table = run(deployed, "job", "list")
    assert table.exit_code == 0, table.output
    assert "j-new" in table.stdout
    assert "4,000/10,000 (40%)" in table.stdout
    shown = json.loads(run(deployed, "job", "show", "j-new", "--json").stdout)
    assert shown["checkpoint"] == {"seq": 3, "where": "inline", "bytes": 13, "keys": ["next"]}
    assert shown["resumable"] is True
    assert shown["bounds"] == {"max_hops": 200, "max_seconds": 3600, "max_cost": 2}
    text = run(deployed, "job", "show", "j-new")
    assert "checkpoint  seq 3, inline: 13 bytes, keys next" in text.stdout
    assert f"recursectl --endpoint-url {deployed} job resume j-new --name jobs" in text.stderr
    missing = run(deployed, "job", "show", "nope")
    assert missing.exit_code == 4
    assert "Job nope does not exist on jobs." in missing.stderr


def test_job_cancel_is_conditional(deployed: str) -> None:
    put_job(deployed, "j1", "running")
    result = run(deployed, "job", "cancel", "j1")
    assert result.exit_code == 0, result.output
    assert "cancelled job j1 of jobs" in result.stderr
    assert status_of(deployed, "j1") == "cancelled"
    again = run(deployed, "job", "cancel", "j1")
    assert again.exit_code == 2
    assert "Job j1 is cancelled: only a running, paused or failed job can be cancelled." in (
        again.stderr
    )


def test_job_resume_of_a_failed_hop_retries_it_from_the_checkpoint(deployed: str) -> None:
    unguard(deployed)
    put_job(deployed, "j-f", "failed", error="timeout", input={"source": "s3://in"})
    put_claim(deployed, "j-f", 3, "claimed", attempt=3)  # the hop that failed three times
    result = run(deployed, "job", "resume", "j-f", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["job"], doc["seq"], doc["attempt"], doc["was"]) == ("j-f", 3, 4, "failed")
    assert doc["from_checkpoint_seq"] == 3
    assert status_of(deployed, "j-f") == "running"
    (event,) = events_printed(deployed, 1)
    assert event == {
        "source": "s3://in",
        protocol.CONTEXT_KEY: {
            "job": {
                "id": "j-f",
                "seq": 3,
                "attempt": 4,
                "state": {"next": 4000},
                "bounds": {"max_hops": 200, "max_seconds": 3600, "max_cost": 2},
            }
        },
    }
    twice = run(deployed, "job", "resume", "j-f")
    assert twice.exit_code == 2
    assert "Job j-f is running: only a paused or failed job can be resumed." in twice.stderr


def test_stop_then_resume_continues_every_paused_job(deployed: str) -> None:
    unguard(deployed)
    put_job(
        deployed,
        "j-p",
        "paused",
        checkpoint={"seq": 3, "ref": {"bucket": BUCKET, "key": "k", "sha256": "ab", "bytes": 9}},
    )
    put_claim(deployed, "j-p", 3, "done")  # the paused hop (seq 4) never claimed
    put_job(deployed, "j-d", "done")
    assert run(deployed, "stop").exit_code == 0
    refused = run(deployed, "job", "resume", "j-p")
    assert refused.exit_code == 6  # stopped: `recursectl resume` is the way
    # A job whose hop the stop held back (queued at concurrency 0): resume gives it the
    # current generation first, so that hop runs on instead of pausing it (docs/jobs.md).
    put_job(deployed, "j-r", "running", started_ms=1, gen=0)
    result = run(deployed, "resume", "--json")
    assert result.exit_code == 0, result.output
    jobs = json.loads(result.stdout)["jobs"]
    assert jobs["resumed"] == 1
    assert [(j["job"], j["seq"], j["attempt"]) for j in jobs["jobs"]] == [("j-p", 4, 1)]
    assert jobs["running_go_on"] == ["j-r"]
    assert jobs["skipped"] == []
    assert (status_of(deployed, "j-r"), gen_of(deployed, "j-r")) == ("running", 1)
    assert gen_of(deployed, "j-p") == 1  # a resumed job runs under the current generation
    assert status_of(deployed, "j-p") == "running"
    assert status_of(deployed, "j-d") == "done"
    (event,) = events_printed(deployed, 1)
    assert event[protocol.CONTEXT_KEY]["job"]["ref"]["key"] == "k"
    assert "state" not in event[protocol.CONTEXT_KEY]["job"]
    put_job(deployed, "j-p", "done")
    assert run(deployed, "stop").exit_code == 0
    text = run(deployed, "resume")
    assert "resumed 0 paused jobs" in text.stderr
    assert "1 running job goes on: the hop the stop held back runs now" in text.stderr


def test_invoke_shows_the_bounds_and_narrows_them(deployed: str) -> None:
    unguard(deployed)
    result = run(deployed, "invoke", "--max-hops", "50", "--max-cost", "0.5")
    assert result.exit_code == 0, result.output
    assert "job bounds: 50 hops, 1 h, $0.5 (narrowed for this run)" in result.stderr
    (event,) = events_printed(deployed, 1)
    assert event[protocol.CONTEXT_KEY]["job"] == {
        "bounds": {"max_hops": 50, "max_seconds": 3600, "max_cost": 0.5}
    }
    assert "numberOfCalls" not in event
    wider = run(deployed, "invoke", "--max-seconds", "7200")
    assert wider.exit_code == 2
    assert "--max-seconds 7200 is above jobs's declared max_seconds of 3600" in wider.stderr
    plain = run(deployed, "invoke")
    assert "job bounds: 200 hops, 1 h, $2 (declared in [job])" in plain.stderr


def test_job_commands_on_a_function_without_jobs(endpoint: str, tmp_path: Path) -> None:
    assert run(endpoint, "deploy", "--name", "plain").exit_code == 0
    result = run(endpoint, "invoke", "--name", "plain", "--max-hops", "3")
    assert result.exit_code == 2
    assert "--max-hops bound a job; plain is not a job function." in result.stderr
    listed = json.loads(run(endpoint, "job", "list", "--name", "plain", "--json").stdout)
    assert listed == {"function_name": "plain", "jobs": []}


@pytest.mark.parametrize(
    ("runtime", "handler_file", "handler"),
    [(None, "handler.py", "handler.handler"), ("nodejs22.x", "handler.js", "handler.handler")],
)
def test_init_template_job_writes_a_job_project_that_deploys(
    endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    runtime: str | None,
    handler_file: str,
    handler: str,
) -> None:
    from recursectl import settings

    monkeypatch.chdir(tmp_path)
    args = ["init", "--template", "job", "--name", "jobs", "proj"]
    result = run(endpoint, *args, *(["--runtime", runtime] if runtime else []))
    assert result.exit_code == 0, result.output
    project = tmp_path / "proj"
    assert sorted(p.name for p in project.iterdir() if p.name != "package.json") == [
        handler_file,
        "recursectl.toml",
    ]
    code = (project / handler_file).read_text()
    assert "continue_with(state)" in code or "continueWith(state)" in code
    loaded = settings.load(cwd=project, environ={})
    assert (loaded.job, loaded.timeout, loaded.job_max_hops) == (True, 3, 1000)
    monkeypatch.chdir(project)
    deployed = run(endpoint, "deploy", "--json")
    assert deployed.exit_code == 0, deployed.output
    doc = json.loads(deployed.stdout)
    assert doc["handler"] == handler
    assert doc["job"]["bucket"] == BUCKET
    assert doc["job"]["bounds"] == {"max_hops": 1000, "max_seconds": 3600}
    assert doc["recursion"] == "Allow"


def test_the_python_job_template_compiles() -> None:
    from recursectl.build.package import templates_dir

    source = (templates_dir() / "job" / "handler.py").read_text()
    compile(source, "handler.py", "exec")


def test_the_node_job_template_is_valid_javascript() -> None:
    import shutil
    import subprocess

    from recursectl.build.package import templates_dir

    node = shutil.which("node")
    if node is None:
        pytest.skip("no node on this machine")
    check = subprocess.run(
        [node, "--check", str(templates_dir() / "job" / "handler.js")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_info_and_stop_say_it_is_a_job_function(deployed: str) -> None:
    doc = json.loads(run(deployed, "info", "--json").stdout)
    assert doc["job"] == {
        "bucket": BUCKET,
        "bounds": {"max_hops": 200, "max_seconds": 3600, "max_cost": 2.0},
    }
    text = " ".join(run(deployed, "info").stdout.split())
    assert "job function: max_hops 200, max_seconds 3600, max_cost 2.0" in text
    assert f"s3://{BUCKET}/recursectl/jobs/" in text
    stopped = run(deployed, "stop")
    assert "running jobs pause at their next hop" in stopped.stderr
    assert json.loads(run(deployed, "stop", "--json").stdout)["job_function"] is True
