"""The local cloud keeps what it was given: across `local stop`, and across a SIGKILL with
events queued, through the real executable in a user's own folder."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Cli, free_port, wait_until

pytestmark = pytest.mark.e2e

# The user's handler: it notes each run's request id in a file the test reads, works a while,
# then fans out.
_HANDLER = """\
import os
import time

import recursectl_chain


def handler(event, context):
    chain = recursectl_chain.begin(event, context)
    with open(os.environ["PROGRESS_FILE"], "a") as out:
        out.write(context.aws_request_id + "\\n")
    time.sleep(float(os.environ.get("WORK_SECONDS", "0")))
    calls = int(event.get("numberOfCalls", 0))
    if calls > 0:
        for _ in range(int(event.get("fanout", 1))):
            chain.invoke_self({"numberOfCalls": calls - 1, "fanout": event.get("fanout", 1)})
    return calls
"""


@pytest.fixture
def progress() -> Any:
    """A file both the test and the handlers can write: not under /tmp, which is each worker's
    own where the local cloud isolates workers (as on AWS); /dev/shm where there is one."""
    import shutil
    import tempfile

    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    folder = Path(tempfile.mkdtemp(prefix="recursectl-progress-", dir=base))
    folder.chmod(0o777)  # handlers may run as an unprivileged user
    try:
        yield folder / "progress.txt"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def own_cloud(local_cloud: Cli, tmp_path: Path) -> Any:
    """A private local cloud (its own port and state folder), stopped afterwards."""
    env = dict(local_cloud.env)
    port = free_port()
    env.update(RECURSECTL_LOCAL_PORT=str(port), RECURSECTL_STATE_DIR=str(tmp_path / "state"))
    project = tmp_path / "project"
    project.mkdir()
    cli = Cli(env=env, port=port, cwd=project)
    try:
        yield cli
    finally:
        cli.run("local", "stop")


def _project(cli: Cli, name: str, progress: Path, work_s: float, concurrency: int | None) -> None:
    (cli.cwd / "handler.py").write_text(_HANDLER)
    lines = [
        f'name = "{name}"',
        'handler = "handler.py:handler"',
        "max_calls = 10",
        *([f"concurrency = {concurrency}"] if concurrency is not None else []),
        "[environment]",
        f'PROGRESS_FILE = "{progress}"',
        f'WORK_SECONDS = "{work_s}"',
    ]
    (cli.cwd / "recursectl.toml").write_text("\n".join(lines) + "\n")


def _runs(progress: Path) -> list[str]:
    try:
        return progress.read_text().split()
    except FileNotFoundError:
        return []


def _chain(cli: Cli, chain_id: str) -> dict[str, Any]:
    proc = cli.run("logs", "--chain", chain_id, "--json", timeout=60)
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def test_sigkill_with_queued_events_then_start_completes_the_chain(
    own_cloud: Cli, progress: Path
) -> None:
    name = f"crash-{uuid.uuid4().hex[:8]}"
    # One environment at a time (reserved concurrency 1): a fan-out of 2 over 2 levels is
    # 7 invocations, and while one runs the others wait in the async queue.
    _project(own_cloud, name, progress, work_s=1.5, concurrency=1)
    own_cloud.ok("local", "start")
    own_cloud.ok("deploy")
    chain_id = own_cloud.json("invoke", "--calls", "2", "--fanout", "2")["request_id"]

    # The third run has just started (its child invokes are 1.5 s away): kill now.
    wait_until("the third invocation to start", lambda: len(_runs(progress)) >= 3, 60)
    status = json.loads(own_cloud.ok("local", "status", "--json"))
    queued_before = status["totals"]["queued"]
    os.kill(int(status["pid"]), signal.SIGKILL)
    assert queued_before >= 1  # events were waiting in the queue when it died

    own_cloud.ok("local", "start")

    def complete() -> bool:
        return bool(_chain(own_cloud, chain_id).get("complete"))

    wait_until("the chain to complete after the restart", complete, 120)
    doc = _chain(own_cloud, chain_id)
    invocations = doc["invocations"]
    assert sorted(i["depth"] for i in invocations) == [0, 1, 1, 2, 2, 2, 2]
    assert all(i["status"] == "ok" for i in invocations)
    # Every run the handler saw is in the tree: the one the kill cut ran again with its
    # own request id (AWS retries an event after a system error), nothing else twice.
    runs = _runs(progress)
    assert set(runs) == {i["request_id"] for i in invocations}
    assert len(runs) == 8


def test_start_after_stop_invokes_without_redeploying(own_cloud: Cli, progress: Path) -> None:
    name = f"kept-{uuid.uuid4().hex[:8]}"
    _project(own_cloud, name, progress, work_s=0, concurrency=None)
    own_cloud.ok("local", "start")
    own_cloud.ok("deploy")
    first = own_cloud.json("invoke", "--calls", "2", "--follow", "--timeout", "60")
    assert first["complete"] is True
    own_cloud.ok("local", "stop")
    store = Path(own_cloud.env["RECURSECTL_STATE_DIR"]) / f"local-{own_cloud.port}.sqlite3"
    assert store.exists()

    started = own_cloud.run("local", "start")
    assert started.returncode == 0, started.stderr
    assert str(store) in started.stderr  # says where the state is kept
    info = own_cloud.json("info")
    assert info["function_arn"].endswith(f":function:{name}")
    second = own_cloud.json("invoke", "--calls", "2", "--follow", "--timeout", "60")
    assert second["complete"] is True
    assert len(second["invocations"]) == 3
    # The first chain's logs were kept as well.
    assert len(_chain(own_cloud, first["chain_id"])["invocations"]) == 3


def test_reset_asks_then_starts_empty(own_cloud: Cli, tmp_path: Path) -> None:
    name = f"reset-{uuid.uuid4().hex[:8]}"
    _project(own_cloud, name, tmp_path / "p.txt", work_s=0, concurrency=None)
    own_cloud.ok("local", "start")
    own_cloud.ok("deploy")
    refused = own_cloud.run("local", "reset", "--yes")
    assert refused.returncode == 2
    assert "running" in refused.stderr
    own_cloud.ok("local", "stop")
    kept = own_cloud.run("local", "reset")  # no terminal to confirm on: nothing deleted
    assert kept.returncode == 2
    assert "--yes" in kept.stderr
    own_cloud.ok("local", "reset", "--yes")
    own_cloud.ok("local", "start")
    missing = own_cloud.run("info")
    assert missing.returncode == 4, missing.stderr
    # start --fresh on a running local cloud with state: asks (no terminal: refused, kept)
    own_cloud.ok("deploy")
    declined = own_cloud.run("local", "start", "--fresh")
    assert declined.returncode == 2
    assert own_cloud.run("info").returncode == 0  # still running, still there
    own_cloud.ok("local", "start", "--fresh", "--yes")
    assert own_cloud.run("info").returncode == 4


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (b"not a database at all" * 100, "not a readable local-cloud store"),
        (None, "newer recursectl"),
    ],
)
def test_damaged_or_newer_store_is_a_clear_error(
    own_cloud: Cli, damage: bytes | None, says: str
) -> None:
    state = Path(own_cloud.env["RECURSECTL_STATE_DIR"])
    state.mkdir(parents=True, exist_ok=True)
    store = state / f"local-{own_cloud.port}.sqlite3"
    if damage is not None:
        store.write_bytes(damage)
    else:
        with sqlite3.connect(store) as db:
            db.execute("PRAGMA user_version=99")
    before = store.read_bytes()
    proc = own_cloud.run("local", "start")
    assert proc.returncode == 3
    assert str(store) in proc.stderr
    assert says in proc.stderr
    assert "local reset" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert store.read_bytes() == before  # never a silent wipe
    assert "No local cloud is running" in own_cloud.run("local", "status").stderr


def test_every_accepted_event_is_in_the_store_when_sigkill_follows_the_202(
    own_cloud: Cli, progress: Path
) -> None:
    """Event invokes sent at once share their commits (group commit): each 202 still comes
    after its own row is on the disk, so a SIGKILL right after the last 202 loses none."""
    import concurrent.futures

    import boto3
    from botocore.config import Config

    name = f"burst-{uuid.uuid4().hex[:8]}"
    # One environment, each run working 5 s: every accepted event is still queued at the kill.
    _project(own_cloud, name, progress, work_s=5.0, concurrency=1)
    own_cloud.ok("local", "start")
    own_cloud.ok("deploy")
    env = own_cloud.env
    client = boto3.client(
        "lambda",
        endpoint_url=own_cloud.endpoint,
        region_name="us-east-1",
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "test"),
        config=Config(retries={"max_attempts": 1}, max_pool_connections=16),
    )

    def invoke(i: int) -> str:
        answer = client.invoke(
            FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": i}).encode()
        )
        assert answer["StatusCode"] == 202
        return str(answer["ResponseMetadata"]["RequestId"])

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        accepted = list(pool.map(invoke, range(48)))
    status = json.loads(own_cloud.ok("local", "status", "--json"))
    os.kill(int(status["pid"]), signal.SIGKILL)

    stores = list((own_cloud.cwd.parent / "state").glob("*.sqlite3"))
    assert len(stores) == 1
    with sqlite3.connect(stores[0]) as db:
        kept = {row[0] for row in db.execute("SELECT request_id FROM events")}
    assert set(accepted) <= kept
    own_cloud.ok("local", "start")  # and the store opens again
