"""What deploy wants: the function, its role and documents, from the settings and the package.

Pure; `recursectl.deploy.plan` diffs it against what exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recursectl import envvars, protocol
from recursectl.errors import UsageError
from recursectl.names import (
    TRUST_REVISION,
    arn_parts,
    counter_table_for,
    guard_covers,
    job_bucket_for,
    log_group_for,
    policy_document,
    recursion_mode,
    role_name_for,
    tags_for,
    trust_document,
)

if TYPE_CHECKING:
    from recursectl.build.package import Package
    from recursectl.settings import Settings


@dataclass(frozen=True)
class JobSpec:
    """A job function's side (docs/jobs.md): its bucket and its declared bounds."""

    bucket: str
    adopted: bool  # named by `[job] bucket`: an existing bucket, never created nor deleted
    max_hops: int = protocol.DEFAULT_JOB_MAX_HOPS
    max_seconds: int = protocol.DEFAULT_JOB_MAX_SECONDS
    max_cost: float | None = None
    margin_ms: int | None = None
    state_ttl_days: int = protocol.JOB_STATE_TTL_DAYS

    @property
    def bounds(self) -> dict[str, Any]:
        out: dict[str, Any] = {"max_hops": self.max_hops, "max_seconds": self.max_seconds}
        if self.max_cost is not None:
            out["max_cost"] = self.max_cost
        return out

    @property
    def bounds_json(self) -> str:
        """RECURSECTL_JOB_BOUNDS: compact JSON."""
        return json.dumps(self.bounds, separators=(",", ":"))


@dataclass(frozen=True)
class Desired:
    name: str
    function_arn: str
    role_name: str
    role_arn: str
    log_group: str
    runtime: str
    handler: str  # the user's handler, `module.function`
    memory: int
    timeout: int
    max_calls: int
    concurrency: int | None
    log_retention_days: int
    code_sha256: str
    code_size: int
    max_invocations: int = protocol.DEFAULT_MAX_INVOCATIONS
    guarded: bool = True  # the entry point wraps the handler (runtime covered, helper has it)
    project: str | None = None
    adopt: bool = False
    generation: int = 0  # raised by `recursectl stop`; deploy carries it over, never lowers it
    environment: Mapping[str, str] = field(default_factory=dict)  # the user's variables
    kept_env: Mapping[str, str] = field(default_factory=dict)  # set outside recursectl: kept
    pruned_env: tuple[str, ...] = ()  # set outside recursectl: removed (--prune-env)
    architecture: str = "x86_64"
    layers: tuple[str, ...] = ()
    extra_statements: tuple[dict[str, Any], ...] = ()
    managed_policies: tuple[str, ...] = ()
    log_format: str | None = None  # "Text" or "JSON"; None: whatever the function has
    job: JobSpec | None = None  # a job function (a [job] table in the settings)

    @property
    def lambda_handler(self) -> str:
        """Lambda's Handler: our entry point when the guard is on (handler redirection)."""
        return protocol.ENTRY_POINT if self.guarded else self.handler

    @property
    def env(self) -> dict[str, str]:
        # Variables set outside recursectl first, so ours and the user's win over them.
        env = {**self.kept_env, **self.environment}
        if self.environment:  # which ones recursectl set (envvars: never removed silently)
            env[envvars.NAMES_ENV] = envvars.names_value(self.environment)
        env |= {
            protocol.SELF_ARN_ENV: self.function_arn,
            protocol.MAX_CALLS_ENV: str(self.max_calls),
            protocol.MAX_INVOCATIONS_ENV: str(self.max_invocations),
        }
        if self.guarded:
            env[protocol.HANDLER_ENV] = self.handler
            env[protocol.COUNTER_TABLE_ENV] = self.counter_table
        if self.job is not None:
            env[protocol.JOB_BUCKET_ENV] = self.job.bucket
            env[protocol.JOB_BOUNDS_ENV] = self.job.bounds_json
            if self.job.margin_ms is not None:
                env[protocol.JOB_MARGIN_ENV] = str(self.job.margin_ms)
        if self.generation:
            env[protocol.GENERATION_ENV] = str(self.generation)
        return env

    @property
    def counter_table(self) -> str:
        """The chain counter's table (the exact budget runs where the guard does)."""
        return counter_table_for(self.name)

    @property
    def recursion(self) -> str:
        if self.job is not None:  # a job goes past AWS's 16 hops by design: its bounds stop it
            return "Allow"
        return recursion_mode(self.max_calls, self.guarded)

    @property
    def applied_stamp(self) -> str:
        # Tag values allow letters, digits, spaces and _.:/=+-@.
        counter = f"/counter:{self.counter_table}" if self.guarded else ""
        job = f"/job:{self.job_stamp}" if self.job is not None else ""
        return f"recursion:{self.recursion}/trust:{TRUST_REVISION}{counter}{job}"

    @property
    def job_stamp(self) -> str | None:
        """What the stamp records of the job bucket once it was ensured: BUCKET=TTL_DAYS."""
        return f"{self.job.bucket}={self.job.state_ttl_days}" if self.job is not None else None

    @property
    def account(self) -> str:
        return arn_parts(self.function_arn)[2]

    @property
    def trust(self) -> dict[str, Any]:
        return trust_document(self.account)

    @property
    def policy(self) -> dict[str, Any]:
        return policy_document(
            self.function_arn,
            self.log_group,
            self.extra_statements,
            self.counter_table if self.guarded else None,
            self.job.bucket if self.job is not None else None,
        )

    @property
    def tags(self) -> dict[str, str]:
        return tags_for(self.project)


