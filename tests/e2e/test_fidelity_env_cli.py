"""Execution-environment fidelity through the AWS CLI (docs/fidelity.md)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from tests.support.cli import Cli


def _zip(path: Path, files: dict[str, str]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    path.write_bytes(buffer.getvalue())
    return path


def test_import_module_error_through_the_aws_cli(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    code = _zip(
        tmp_path / "fn.zip", {"handler.py": "import click\n\ndef handler(e, c):\n  return 1\n"}
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = local_cloud.aws(
        "iam",
        "create-role",
        "--role-name",
        fn_name,
        "--assume-role-policy-document",
        json.dumps(trust),
    )
    assert role.returncode == 0, role.stderr
    arn = json.loads(role.stdout)["Role"]["Arn"]
    created = local_cloud.aws(
        "lambda",
        "create-function",
        "--function-name",
        fn_name,
        "--runtime",
        "python3.11",
        "--role",
        arn,
        "--handler",
        "handler.handler",
        "--zip-file",
        f"fileb://{code}",
    )
    assert created.returncode == 0, created.stderr
    out = tmp_path / "out.json"
    invoked = local_cloud.aws("lambda", "invoke", "--function-name", fn_name, str(out))
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["FunctionError"] == "Unhandled"
    body = json.loads(out.read_text())
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'click'" in body["errorMessage"]
