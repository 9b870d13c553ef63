"""The environment variables of a worker process, as Lambda sets them for a runtime."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from recursectl.local.engine.attempt import FunctionSpec

# A function whose role cannot be assumed (no Role): keys nothing checks.
_NO_ROLE = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_SESSION_TOKEN": "test",
}


def build(
    spec: FunctionSpec,
    *,
    task_root: Path,
    runtime_dir: Path | None,
    tmp_dir: Path | None,
    stream: str,
    runtime_api: str,
    app_env: Mapping[str, str],
    credentials: Mapping[str, str] | None,
    telemetry_fd: int,
) -> dict[str, str]:
    """Only what Lambda gives a worker (and PATH, HOME): nothing else of the local cloud's
    own environment reaches a handler."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR")}
    # Set by Lambda, not reserved (a function's own value wins). No X-Ray daemon runs here:
    # the address is loopback, where a segment sent over UDP is dropped (AWS's is a
    # link-local address, which from this machine would leave it).
    env.update(
        {
            "LANG": "en_US.UTF-8",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "_AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1",
            "_AWS_XRAY_DAEMON_PORT": "2000",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        }
    )
    if runtime_dir is not None:
        # With `python -S`: the task root (sys.path[0], the cwd) then the runtime folder,
        # /var/task then /var/runtime as on AWS; nothing of recursectl's environment.
        env["PYTHONPATH"] = f"{task_root}{os.pathsep}{runtime_dir}"
        env["PYTHONNOUSERSITE"] = "1"
    if tmp_dir is not None:
        env["TMPDIR"] = str(tmp_dir)
    env.update(dict(spec.variables))  # the function's own variables, below Lambda's
    env.update(app_env)
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            # As Lambda sets them: the execution role's temporary credentials.
            **(credentials or _NO_ROLE),
            # The handler's boto3 calls (its recursive invoke included) stay local.
            "AWS_ENDPOINT_URL": spec.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "LAMBDA_TASK_ROOT": str(task_root),
            "LAMBDA_RUNTIME_DIR": str(runtime_dir or Path(sys.executable).parent),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "_LAMBDA_TELEMETRY_LOG_FD": str(telemetry_fd),
        }
    )
    if spec.runtime.startswith("python"):
        # As AWS sets it. For python3.12+ awslambdaric then polls /next from a fresh
        # one-thread pool per invocation (measured: no change in hop latency, bench row 1).
        env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{spec.runtime}"
    return env
