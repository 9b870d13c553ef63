"""A real project through the real executables: init's tests, a package under a source root
with a dependency, environment variables, the AWS CLI reading what deploy set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import Cli

pytestmark = pytest.mark.e2e


@pytest.fixture
def cache(request: pytest.FixtureRequest) -> Path:
    """The dependency cache shared with the functional tests (same keys: no reinstall)."""
    return Path(request.config.cache.mkdir("recursectl-pydeps"))


@pytest.mark.slow
def test_a_source_root_project_with_a_dependency(
    local_cloud: Cli, fn_name: str, tmp_path: Path, cache: Path
) -> None:
    cli = Cli(env={**local_cloud.env, "RECURSECTL_CACHE_DIR": str(cache)}, port=local_cloud.port,
              cwd=tmp_path)  # fmt: skip
    app = tmp_path / "src" / "app"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "text.py").write_text("import six\n\ndef label(x):\n    return six.ensure_str(x)\n")
    (app / "handler.py").write_text(
        "import os\nfrom app.text import label\n\n"
        "def main(event, context):\n    return label(os.environ['GREETING'])\n"
    )
    (tmp_path / "src" / "requirements.txt").write_text("six==1.17.0\nmarkupsafe==3.0.2\n")
    (tmp_path / "recursectl.toml").write_text(
        f'name = "{fn_name}"\nsource = "src"\nhandler = "app.handler.main"\n\n'
        '[environment]\nGREETING = "hello"\n'
    )
    first = cli.run("deploy")
    assert f"deployed {fn_name}" in first.stderr, first.stderr
    assert "Packaged handler app.handler.main (from app.handler.main)" in first.stderr
    changed = cli.run("deploy", "--env", "GREETING=hi")  # the flag wins over the table
    assert "environment GREETING" in changed.stderr, changed.stderr
    # the AWS CLI sees what deploy set
    got = cli.aws("lambda", "get-function-configuration", "--function-name", fn_name)
    config = json.loads(got.stdout)
    variables = config["Environment"]["Variables"]
    assert variables["GREETING"] == "hi"
    assert variables["RECURSECTL_HANDLER"] == "app.handler.main"
    assert variables["RECURSECTL_ENV_NAMES"] == "GREETING"
    result = cli.json("invoke", "--name", fn_name, "--sync")
    assert result["payload"] == "hi", result
    again = cli.run("deploy", "--env", "GREETING=hi")
    assert "is unchanged" in again.stderr, again.stderr
    assert "(cached)" in again.stderr
    cli.ok("destroy", "--yes")
    assert "function_arn" not in (tmp_path / "recursectl.toml").read_text()


def test_init_then_pytest(local_cloud: Cli, tmp_path: Path) -> None:
    local_cloud.ok("init", "proj", cwd=tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path / "proj",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_tool_shipped_with_the_handler_runs_on_the_local_cloud(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "tool.sh"
    tool.write_text('#!/bin/sh\necho "converted $1"\n')
    tool.chmod(0o755)
    (tmp_path / "handler.py").write_text(
        "import os\nimport subprocess\n\n"
        "TOOL = os.path.join(os.path.dirname(__file__), 'bin', 'tool.sh')\n\n\n"
        "def handler(event, context):\n"
        "    done = subprocess.run([TOOL, event['file']], capture_output=True, text=True,"
        " check=True)\n"
        "    return done.stdout.strip()\n"
    )
    local_cloud.ok("deploy", "--name", fn_name, "--handler", "handler.py", cwd=tmp_path)
    result = local_cloud.json(
        "invoke", "--name", fn_name, "--sync", "--data", '{"file": "photo.png"}'
    )
    assert result["payload"] == "converted photo.png", result
    local_cloud.ok("destroy", "--name", fn_name, "--yes", cwd=tmp_path)
