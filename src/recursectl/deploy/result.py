"""The outcome of `deploy`: what was planned or done, and what was packaged."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recursectl import protocol
from recursectl.build.package import Package
from recursectl.deploy.plan import Desired, Step


@dataclass
class DeployResult:
    function_name: str
    function_arn: str
    role_arn: str
    log_group: str
    package: Package
    desired: Desired
    handler: str  # the user's handler (the function's Handler is the entry point when guarded)
    guarded: bool
    max_calls: int
    max_invocations: int
    recursion: str
    project: str | None
    steps: list[Step]
    warnings: list[str]
    dry_run: bool
    config_written: Path | None = None
    self_arn_env: dict[str, str] = field(default_factory=dict)  # variable -> why it holds the ARN
    # APIs the endpoint does not implement that deploy went on without: api -> consequence
    unsupported: dict[str, str] = field(default_factory=dict)

    @property
    def recursion_applied(self) -> bool:
        return not any(api.endswith("RecursionConfig") for api in self.unsupported)

    @property
    def code_sha256(self) -> str:
        return self.package.code_sha256

    @property
    def code_size(self) -> int:
        return self.package.size

    @property
    def files(self) -> tuple[str, ...]:
        return self.package.files

    @property
    def unchanged(self) -> bool:
        return not self.steps

    @property
    def guard(self) -> str | None:
        """The entry point that wraps the handler, None when no guard is in place."""
        return protocol.ENTRY_POINT if self.guarded else None

    @property
    def budget_mode(self) -> str:
        """`exact` (the chain counter's table counts every child) or `none` (no guard)."""
        return "exact" if self.guarded else "none"

    def to_json(self) -> dict[str, Any]:
        return {
            "function_name": self.function_name,
            "function_arn": self.function_arn,
            "role_arn": self.role_arn,
            "log_group": self.log_group,
            "code_sha256": self.code_sha256,
            "code_size": self.code_size,
            "handler": self.handler,
            "guard": {"active": self.guarded, "entry_point": self.guard},
            "max_calls": self.max_calls,
            "max_invocations": self.max_invocations,
            "budget_mode": self.budget_mode,
            "counter_table": self.desired.counter_table if self.guarded else None,
            "recursion": self.recursion,
            "recursion_applied": self.recursion_applied,
            "unsupported_apis": [
                {"api": api, "consequence": what} for api, what in self.unsupported.items()
            ],
            "project": self.project,
            "changes": [s.to_json() for s in self.steps],
            "unchanged": self.unchanged,
            "warnings": self.warnings,
            "dry_run": self.dry_run,
            "config_written": str(self.config_written) if self.config_written else None,
            "package": self.package_json(),
            "environment": self.environment_json(),
            "iam": {
                "statements": list(self.desired.extra_statements),
                "managed_policies": list(self.desired.managed_policies),
            },
            "self_arn_env": [
                {"name": protocol.SELF_ARN_ENV, "from": "recursectl"},
                *({"name": n, "from": why} for n, why in sorted(self.self_arn_env.items())),
            ],
            "architecture": self.desired.architecture,
            "layers": list(self.desired.layers),
            "job": self.job_json(),
        }

    def job_json(self) -> dict[str, Any] | None:
        """A job function's bucket, bounds and retry path; None for another function."""
        job = self.desired.job
        if job is None:
            return None
        return {
            "bucket": job.bucket,
            "bucket_adopted": job.adopted,
            "state_prefix": f"{protocol.JOB_STATE_PREFIX}{self.function_name}/",
            "state_ttl_days": job.state_ttl_days,
            "bounds": job.bounds,
            "margin_ms": job.margin_ms,
            "async_retries": 0,
            "on_failure": self.function_arn,
            "recursion": self.recursion,
        }

    def package_json(self) -> dict[str, Any]:
        pkg = self.package
        return {
            "handler": pkg.handler,
            "handler_from": pkg.origin,
            "source_root": str(pkg.source_root) if pkg.source_root else None,
            "file_count": len(pkg.listing),
            "unzipped_size": pkg.unzipped_size,
            "zip_size": pkg.size,
            "files": [f.to_json() for f in pkg.listing],
            "dependencies": list(pkg.dependencies),
            "dependencies_for": pkg.deps_target,
            "requirements_from": str(pkg.requirements_file) if pkg.requirements_file else None,
            "installed": pkg.installed,
        }

    def environment_json(self) -> dict[str, Any]:
        d = self.desired
        return {
            "set": sorted(d.environment),
            "kept_outside_recursectl": sorted(d.kept_env),
            "removed": list(d.pruned_env),
        }
