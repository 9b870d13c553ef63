"""A tool shipped with the handler runs on the local cloud as on AWS: the zip's modes are kept
when the code is unpacked, whoever made the zip (recursectl's packager, `zip -r`, zipfile)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from recursectl.build import package
from tests.support.localcloud import wait_active

HANDLER = """import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def handler(event, context):
    tool = os.path.join(HERE, event["tool"])
    try:
        done = subprocess.run([tool, "from the handler"], capture_output=True, text=True)
    except PermissionError as exc:
        return {"error": type(exc).__name__, "errno": exc.errno}
    return {"out": done.stdout, "code": done.returncode}
"""
TOOL = '#!/bin/sh\necho "tool ran: $1"\n'


def _create(lam: Any, name: str, zip_bytes: bytes) -> None:
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role="arn:aws:iam::123456789012:role/fn-role",
        Handler="handler.handler",
        Code={"ZipFile": zip_bytes},
        Timeout=10,
    )
    wait_active(lam, name)


def _run(lam: Any, name: str, tool: str) -> dict[str, Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"tool": tool}))
    assert "FunctionError" not in response, response["Payload"].read()
    result: dict[str, Any] = json.loads(response["Payload"].read())
    return result


def _unix_zip(files: dict[str, tuple[int, str]]) -> bytes:
    """A zip as `zip -r` writes one on Unix: each entry with its st_mode in external_attr."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (mode, text) in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 5, 1, 12, 0, 0))
            info.create_system = 3
            info.external_attr = mode << 16
            zf.writestr(info, text)
    return buf.getvalue()


def test_a_tool_in_a_zip_with_unix_modes_runs_and_a_0644_one_does_not(
    lam: Any, deploy: Any
) -> None:
    deploy("warmup", {"handler.py": "def handler(e, c):\n    return 1\n"})  # creates the role
    data = _unix_zip(
        {
            "handler.py": (0o100644, HANDLER),
            "bin/tool.sh": (0o100755, TOOL),
            "bin/plain.sh": (0o100644, TOOL),
        }
    )
    _create(lam, "modes", data)
    assert _run(lam, "modes", "bin/tool.sh") == {"out": "tool ran: from the handler\n", "code": 0}
    # Without its x bit a script cannot be run, on AWS as here (EACCES).
    assert _run(lam, "modes", "bin/plain.sh") == {"error": "PermissionError", "errno": 13}


@pytest.mark.skipif(shutil.which("zip") is None, reason="Info-ZIP's zip is not installed")
def test_a_tool_in_a_zip_made_by_zip_r_runs(lam: Any, deploy: Any, tmp_path: Path) -> None:
    deploy("warmup", {"handler.py": "def handler(e, c):\n    return 1\n"})
    src = tmp_path / "fn"
    (src / "bin").mkdir(parents=True)
    (src / "handler.py").write_text(HANDLER)
    (src / "bin" / "tool.sh").write_text(TOOL)
    (src / "bin" / "tool.sh").chmod(0o755)
    subprocess.run(["zip", "-qr", str(tmp_path / "fn.zip"), "."], cwd=src, check=True)
    _create(lam, "zipr", (tmp_path / "fn.zip").read_bytes())
    assert _run(lam, "zipr", "bin/tool.sh")["out"] == "tool ran: from the handler\n"


def test_a_tool_packaged_by_recursectl_runs(lam: Any, deploy: Any, tmp_path: Path) -> None:
    deploy("warmup", {"handler.py": "def handler(e, c):\n    return 1\n"})
    (tmp_path / "bin").mkdir()
    (tmp_path / "handler.py").write_text(HANDLER)
    (tmp_path / "bin" / "tool.sh").write_text(TOOL)
    (tmp_path / "bin" / "tool.sh").chmod(0o755)
    pkg = package.build(package.parse_handler(str(tmp_path / "handler.py")))
    _create(lam, "ours", pkg.zip_bytes)
    assert _run(lam, "ours", "bin/tool.sh")["out"] == "tool ran: from the handler\n"
