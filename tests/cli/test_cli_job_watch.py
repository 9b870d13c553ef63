"""A long job through the CLI (click's runner, the local cloud, the real job helper):
`invoke --follow` and `logs` show the job's line above the tree, `--json` has the `job`
object, `--html` the job's page, and the exit code is the job's verdict."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from recursectl import protocol
from recursectl.cli import cli
from recursectl.errors import EXIT_STOPPED
from tests.support.jobs import JobFunction, deploy_job_function
from tests.support.localcloud import wait_updated

# A user's batch job, as docs/jobs.md writes one: 300 rows, 100 a hop.
# With `wait_for`, hop 0 waits for that file before it hands over (the test's moment to act).
JOB = r"""
import os, time
import recursectl_chain

def handler(event, context):
    job = recursectl_chain.job(event, context)
    state = job.state or {"next": 0}
    total = event["total"]
    while state["next"] < total and job.should_continue():
        state["next"] += 50
        job.checkpoint(state, progress={"done": state["next"], "total": total, "table": "t1"})
        if state["next"] % 100 == 0:
            break
    if state["next"] >= total:
        return job.done({"processed": total})
    go = event.get("wait_for")
    while go and not os.path.exists(go) and job.remaining_ms() > 500:
        time.sleep(0.05)
    return job.continue_with(state)
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray recursectl.toml


@pytest.fixture
def job_fn(endpoint: str) -> JobFunction:
    return deploy_job_function(endpoint, "rows", JOB, timeout=3)


def run(endpoint: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--endpoint-url", endpoint, *args], catch_exceptions=False)


def test_invoke_follow_shows_the_job_and_logs_json_and_html_have_it(
    endpoint: str, job_fn: JobFunction, tmp_path: Path
) -> None:
    started = run(
        endpoint, "invoke", "--name", "rows", "--data", '{"total": 300}', "--follow",
        "--timeout", "180", "--json",
    )  # fmt: skip
    assert started.exit_code == 0, started.output
    doc = json.loads(started.stdout)
    job = doc["job"]
    assert job["id"] == doc["chain_id"]  # the first hop's request id
    assert (job["status"], job["hops"], job["seq"]) == ("done", 3, 2)
    assert job["progress"] == {"done": 300, "total": 300, "table": "t1"}
    assert (job["done"], job["total"], job["fraction"]) == (300, 300, 1.0)
    assert job["checkpoints"] == 6 + 2  # the handler's and each continue_with's
    assert (job["retries"], job["duplicates"], job["spilled"]) == (0, 0, 0)
    assert job["spend_usd"] == pytest.approx(doc["summary"]["estimated_cost_usd"])
    assert doc["failed"] is False
    assert doc["complete"] is True
    assert [inv["job"]["seq"] for inv in doc["invocations"]] == [0, 1, 2]

    tree = run(endpoint, "logs", "--name", "rows", "--chain", doc["chain_id"])
    assert tree.exit_code == 0, tree.output
    head = " ".join(tree.stdout.split("\nchain ", 1)[0].split())
    assert head.startswith(f"job {job['id'][:8]} done · 3 hops · ")
    assert "100% 300/300" in head
    assert "table=t1" in head
    assert "elapsed " in head
    assert "≈ $" in head
    assert "#0 ok" in tree.stdout
    assert "#2 ok" in tree.stdout
    assert "job done" in tree.stdout

    page = tmp_path / "job.html"
    html = run(endpoint, "logs", "--name", "rows", "--chain", doc["chain_id"], "--html", str(page))
    assert html.exit_code == 0, html.output
    data = page.read_text().split('id="chain-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["job"]["status"] == "done"


def test_logs_follow_of_a_job_paused_by_stop_exits_6_with_how_to_resume(
    endpoint: str, job_fn: JobFunction
) -> None:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    folder = Path(tempfile.mkdtemp(prefix="recursectl-jobcli-", dir=base))
    folder.chmod(0o777)  # workers run as an unprivileged user
    go = folder / "go"
    try:
        event = {"total": 300, "wait_for": str(go)}
        got = job_fn.lam.invoke(
            FunctionName=job_fn.name, InvocationType="Event", Payload=json.dumps(event)
        )
        job_id = got["ResponseMetadata"]["RequestId"]
        # `recursectl stop`'s generation, raised while hop 0 runs: hop 1 pauses the job.
        env = job_fn.lam.get_function_configuration(FunctionName=job_fn.name)["Environment"]
        variables = {**env["Variables"], protocol.GENERATION_ENV: "1"}
        job_fn.lam.update_function_configuration(
            FunctionName=job_fn.name, Environment={"Variables": variables}
        )
        wait_updated(job_fn.lam, job_fn.name)
        go.touch()
        result = run(
            endpoint, "logs", "--name", "rows", "--follow", "--chain", job_id, "--timeout", "180"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert result.exit_code == EXIT_STOPPED, result.output
    said = " ".join(result.stderr.split())
    assert f"Job {job_id} is paused at hop 1" in said
    assert f"`recursectl --endpoint-url {endpoint} resume --name rows`" in said
    assert f"`recursectl --endpoint-url {endpoint} job resume {job_id} --name rows`" in said
    assert "job paused" in result.stdout
    assert " paused · 2 hops" in " ".join(result.stdout.split())


def test_logs_of_a_plain_chain_show_no_job(endpoint: str) -> None:
    assert run(endpoint, "deploy", "--name", "plain").exit_code == 0
    result = run(
        endpoint, "invoke", "--name", "plain", "--calls", "1", "--follow", "--timeout", "120",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert "job" not in doc
    assert all("job" not in inv for inv in doc["invocations"])
