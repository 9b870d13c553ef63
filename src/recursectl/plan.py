"""The deploy plan, pure: names, policy documents, desired and observed state, the diff.

`plan()` takes what we want (`Desired`) and what exists (`Observed`) and returns the steps
that `deploy.apply()` runs. No I/O here.

The two Lambda settings that have no cheap read (the event-invoke config and the recursion
config) are stamped into a function tag (`recursectl:applied`) after they were applied; the
tag comes back with GetFunction. A deploy that died half-way has no stamp and re-applies them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recursectl.errors import NotOursError, UsageError
from recursectl.package import Package

# Chains carry the generation they started in; the chain helper stops any chain whose
# generation is below the function's (see templates/python/recursectl_chain.py).
GENERATION_ENV = "RECURSECTL_GENERATION"

if TYPE_CHECKING:
    from recursectl.settings import Settings

TAG_KEY = "managed-by"
TAG_VALUE = "recursectl"
APPLIED_TAG = "recursectl:applied"
POLICY_NAME = "recursectl-self-invoke"
RECURSION_ALLOW_FROM = 16  # AWS stops a Lambda-to-Lambda loop after about 16 invocations
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# naming ----------------------------------------------------------------------------------
def check_function_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise UsageError(
            f"Invalid function name {name!r}.",
            hint="use 1-64 letters, digits, hyphens or underscores (--name)",
        )


def role_name_for(name: str) -> str:
    """`NAME-role`, shortened with a hash when that exceeds IAM's 64 characters."""
    candidate = f"{name}-role"
    if len(candidate) <= 64:
        return candidate
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:50]}-{digest}-role"


def log_group_for(name: str) -> str:
    return f"/aws/lambda/{name}"


def recursion_mode(max_calls: int) -> str:
    """Allow AWS's loop detection to be lifted only when our own cap needs more than 16 hops."""
    return "Allow" if max_calls >= RECURSION_ALLOW_FROM else "Terminate"


def _arn_parts(function_arn: str) -> tuple[str, str, str]:
    """partition, region, account of a function ARN."""
    parts = function_arn.split(":")
    return parts[1], parts[3], parts[4]


def trust_document() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def policy_document(function_arn: str, log_group: str) -> dict[str, Any]:
    """Least privilege: write to its own log group, invoke itself. Nothing else."""
    partition, region, account = _arn_parts(function_arn)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"arn:{partition}:logs:{region}:{account}:log-group:{log_group}:*"],
            },
            {
                "Sid": "InvokeSelf",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [function_arn, f"{function_arn}:*"],
            },
        ],
    }


def _normalize(doc: Any) -> Any:
    """A policy document in a canonical form (IAM may return strings where we sent lists)."""
    if isinstance(doc, str):
        from urllib.parse import unquote

        try:
            doc = json.loads(unquote(doc))
        except ValueError:
            return doc
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            listed = [value] if key in ("Action", "Resource") and isinstance(value, str) else value
            out[key] = _normalize(listed)
        return out
    if isinstance(doc, list):
        return [_normalize(v) for v in doc]
    return doc


def same_document(a: Any, b: Any) -> bool:
    return json.dumps(_normalize(a), sort_keys=True) == json.dumps(_normalize(b), sort_keys=True)


# desired and observed state ---------------------------------------------------------------
@dataclass(frozen=True)
class Desired:
    name: str
    function_arn: str
    role_name: str
    role_arn: str
    log_group: str
    runtime: str
    handler: str
    memory: int
    timeout: int
    max_calls: int
    concurrency: int | None
    log_retention_days: int
    code_sha256: str
    code_size: int
    adopt: bool = False
    generation: int = 0  # raised by `recursectl stop`; deploy carries it over, never lowers it

    @property
    def env(self) -> dict[str, str]:
        # We own the environment: these variables and nothing else.
        env = {
            "RECURSECTL_SELF_ARN": self.function_arn,
            "RECURSECTL_MAX_CALLS": str(self.max_calls),
        }
        if self.generation:
            env[GENERATION_ENV] = str(self.generation)
        return env

    @property
    def recursion(self) -> str:
        return recursion_mode(self.max_calls)

    @property
    def applied_stamp(self) -> str:
        # The recursion config has no cheap read, so deploy tags what it applied; a change made
        # by hand elsewhere is seen by `info`, not by deploy. (The retry setting, which guards
        # against forked chains, is read live.) Tag values allow letters, digits, _.:/=+-@.
        return f"recursion:{self.recursion}"

    @property
    def policy(self) -> dict[str, Any]:
        return policy_document(self.function_arn, self.log_group)


