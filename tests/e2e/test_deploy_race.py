"""Two first deploys of one function at once (two terminals, a CI matrix): both converge and
exit 0, whichever creates the role and the function first."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.cli import BIN, Cli

pytestmark = pytest.mark.e2e

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"


@pytest.mark.parametrize("round_", range(3))
def test_two_concurrent_first_deploys_both_succeed(
    local_cloud: Cli, tmp_path: Path, round_: int
) -> None:
    name = f"race-{uuid.uuid4().hex[:8]}"
    (tmp_path / "handler.py").write_text(HANDLER)
    (tmp_path / "recursectl.toml").write_text(f'name = "{name}"\nhandler = "handler.py:handler"\n')
    procs = [
        subprocess.Popen(
            [str(BIN / "recursectl"), "deploy"],
            env=local_cloud.env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
    for code, _out, err in results:
        assert code == 0, err
        assert "Traceback" not in err
    # One function, ours, that runs: nothing half-created.
    info = local_cloud.json("info", "--name", name)
    assert info["function_arn"].endswith(f":function:{name}")
    out = local_cloud.ok("invoke", "--name", name, "--sync", cwd=tmp_path)
    assert '"ok": true' in out
