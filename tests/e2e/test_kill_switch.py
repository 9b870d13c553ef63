"""The kill switch lands while the function is being updated (a deploy or a pipeline just
changed it): `stop` and `resume` through the real CLI, on a local cloud whose updates stay
InProgress for 6 s (AWS: about a second, longer for some changes; 3 s was too short on a
loaded 2-core machine, where the AWS CLI's exit and `stop`'s start took longer than that)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Cli, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def slow_cloud(local_cloud: Cli, tmp_path: Path) -> Iterator[Cli]:
    env = dict(local_cloud.env)
    port = free_port()
    env.update(
        RECURSECTL_LOCAL_PORT=str(port),
        RECURSECTL_STATE_DIR=str(tmp_path / "state"),
        RECURSECTL_LOCAL_STATE_DELAY="6",
    )
    cli = Cli(env=env, port=port, cwd=tmp_path)
    cli.ok("local", "start")
    try:
        yield cli
    finally:
        cli.run("local", "stop")


def _update_in_progress(cli: Cli, name: str) -> None:
    """What a CI pipeline does: change the configuration (InProgress for the next 6 s)."""
    out = cli.aws(
        "lambda", "update-function-configuration", "--function-name", name,
        "--description", "changed by the pipeline",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["LastUpdateStatus"] == "InProgress"


def test_stop_and_resume_during_an_update_in_progress(slow_cloud: Cli, fn_name: str) -> None:
    cli = slow_cloud
    cli.ok("deploy", "--name", fn_name, "--concurrency", "5", timeout=180)
    _update_in_progress(cli, fn_name)
    stop = cli.run("stop", "--name", fn_name)
    assert stop.returncode == 0, stop.stderr
    assert f"an update of {fn_name} is in progress: retrying" in stop.stderr
    assert "waited" in stop.stderr
    assert f"stopped {fn_name}: reserved concurrency 0 (was: 5)" in stop.stderr
    assert "generation 1" in stop.stderr
    info = cli.json("info", "--name", fn_name)
    assert (info["stopped"], info["generation"], info["reserved_concurrency"]) == (True, 1, 0)
    _update_in_progress(cli, fn_name)
    resume = json.loads(cli.ok("resume", "--name", fn_name, "--json"))
    assert (resume["reserved_concurrency"], resume["stopped"]) == (5, False)
    described = cli.aws("lambda", "get-function-configuration", "--function-name", fn_name)
    assert json.loads(described.stdout)["Description"] == "changed by the pipeline"