def desired_state(
    settings: Settings,
    package: Package,
    function_arn: str,
    *,
    adopt: bool = False,
    generation: int = 0,
    kept_env: Mapping[str, str] | None = None,
    pruned_env: tuple[str, ...] = (),
    extra_statements: tuple[dict[str, Any], ...] = (),
) -> Desired:
    partition, region, account = arn_parts(function_arn)
    role_name = role_name_for(settings.name)
    guarded = guard_covers(settings.runtime) and package.entry_point is not None
    return Desired(
        name=settings.name,
        function_arn=function_arn,
        role_name=role_name,
        role_arn=f"arn:{partition}:iam::{account}:role/{role_name}",
        log_group=log_group_for(settings.name),
        runtime=settings.runtime,
        handler=package.handler,
        memory=settings.memory,
        timeout=settings.timeout,
        max_calls=settings.max_calls,
        max_invocations=settings.max_invocations,
        concurrency=settings.concurrency,
        log_retention_days=settings.log_retention_days,
        code_sha256=package.code_sha256,
        code_size=package.size,
        guarded=guarded,
        project=settings.project_identity,
        adopt=adopt,
        generation=generation,
        environment=dict(settings.environment),
        kept_env=dict(kept_env or {}),
        pruned_env=pruned_env,
        architecture=settings.architecture,
        layers=tuple(settings.layers),
        extra_statements=extra_statements or tuple(dict(s) for s in settings.iam_statements),
        managed_policies=tuple(settings.managed_policies),
        log_format=log_format_name(settings.log_format),
        job=job_spec(settings, account, region, guarded),
    )


def job_spec(settings: Settings, account: str, region: str, guarded: bool) -> JobSpec | None:
    """The job side of a function whose settings have a [job] table; checked against the
    rest of the settings (one-line errors)."""
    if not settings.job:
        return None
    if not guarded:
        raise UsageError(
            f"A job function needs recursectl's guard, which does not cover {settings.runtime}.",
            hint="use a Python or Node.js runtime, or remove the [job] table",
        )
    margin = settings.job_margin_ms
    if margin is not None and margin >= settings.timeout * 1000:
        raise UsageError(
            f"job.margin_ms ({margin}) must be below the timeout ({settings.timeout} s = "
            f"{settings.timeout * 1000} ms).",
            hint="a hop hands over when its remaining time falls under the margin: "
            "raise `timeout` or lower `margin_ms` in [job]",
        )
    return JobSpec(
        bucket=settings.job_bucket or job_bucket_for(settings.name, account, region),
        adopted=settings.job_bucket is not None,
        max_hops=settings.job_max_hops,
        max_seconds=settings.job_max_seconds,
        max_cost=settings.job_max_cost,
        margin_ms=margin,
        state_ttl_days=settings.job_state_ttl_days,
    )


def log_format_name(value: str | None) -> str | None:
    """Lambda's spelling of a LogFormat given in any case (`json` -> `JSON`)."""
    if value is None:
        return None
    return "JSON" if value.lower() == "json" else "Text"
