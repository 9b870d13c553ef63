"""A user's long job from `recursectl init --template job` (Python and Node), through the real
CLI on the local cloud: deploy, invoke, the 10,000 items processed across several 3-second
hops, `job list --json` and `job show --json` say it is done."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Cli, wait_until

pytestmark = pytest.mark.e2e

TOTAL = 10_000
SUM_OF_SQUARES = sum(i * i for i in range(TOTAL))  # what the template's `process` adds up


def _jobs(cli: Cli, project: Path, name: str) -> list[dict[str, Any]]:
    out = cli.ok("job", "list", "--name", name, "--json", cwd=project)
    return list(json.loads(out)["jobs"])


@pytest.mark.parametrize("runtime", [None, "nodejs22.x"])
def test_the_job_template_processes_its_10000_items_across_hops(
    request: pytest.FixtureRequest,
    local_cloud: Cli,
    fn_name: str,
    tmp_path: Path,
    runtime: str | None,
) -> None:
    if runtime is not None:
        request.getfixturevalue("node_ready")
    extra = ["--runtime", runtime] if runtime else []
    local_cloud.ok("init", "--template", "job", "--name", fn_name, "my-job", *extra, cwd=tmp_path)
    project = tmp_path / "my-job"
    deployed = local_cloud.run("deploy", cwd=project, timeout=300)
    assert deployed.returncode == 0, deployed.stderr
    assert "is a job function" in " ".join(deployed.stderr.split())
    started = local_cloud.run("invoke", cwd=project)
    assert started.returncode == 0, started.stderr
    assert "job bounds: 1,000 hops, 1 h, no cost bound (declared in [job])" in started.stderr
    job_id = started.stdout.strip()

    def finished() -> bool:
        jobs = {j["id"]: j for j in _jobs(local_cloud, project, fn_name)}
        return jobs.get(job_id, {}).get("status") in ("done", "failed", "cancelled")

    wait_until(f"job {job_id} to end", finished, timeout=240)
    (listed,) = [j for j in _jobs(local_cloud, project, fn_name) if j["id"] == job_id]
    assert listed["status"] == "done", listed
    assert listed["error"] is None
    assert listed["progress"]["done"] == TOTAL
    assert listed["hops"] >= 2  # 100 batches of 50 ms do not fit one 3 s hop
    shown = json.loads(
        local_cloud.ok("job", "show", job_id, "--name", fn_name, "--json", cwd=project)
    )
    assert shown["result"] == {"processed": TOTAL, "sum": SUM_OF_SQUARES}
    assert shown["checkpoint"]["where"] == "inline"


def test_stop_holds_the_job_and_resume_lets_it_go_on(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    local_cloud.ok("init", "--template", "job", "--name", fn_name, "my-job", cwd=tmp_path)
    project = tmp_path / "my-job"
    local_cloud.ok("deploy", cwd=project, timeout=300)
    # 100 batches of 250 ms: about ten hops, time enough to stop it half-way
    job_id = local_cloud.ok("invoke", "--data", '{"work_ms": 250}', cwd=project).strip()

    def job() -> dict[str, Any]:  # {} until its first hop has written the record
        found = [j for j in _jobs(local_cloud, project, fn_name) if j["id"] == job_id]
        return found[0] if found else {}

    wait_until("the job's second hop", lambda: job().get("hops", 0) >= 2, timeout=120)
    local_cloud.ok("stop", "--name", fn_name, cwd=project)
    stopped_at = job()["progress"]["done"]
    assert 0 < stopped_at < TOTAL
    # while stopped nothing runs: the hop the stop held back waits at concurrency 0
    held = job()
    assert held["status"] == "running"
    resumed = local_cloud.run("resume", "--name", fn_name, "--json", cwd=project, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(resumed.stdout)["jobs"]
    # resume gave the running job the current generation: its held-back hop goes on (it
    # is not paused after the fact), from the state that hop carries
    assert doc["running_go_on"] == [job_id], doc
    assert doc["resumed"] == 0
    wait_until("the job to end", lambda: job().get("status") not in (None, "running"), timeout=240)
    shown = json.loads(
        local_cloud.ok("job", "show", job_id, "--name", fn_name, "--json", cwd=project)
    )
    assert shown["status"] == "done", shown
    # the state went on across the stop: the sum of squares is exact
    assert shown["result"] == {"processed": TOTAL, "sum": SUM_OF_SQUARES}


def test_a_paused_job_is_resumed_from_its_checkpoint(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    """A job paused by its own stale hop (a stop, then the kill switch lifted by other means
    than `recursectl resume`) is continued by `recursectl resume` from its checkpoint."""
    local_cloud.ok("init", "--template", "job", "--name", fn_name, "my-job", cwd=tmp_path)
    project = tmp_path / "my-job"
    local_cloud.ok("deploy", cwd=project, timeout=300)
    job_id = local_cloud.ok("invoke", "--data", '{"work_ms": 250}', cwd=project).strip()

    def job() -> dict[str, Any]:  # {} until its first hop has written the record
        found = [j for j in _jobs(local_cloud, project, fn_name) if j["id"] == job_id]
        return found[0] if found else {}

    wait_until("the job's second hop", lambda: job().get("hops", 0) >= 2, timeout=120)
    local_cloud.ok("stop", "--name", fn_name, cwd=project)
    # the kill switch lifted without recursectl: the held-back hop runs, stale, and pauses
    lifted = local_cloud.aws("lambda", "delete-function-concurrency", "--function-name", fn_name)
    assert lifted.returncode == 0, lifted.stderr
    wait_until("the job to pause", lambda: job().get("status") == "paused", timeout=120)
    paused = json.loads(
        local_cloud.ok("job", "show", job_id, "--name", fn_name, "--json", cwd=project)
    )
    assert 0 < paused["progress"]["done"] < TOTAL
    resumed = local_cloud.run("resume", "--name", fn_name, "--json", cwd=project, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(resumed.stdout)["jobs"]
    assert doc["resumed"] == 1, doc
    (hop,) = doc["jobs"]
    assert (hop["job"], hop["was"]) == (job_id, "paused")
    # The hop after the last one that finished: usually the next seq, first attempt (the
    # held-back hop paused the job); when the hop running at the stop failed instead (a
    # timeout on a loaded machine: its retry, stale, paused the job), that seq's next attempt.
    seq, attempt = paused["seq"], paused["attempt"]
    assert (hop["seq"], hop["attempt"]) in {(seq + 1, 1), (seq, attempt + 1)}, (hop, paused)
    assert hop["from_checkpoint_seq"] is not None
    wait_until(
        "the resumed job to end", lambda: job().get("status") not in (None, "running"), timeout=240
    )
    shown = json.loads(
        local_cloud.ok("job", "show", job_id, "--name", fn_name, "--json", cwd=project)
    )
    assert shown["status"] == "done", shown
    assert shown["result"] == {"processed": TOTAL, "sum": SUM_OF_SQUARES}
    assert len(shown["chains"]) >= 2  # the resume started a new chain


def _arm(cli: Cli, function: str, fault: str) -> None:
    """A one-shot fault of the local cloud (docs/jobs.md), through its control endpoint."""
    import urllib.request

    token = (Path(cli.env["RECURSECTL_STATE_DIR"]) / f"local-{cli.port}.token").read_text()
    request = urllib.request.Request(
        f"{cli.endpoint}/_recursectl/faults",
        data=json.dumps({"function": function, "fault": fault}).encode(),
        headers={"X-Recursectl-Token": token.strip(), "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.mark.parametrize("runtime", [None, "nodejs22.x"])
def test_a_duplicate_delivery_and_a_crash_do_not_change_the_result(
    request: pytest.FixtureRequest,
    local_cloud: Cli,
    fn_name: str,
    tmp_path: Path,
    runtime: str | None,
) -> None:
    """What deploy sets for a job function (async retries 0, the function itself on failure)
    carries a crashed hop to its retry from the checkpoint."""
    if runtime is not None:
        request.getfixturevalue("node_ready")
    extra = ["--runtime", runtime] if runtime else []
    local_cloud.ok("init", "--template", "job", "--name", fn_name, "my-job", *extra, cwd=tmp_path)
    project = tmp_path / "my-job"
    local_cloud.ok("deploy", cwd=project, timeout=300)
    _arm(local_cloud, fn_name, "duplicate")  # the root event is delivered twice
    _arm(local_cloud, fn_name, "crash")  # and the first hop dies at its first checkpoint
    job_id = local_cloud.ok("invoke", cwd=project).strip()

    def ended() -> bool:
        jobs = {j["id"]: j for j in _jobs(local_cloud, project, fn_name)}
        return jobs.get(job_id, {}).get("status") in ("done", "failed", "cancelled")

    wait_until(f"job {job_id} to end", ended, timeout=240)
    jobs = _jobs(local_cloud, project, fn_name)
    assert [j["id"] for j in jobs] == [job_id]  # the duplicate started no second job
    shown = json.loads(
        local_cloud.ok("job", "show", job_id, "--name", fn_name, "--json", cwd=project)
    )
    assert shown["status"] == "done", shown
    assert shown["result"] == {"processed": TOTAL, "sum": SUM_OF_SQUARES}
    claim = local_cloud.aws(
        "dynamodb", "get-item", "--table-name", f"{fn_name}-recursectl-chains",
        "--key", json.dumps({"chain": {"S": f"job#{job_id}#0"}}), "--consistent-read",
    )  # fmt: skip
    assert claim.returncode == 0, claim.stderr
    assert json.loads(claim.stdout)["Item"]["attempt"] == {"N": "2"}  # the crashed hop, retried


BIG_STATE_JOB = """\
import hashlib

