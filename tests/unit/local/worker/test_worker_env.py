"""A worker's environment: Lambda's variables over the function's, nothing of the host's."""

from __future__ import annotations

from pathlib import Path

import pytest

from recursectl.local.engine.attempt import FunctionSpec
from recursectl.local.worker import worker_env

SPEC = FunctionSpec(
    name="fn", arn="arn:aws:lambda:us-east-1:123456789012:function:fn", handler="h.handler",
    runtime="python3.12", memory=256, timeout=3,
    variables=(("GREETING", "hi"), ("AWS_REGION", "mars-1")), code_sha="x", version="$LATEST",
    log_group="/aws/lambda/fn", region="us-east-1", endpoint="http://127.0.0.1:1",
)  # fmt: skip


def _build(**overrides: object) -> dict[str, str]:
    args: dict[str, object] = {
        "task_root": Path("/t/task"), "runtime_dir": None, "tmp_dir": Path("/t/tmp"),
        "stream": "2026/12/02/[$LATEST]abc", "runtime_api": "127.0.0.1:9", "app_env": {},
        "credentials": None, "telemetry_fd": 7,
    }  # fmt: skip
    args.update(overrides)
    return worker_env.build(SPEC, **args)  # type: ignore[arg-type]


def test_lambdas_variables_win_and_the_hosts_stay_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_OF_THE_HOST", "x")
    env = _build()
    assert "SECRET_OF_THE_HOST" not in env
    assert env["GREETING"] == "hi"
    assert env["AWS_REGION"] == "us-east-1"  # refused at create on AWS; Lambda's wins anyway
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["TMPDIR"] == "/t/tmp"
    assert env["_LAMBDA_TELEMETRY_LOG_FD"] == "7"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_ACCESS_KEY_ID"] == "test"  # no role: keys nothing checks
    assert env["LANG"] == "en_US.UTF-8"  # Lambda's, never the host's
    assert env["AWS_XRAY_CONTEXT_MISSING"] == "LOG_ERROR"
    assert env["AWS_XRAY_DAEMON_ADDRESS"].startswith("127.0.0.1:")  # loopback only


def test_role_credentials_and_an_isolated_runtime_folder() -> None:
    creds = {"AWS_ACCESS_KEY_ID": "ASIAX", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}
    env = _build(credentials=creds, runtime_dir=Path("/t/runtime"))
    assert {k: env[k] for k in creds} == creds
    assert env["PYTHONPATH"] == "/t/task:/t/runtime"
    assert env["LAMBDA_RUNTIME_DIR"] == "/t/runtime"
