"""Control-plane fidelity through independent clients: the AWS CLI, on functions made by
`recursectl deploy` and by plain `aws lambda create-function` (rows of docs/fidelity.md)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e


def _zip(tmp_path: Path, source: str) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", source)
    path = tmp_path / "fn.zip"
    path.write_bytes(buffer.getvalue())
    return path


def test_cli_alias_of_a_recursectl_deploy_runs_its_version(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    local_cloud.ok("deploy", "--name", fn_name)
    published = local_cloud.aws("lambda", "publish-version", "--function-name", fn_name)
    assert published.returncode == 0, published.stderr
    assert json.loads(published.stdout)["Version"] == "1"
    alias = local_cloud.aws(
        "lambda",
        "create-alias",
        "--function-name",
        fn_name,
        "--name",
        "live",
        "--function-version",
        "1",
    )
    assert alias.returncode == 0, alias.stderr
    out = tmp_path / "out.json"
    invoked = local_cloud.aws(
        "lambda",
        "invoke",
        "--function-name",
        f"{fn_name}:live",
        "--payload",
        '{"numberOfCalls": 0}',
        str(out),
    )
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["ExecutedVersion"] == "1"
    settings = local_cloud.aws("lambda", "get-account-settings")
    assert json.loads(settings.stdout)["AccountLimit"]["ConcurrentExecutions"] == 1000


def test_cli_create_function_refuses_reserved_keys_and_starts_pending(
    local_cloud: Cli, fn_name: str, tmp_path: Path
) -> None:
    role = local_cloud.aws(
        "iam", "create-role", "--role-name", f"{fn_name}-r", "--assume-role-policy-document", "{}"
    )
    arn = json.loads(role.stdout)["Role"]["Arn"]
    zipped = _zip(tmp_path, "def handler(e, c):\n    return 1\n")
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
        f"fileb://{zipped}",
        "--environment",
        "Variables={AWS_REGION=eu-west-1}",
    )
    assert created.returncode != 0
    assert "InvalidParameterValueException" in created.stderr
    assert "Reserved keys used in this request: AWS_REGION" in created.stderr
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
        f"fileb://{zipped}",
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["State"] == "Pending"
    # (Invoke while Pending is refused: test_fidelity_api.py; an AWS CLI process takes
    # longer to start than the local Pending state lasts.)
    waited = local_cloud.aws("lambda", "wait", "function-active-v2", "--function-name", fn_name)
    assert waited.returncode == 0, waited.stderr
    ran = local_cloud.aws("lambda", "invoke", "--function-name", fn_name, str(tmp_path / "o"))
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "o").read_text() == "1"
