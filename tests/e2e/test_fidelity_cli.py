"""Control-plane fidelity through independent clients: the AWS CLI, on functions made by
`recursectl deploy` and by plain `aws lambda create-function` (rows of docs/fidelity.md)."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.support.cli import BIN, Cli

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


def _livetail_settings(cli: Cli, settings: dict[str, object]) -> dict[str, object]:
    """POST the local cloud's Live Tail settings (its control endpoint, with its token)."""
    import urllib.request

    state = Path(cli.env["RECURSECTL_STATE_DIR"])
    token = (state / f"local-{cli.port}.token").read_text().strip()
    request = urllib.request.Request(
        f"{cli.endpoint}/_recursectl/livetail",
        data=json.dumps(settings).encode(),
        headers={"X-Recursectl-Token": token, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        doc: dict[str, object] = json.loads(response.read())
    return doc


def test_cli_start_live_tail_needs_host_prefix_injection_off(
    local_cloud: Cli, fn_name: str
) -> None:
    group = f"/aws/lambda/{fn_name}"
    assert local_cloud.aws("logs", "create-log-group", "--log-group-name", group).returncode == 0
    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{group}"
    tail = ("logs", "start-live-tail", "--log-group-identifiers", arn)
    # The CLI prepends `stream-` to the endpoint's host: 127.0.0.1 becomes a name.
    refused = local_cloud.aws(*tail)
    assert refused.returncode == 255
    assert "stream-127.0.0.1" in refused.stderr
    # The one switch: AWS_DISABLE_HOST_PREFIX_INJECTION (botocore's disable_host_prefix_injection)
    before = _livetail_settings(local_cloud, {})
    _livetail_settings(local_cloud, {"session_s": 2})  # end the session: the CLI then exits
    try:
        env = {**local_cloud.env, "AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}
        proc = subprocess.run(
            [str(BIN / "aws"), "--endpoint-url", local_cloud.endpoint, "--region", "us-east-1",
             *tail],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        _livetail_settings(local_cloud, {"session_s": before["session_s"]})
    # AWS CLI v1 reads the whole stream and prints how it ended: the session was opened and
    # read until the local cloud ended it (an unreachable host would be "Could not connect").
    out = proc.stdout + proc.stderr
    assert "(SessionTimeoutException) when calling the StartLiveTail operation" in out
    assert "reached its limit of 2 s" in out
