"""What an execution environment is built from and what one attempt of a request carries."""

from __future__ import annotations

import base64
import contextlib
import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FunctionSpec:
    """What an environment is built from; environments are reused only for an equal spec."""

    name: str
    arn: str
    handler: str
    runtime: str
    memory: int
    timeout: int
    variables: tuple[tuple[str, str], ...]
    code_sha: str
    version: str
    log_group: str
    region: str
    endpoint: str
    # LoggingConfig (levels only with JSON, as AWS allows them): see local/worker/platform_log.py.
    log_format: str = "Text"
    app_log_level: str = ""
    system_log_level: str = ""
    role: str = ""  # the execution role (a new role: new environments, new credentials)


@dataclass
class Attempt:
    """One execution attempt of one request, in one environment (chain.Invocation is the
    log-side view of a whole request; this is the engine's)."""

    request_id: str
    payload: bytes
    trace_id: str
    arn: str
    deadline_ms: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    body: bytes = b""
    error_type: str | None = None
    is_error: bool = False
    crashed: bool = False
    dispatched: float = 0.0
    finished: float = 0.0
    lines: list[str] = field(default_factory=list)
    client_context: str | None = None  # base64 JSON, as the Invoke request's header had it

    def runtime_headers(self) -> dict[str, str]:
        headers = {
            "Lambda-Runtime-Aws-Request-Id": self.request_id,
            "Lambda-Runtime-Deadline-Ms": str(self.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.arn,
            # The runtime copies this into _X_AMZN_TRACE_ID; botocore forwards it on every
            # call the handler makes: that is how a recursive loop is recognised.
            "Lambda-Runtime-Trace-Id": self.trace_id,
        }
        if self.client_context:
            # The Runtime API hands the runtime the decoded JSON (context.client_context).
            with contextlib.suppress(ValueError):
                decoded = base64.b64decode(self.client_context, validate=True).decode()
                headers["Lambda-Runtime-Client-Context"] = decoded
        return headers


@dataclass
class Outcome:
    """How an invocation ended. status: success | error | timeout | init_error | crash."""

    status: str
    body: bytes
    error_type: str | None
    duration_ms: float
    init_ms: float | None
    log_text: str  # START .. REPORT of this invocation (for LogType=Tail)

    @property
    def failed(self) -> bool:
        return self.status != "success"
