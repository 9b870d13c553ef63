"""What AWS says about our resources, parsed once: the function, its role, its log group.

`FunctionView` is the one parser of a function's configuration (GetFunction or
GetFunctionConfiguration): deploy, invoke, stop/resume and info all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recursectl import protocol
from recursectl.names import (
    APPLIED_TAG,
    CONCURRENCY_TAG,
    PROJECT_TAG,
    is_ours,
    log_group_for,
)


def _int(raw: str | None) -> int | None:
    return int(raw) if raw is not None and raw.isdigit() else None


@dataclass(frozen=True)
class FunctionView:
    name: str
    arn: str
    role: str
    runtime: str
    lambda_handler: str  # Lambda's Handler setting: our entry point when the guard is on
    memory_mb: int
    timeout: int
    env: dict[str, str]
    code_sha256: str
    code_size: int
    log_group: str  # LoggingConfig.LogGroup when set (a custom group), else /aws/lambda/NAME
    tags: dict[str, str] | None = None  # None: not read (GetFunctionConfiguration)
    concurrency: int | None = None  # reserved concurrency; None: none reserved
    state: str | None = None
    last_update_status: str | None = None
    last_modified: str | None = None
    retries: int | None = None  # MaximumRetryAttempts; None: no config (AWS's default, 2)
    on_failure: str | None = None  # the async OnFailure destination (read by deploy's observe)
    architecture: str = "x86_64"
    layers: tuple[str, ...] = ()  # layer version ARNs, in order
    log_format: str = "Text"  # LoggingConfig.LogFormat
    dead_letter: str | None = None  # DeadLetterConfig.TargetArn

    @classmethod
    def from_configuration(
        cls,
        cfg: dict[str, Any],
        *,
        tags: dict[str, str] | None = None,
        concurrency: int | None = None,
    ) -> FunctionView:
        name = str(cfg["FunctionName"])
        return cls(
            name=name,
            arn=str(cfg["FunctionArn"]),
            role=str(cfg.get("Role", "")),
            runtime=str(cfg.get("Runtime", "")),
            lambda_handler=str(cfg.get("Handler", "")),
            memory_mb=int(cfg.get("MemorySize", 128)),
            timeout=int(cfg.get("Timeout", 3)),
            env=dict(cfg.get("Environment", {}).get("Variables", {})),
            code_sha256=str(cfg.get("CodeSha256", "")),
            code_size=int(cfg.get("CodeSize", 0)),
            log_group=cfg.get("LoggingConfig", {}).get("LogGroup") or log_group_for(name),
            tags=tags,
            concurrency=concurrency,
            state=cfg.get("State"),
            last_update_status=cfg.get("LastUpdateStatus"),
            last_modified=str(cfg["LastModified"]) if cfg.get("LastModified") else None,
            architecture=str((cfg.get("Architectures") or ["x86_64"])[0]),
            layers=tuple(str(layer["Arn"]) for layer in cfg.get("Layers") or ()),
            log_format=str(cfg.get("LoggingConfig", {}).get("LogFormat") or "Text"),
            dead_letter=(cfg.get("DeadLetterConfig") or {}).get("TargetArn") or None,
        )

    @classmethod
    def from_get_function(cls, got: dict[str, Any]) -> FunctionView:
        return cls.from_configuration(
            got["Configuration"],
            tags=dict(got.get("Tags", {})),
            concurrency=got.get("Concurrency", {}).get("ReservedConcurrentExecutions"),
        )

    # what recursectl wrote into it ------------------------------------------------------
    @property
    def guarded(self) -> bool:
        """Handler redirected to our entry point, which wraps the user's handler."""
        return self.lambda_handler == protocol.ENTRY_POINT and bool(
            self.env.get(protocol.HANDLER_ENV)
        )

    @property
    def handler(self) -> str:
        """The user's handler (`module.function`), whether or not the guard wraps it."""
        return self.env[protocol.HANDLER_ENV] if self.guarded else self.lambda_handler

    @property
    def max_calls(self) -> int | None:
        """The depth cap; None when the function was not deployed by recursectl."""
        return _int(self.env.get(protocol.MAX_CALLS_ENV))

    @property
    def max_invocations(self) -> int | None:
        """The chain budget (the helper's default when a recursectl function has none set)."""
        value = _int(self.env.get(protocol.MAX_INVOCATIONS_ENV))
        if value is None and self.max_calls is not None:
            return protocol.DEFAULT_MAX_INVOCATIONS
        return value

    @property
    def self_arn(self) -> str | None:
        return self.env.get(protocol.SELF_ARN_ENV)

    @property
    def job_bounds(self) -> dict[str, object] | None:
        """A job function's declared bounds (RECURSECTL_JOB_BOUNDS); None: not a job function."""
        import json

        raw = self.env.get(protocol.JOB_BOUNDS_ENV)
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}

    @property
    def job_bucket(self) -> str | None:
        return self.env.get(protocol.JOB_BUCKET_ENV)

    @property
    def generation(self) -> int:
        """The kill-switch generation (0 when never stopped)."""
        return _int(self.env.get(protocol.GENERATION_ENV)) or 0

    @property
    def managed(self) -> bool:
        return is_ours(self.tags)

    @property
    def project(self) -> str | None:
        return (self.tags or {}).get(PROJECT_TAG)

    @property
    def applied(self) -> str | None:
        return (self.tags or {}).get(APPLIED_TAG)

    @property
    def stopped(self) -> bool:
        return self.concurrency == 0

    @property
    def concurrency_before_stop(self) -> tuple[bool, int | None]:
        """(known, value): what `stop` remembered; value None means none was reserved."""
        raw = (self.tags or {}).get(CONCURRENCY_TAG)
        if raw is None:
            return False, None
        return (True, None) if raw == "none" else (raw.isdigit(), _int(raw))


@dataclass(frozen=True)
class EventInvokeView:
    """A function's event-invoke config (GetFunctionEventInvokeConfig)."""

    retries: int | None  # MaximumRetryAttempts; None: not set (AWS retries twice)
    max_age_s: int | None  # MaximumEventAgeInSeconds
    on_success: str | None  # DestinationConfig.OnSuccess.Destination
    on_failure: str | None  # DestinationConfig.OnFailure.Destination

    @classmethod
    def from_api(cls, got: dict[str, Any]) -> EventInvokeView:
        dest = got.get("DestinationConfig") or {}
        retries, age = got.get("MaximumRetryAttempts"), got.get("MaximumEventAgeInSeconds")
        return cls(
            retries=int(retries) if retries is not None else None,
            max_age_s=int(age) if age is not None else None,
            on_success=(dest.get("OnSuccess") or {}).get("Destination") or None,
            on_failure=(dest.get("OnFailure") or {}).get("Destination") or None,
        )


@dataclass(frozen=True)
class RoleView:
    name: str
    arn: str
    # None: not read. Deploy skips GetRole when our own function uses this role and the role
    # carries our inline policy (only recursectl puts it there): ours, trust not re-checked.
    tags: dict[str, str] | None
    trust: Any | None
    policy: Any | None  # our inline policy document, None when absent
    attached: tuple[str, ...] | None = None  # managed policy ARNs; None: not read


@dataclass(frozen=True)
class LogGroupView:
    name: str
    retention: int | None  # None: never expire
    tags: dict[str, str] | None = None  # None: not read (only read when deploy would change it)