def generation_of(env: dict[str, str]) -> int:
    """The kill-switch generation in a function's environment (0 when never stopped)."""
    raw = env.get(GENERATION_ENV, "0")
    return int(raw) if raw.isdigit() else 0


def desired_state(
    settings: Settings,
    package: Package,
    function_arn: str,
    *,
    adopt: bool = False,
    generation: int = 0,
) -> Desired:
    partition, _, account = _arn_parts(function_arn)
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
        concurrency=settings.concurrency,
        log_retention_days=settings.log_retention_days,
        code_sha256=package.code_sha256,
        code_size=package.size,
        adopt=adopt,
        generation=generation,
    )


@dataclass(frozen=True)
class RoleState:
    name: str
    arn: str
    # None: not read. Observe skips GetRole when our own function uses this role and the role
    # carries our inline policy (only recursectl puts it there): ours, trust not re-checked.
    tags: dict[str, str] | None
    trust: Any | None
    policy: Any | None  # our inline policy document, None when absent


@dataclass(frozen=True)
class FunctionState:
    name: str
    arn: str
    role: str
    runtime: str
    handler: str
    memory: int
    timeout: int
    env: dict[str, str]
    code_sha256: str
    code_size: int
    tags: dict[str, str]
    concurrency: int | None
    state: str | None = None
    last_update_status: str | None = None
    retries: int | None = None  # MaximumRetryAttempts; None: no config (AWS's default, 2)


@dataclass(frozen=True)
class LogGroupState:
    name: str
    retention: int | None


@dataclass(frozen=True)
class Observed:
    function: FunctionState | None = None
    role: RoleState | None = None
    log_group: LogGroupState | None = None


def is_ours(tags: dict[str, str] | None) -> bool:
    """Tagged managed-by=recursectl; None (tags not read) means established as ours otherwise."""
    return tags is None or tags.get(TAG_KEY) == TAG_VALUE