import recursectl_chain


def handler(event, context):
    job = recursectl_chain.job(event, context)
    state = job.state or {"hops": 0, "blob": "x" * 3_000_000}
    state["hops"] += 1
    if state["hops"] < 3:
        return job.continue_with(state)
    digest = hashlib.sha256(state["blob"].encode()).hexdigest()
    return job.done({"hops": state["hops"], "bytes": len(state["blob"]), "sha256": digest})
"""


def test_a_3_mb_state_is_spilled_to_the_bucket_deploy_made_and_read_back(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    """The role deploy scopes to BUCKET/recursectl/<function>/* is enough to spill and load."""
    import hashlib

    project = tmp_path / "big-state"
    project.mkdir()
    (project / "handler.py").write_text(BIG_STATE_JOB)
    (project / "recursectl.toml").write_text(
        f'name = "{fn_name}"\nhandler = "handler.py:handler"\ntimeout = 10\nmemory = 512\n[job]\n'
    )
    deployed = json.loads(local_cloud.ok("deploy", "--json", cwd=project, timeout=300))
    bucket = deployed["job"]["bucket"]
    job_id = local_cloud.ok("invoke", cwd=project).strip()

    def ended() -> bool:
        jobs = {j["id"]: j for j in _jobs(local_cloud, project, fn_name)}
        return jobs.get(job_id, {}).get("status") in ("done", "failed", "cancelled")

    wait_until(f"job {job_id} to end", ended, timeout=180)
    shown = json.loads(
        local_cloud.ok("job", "show", job_id, "--name", fn_name, "--json", cwd=project)
    )
    assert shown["status"] == "done", shown
    blob = "x" * 3_000_000
    assert shown["result"] == {
        "hops": 3,
        "bytes": len(blob),
        "sha256": hashlib.sha256(blob.encode()).hexdigest(),
    }
    checkpoint = shown["checkpoint"]
    assert checkpoint["where"] == "spilled"
    assert checkpoint["bucket"] == bucket
    assert checkpoint["key"].startswith(f"recursectl/{fn_name}/state/")
    listed = local_cloud.aws("s3api", "list-objects-v2", "--bucket", bucket)
    assert listed.returncode == 0, listed.stderr
    keys = [o["Key"] for o in json.loads(listed.stdout)["Contents"]]
    assert checkpoint["key"] in keys
    assert all(k.startswith(f"recursectl/{fn_name}/state/") for k in keys)
    # destroy asks before deleting a bucket holding state; --yes deletes it with its objects
    gone = json.loads(local_cloud.ok("destroy", "--yes", "--json", cwd=project))
    (removal,) = [r for r in gone["removed"] if r["resource"] == "bucket"]
    assert (removal["name"], removal["outcome"]) == (bucket, "deleted")


BUGGY_JOB = """\
import os

import recursectl_chain


def handler(event, context):
    job = recursectl_chain.job(event, context)
    state = job.state or {"next": 0, "sum": 0}
    while state["next"] < 10_000 and job.should_continue():
        if state["next"] == 5_000 and os.environ.get("BUG") == "1":
            raise ValueError("item 5000 is not a number")
        end = state["next"] + 100
        state["sum"] += sum(i * i for i in range(state["next"], end))
        state["next"] = end
        job.checkpoint(state, progress={"done": end, "total": 10_000})
    if state["next"] >= 10_000:
        return job.done({"processed": 10_000, "sum": state["sum"]})
    return job.continue_with(state)
"""


def test_a_failed_job_is_fixed_redeployed_and_resumed_from_its_checkpoint(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    project = tmp_path / "buggy"
    project.mkdir()
    (project / "handler.py").write_text(BUGGY_JOB)
    config = f'name = "{fn_name}"\nhandler = "handler.py:handler"\ntimeout = 3\n[job]\n'
    (project / "recursectl.toml").write_text(config + '[environment]\nBUG = "1"\n')
    local_cloud.ok("deploy", cwd=project, timeout=300)
    job_id = local_cloud.ok("invoke", cwd=project).strip()

    def status() -> str:
        jobs = {j["id"]: j for j in _jobs(local_cloud, project, fn_name)}
        return str(jobs.get(job_id, {}).get("status"))

    wait_until("the job to fail", lambda: status() == "failed", timeout=180)
    failed = json.loads(
        local_cloud.ok("job", "show", job_id, "--name", fn_name, "--json", cwd=project)
    )
    assert "item 5000 is not a number" in json.dumps(failed["error"])
    assert failed["progress"]["done"] == 5_000
    assert failed["resumable"] is True
    # the user fixes it (here: the environment) and redeploys, then resumes the job
    (project / "recursectl.toml").write_text(config)
    local_cloud.ok("deploy", cwd=project, timeout=300)
    resumed = json.loads(
        local_cloud.ok("job", "resume", job_id, "--name", fn_name, "--json", cwd=project)
    )
    assert (resumed["job"], resumed["was"]) == (job_id, "failed")
    wait_until("the resumed job to end", lambda: status() != "running", timeout=180)
    done = json.loads(
        local_cloud.ok("job", "show", job_id, "--name", fn_name, "--json", cwd=project)
    )
    assert done["status"] == "done", done
    assert done["result"] == {"processed": TOTAL, "sum": SUM_OF_SQUARES}


def test_a_cancelled_job_ends_at_its_next_hop(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    local_cloud.ok("init", "--template", "job", "--name", fn_name, "my-job", cwd=tmp_path)
    project = tmp_path / "my-job"
    local_cloud.ok("deploy", cwd=project, timeout=300)
    job_id = local_cloud.ok("invoke", "--data", '{"work_ms": 250}', cwd=project).strip()

    def job() -> dict[str, Any]:  # {} until its first hop has written the record
        found = [j for j in _jobs(local_cloud, project, fn_name) if j["id"] == job_id]
        return found[0] if found else {}

    wait_until("the job's second hop", lambda: job().get("hops", 0) >= 2, timeout=120)
    cancelled = json.loads(
        local_cloud.ok("job", "cancel", job_id, "--name", fn_name, "--json", cwd=project)
    )
    assert cancelled["status"] == "cancelled"

    def chain_complete() -> bool:
        proc = local_cloud.run("logs", "--name", fn_name, "--chain", job_id, "--json")
        return bool(proc.stdout.strip()) and json.loads(proc.stdout).get("complete") is True

    wait_until("the job's chain to end", chain_complete, timeout=120)
    ended = job()
    assert ended["status"] == "cancelled"
    assert ended["progress"]["done"] < TOTAL  # it stopped: the rest never ran
    again = local_cloud.run("job", "cancel", job_id, "--name", fn_name, cwd=project)
    assert again.returncode == 2
    assert f"Job {job_id} is cancelled" in again.stderr
