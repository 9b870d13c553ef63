"""What deploy wants: the function, its role and documents, from the settings and the package.

Pure; `recursectl.deploy.plan` diffs it against what exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recursectl import envvars, protocol
from recursectl.names import (
    TRUST_REVISION,
    arn_parts,
    counter_table_for,
    guard_covers,
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
        if self.generation:
            env[protocol.GENERATION_ENV] = str(self.generation)
        return env

    @property
    def counter_table(self) -> str:
        """The chain counter's table (the exact budget runs where the guard does)."""
        return counter_table_for(self.name)

    @property
    def recursion(self) -> str:
        return recursion_mode(self.max_calls, self.guarded)

    @property
    def applied_stamp(self) -> str:
        # Tag values allow letters, digits, spaces and _.:/=+-@.
        counter = f"/counter:{self.counter_table}" if self.guarded else ""
        return f"recursion:{self.recursion}/trust:{TRUST_REVISION}{counter}"

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
    partition, _, account = arn_parts(function_arn)
    role_name = role_name_for(settings.name)
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
        guarded=guard_covers(settings.runtime) and package.entry_point is not None,
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
    )


def log_format_name(value: str | None) -> str | None:
    """Lambda's spelling of a LogFormat given in any case (`json` -> `JSON`)."""
    if value is None:
        return None
    return "JSON" if value.lower() == "json" else "Text"