# plan ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    op: str  # what apply() does, e.g. "create_role"
    resource: str  # role | policy | log group | function
    action: str  # create | update
    name: str
    detail: str = ""

    def describe(self) -> str:
        return f"{self.action} {self.resource} {self.name}" + (
            f" ({self.detail})" if self.detail else ""
        )

    def to_json(self) -> dict[str, str]:
        return {
            "op": self.op,
            "resource": self.resource,
            "action": self.action,
            "name": self.name,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Plan:
    steps: list[Step]
    warnings: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not self.steps


def _config_changes(d: Desired, f: FunctionState, role_arn: str) -> list[str]:
    changes = []
    pairs: list[tuple[str, Any, Any]] = [
        ("runtime", f.runtime, d.runtime),
        ("handler", f.handler, d.handler),
        ("memory", f.memory, d.memory),
        ("timeout", f.timeout, d.timeout),
        ("role", f.role, role_arn),
    ]
    for label, old, new in pairs:
        if old != new:
            changes.append(f"{label} {old} -> {new}")
    if f.env != d.env:
        changed = sorted(k for k in set(f.env) | set(d.env) if f.env.get(k) != d.env.get(k))
        changes.append("environment " + ", ".join(changed))
    return changes


def plan(desired: Desired, observed: Observed) -> Plan:
    """The steps that take `observed` to `desired`. Pure; raises NotOursError."""
    d, steps, warnings = desired, [], []
    role, fn, group = observed.role, observed.function, observed.log_group

    if fn is not None and not is_ours(fn.tags) and not d.adopt:
        raise NotOursError(
            f"Function {d.name} exists but is not managed by recursectl "
            f"(no {TAG_KEY}={TAG_VALUE} tag); not touching it.",
            hint="choose another --name, or pass --adopt to take it over",
        )
    if role is not None and not is_ours(role.tags) and not d.adopt:
        raise NotOursError(
            f"IAM role {role.name} exists but is not managed by recursectl; not touching it.",
            hint="choose another --name, or pass --adopt to take it over",
        )

    # role and its one inline policy
    role_arn = role.arn if role else d.role_arn
    if role is None:
        steps.append(
            Step("create_role", "role", "create", d.role_name, "trust lambda.amazonaws.com")
        )
    else:
        if not is_ours(role.tags):
            steps.append(Step("tag_role", "role", "update", d.role_name, "adopt: tag it as ours"))
        if role.trust is not None and not same_document(role.trust, trust_document()):
            steps.append(Step("update_trust", "role", "update", d.role_name, "trust policy"))
    if role is None or role.policy is None:
        steps.append(Step("put_policy", "policy", "create", POLICY_NAME, "least privilege"))
    elif not same_document(role.policy, d.policy):
        steps.append(Step("put_policy", "policy", "update", POLICY_NAME, "least privilege"))

    # log group (created by us, so Lambda never creates one without retention)
    if group is None:
        steps.append(
            Step(
                "create_log_group",
                "log group",
                "create",
                d.log_group,
                f"retention {d.log_retention_days} days",
            )
        )
    elif group.retention != d.log_retention_days:
        steps.append(
            Step(
                "put_retention",
                "log group",
                "update",
                d.log_group,
                f"retention {group.retention or 'never expire'} -> {d.log_retention_days} days",
            )
        )

    # the function: code first, then configuration
    if fn is None:
        steps.append(
            Step(
                "create_function",
                "function",
                "create",
                d.name,
                f"{d.runtime}, {d.memory} MB, {d.timeout} s, cap {d.max_calls}",
            )
        )
    else:
        if not is_ours(fn.tags):
            steps.append(Step("tag_function", "function", "update", d.name, "adopt: tag as ours"))
        if fn.code_sha256 != d.code_sha256:
            steps.append(
                Step(
                    "update_code",
                    "function",
                    "update",
                    d.name,
                    f"code {fn.code_sha256[:8]} -> {d.code_sha256[:8]}",
                )
            )
        changes = _config_changes(d, fn, role_arn)
        if changes:
            steps.append(Step("update_config", "function", "update", d.name, "; ".join(changes)))

    if fn is None or fn.retries != 0:
        steps.append(Step("put_invoke_config", "function", "update", d.name, "async retries 0"))
    if fn is None or fn.tags.get(APPLIED_TAG) != d.applied_stamp:
        steps.append(
            Step("put_recursion", "function", "update", d.name, f"recursive loop {d.recursion}")
        )
        if d.recursion == "Allow":
            warnings.append(
                f"max_calls is {d.max_calls} (16 or more): AWS's recursive loop detection is "
                f"turned off for {d.name}; recursectl's cap of {d.max_calls} is now the guard."
            )

    # reserved concurrency: never lift a kill switch on deploy
    current = fn.concurrency if fn else None
    if current == 0:
        warnings.append(
            f"{d.name} is stopped (reserved concurrency 0); run `recursectl resume` to lift it."
        )
    elif d.concurrency is not None and current != d.concurrency:
        steps.append(
            Step(
                "put_concurrency",
                "function",
                "update",
                d.name,
                f"reserved concurrency {current if current is not None else 'none'} "
                f"-> {d.concurrency}",
            )
        )

    # stamp last: a deploy that fails before this point re-applies on the next run
    if any(s.op == "put_recursion" for s in steps):
        steps.append(Step("stamp", "function", "update", d.name, "tag what was applied"))
    return Plan(steps=steps, warnings=warnings)
