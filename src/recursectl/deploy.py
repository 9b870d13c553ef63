"""Deploy: observe AWS, plan the difference, apply it.

`plan()` is pure: it takes what we want (`Desired`) and what exists (`Observed`) and returns
the steps. `observe()` makes at most four read calls for a function that already exists
(GetFunction, GetRole, GetRolePolicy, DescribeLogGroups), so an unchanged redeploy is cheap.

The two Lambda settings that have no cheap read (the event-invoke config and the recursion
config) are stamped into a function tag (`recursectl:applied`) after they were applied; the
tag comes back with GetFunction. A deploy that died half-way has no stamp and re-applies them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recursectl.errors import AwsError, NotFoundError, NotOursError, UsageError
from recursectl.package import Package

if TYPE_CHECKING:
    from recursectl.aws import Aws
    from recursectl.settings import Settings

TAG_KEY = "managed-by"
TAG_VALUE = "recursectl"
APPLIED_TAG = "recursectl:applied"
POLICY_NAME = "recursectl-self-invoke"
RECURSION_ALLOW_FROM = 16  # AWS stops a Lambda-to-Lambda loop after about 16 invocations
ROLE_DEADLINE_S = 120.0
_ROLE_SCHEDULE = (0.5, 0.5, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0)
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


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

    @property
    def env(self) -> dict[str, str]:
        # We own the environment: exactly these two variables.
        return {
            "RECURSECTL_SELF_ARN": self.function_arn,
            "RECURSECTL_MAX_CALLS": str(self.max_calls),
        }

    @property
    def recursion(self) -> str:
        return recursion_mode(self.max_calls)

    @property
    def applied_stamp(self) -> str:
        # Tag values allow letters, digits, spaces and _.:/=+-@ only.
        return f"retries:0/recursion:{self.recursion}"

    @property
    def policy(self) -> dict[str, Any]:
        return policy_document(self.function_arn, self.log_group)


def desired_state(
    settings: Settings, package: Package, function_arn: str, *, adopt: bool = False
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
    )


@dataclass(frozen=True)
class RoleState:
    name: str
    arn: str
    tags: dict[str, str]
    trust: Any
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


@dataclass(frozen=True)
class LogGroupState:
    name: str
    retention: int | None


@dataclass(frozen=True)
class Observed:
    function: FunctionState | None = None
    role: RoleState | None = None
    log_group: LogGroupState | None = None


def is_ours(tags: dict[str, str]) -> bool:
    return tags.get(TAG_KEY) == TAG_VALUE


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
        if not same_document(role.trust, trust_document()):
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

    if fn is None or fn.tags.get(APPLIED_TAG) != d.applied_stamp:
        steps.append(Step("put_invoke_config", "function", "update", d.name, "async retries 0"))
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
    if any(s.op in ("put_invoke_config", "put_recursion") for s in steps):
        steps.append(Step("stamp", "function", "update", d.name, "tag what was applied"))
    return Plan(steps=steps, warnings=warnings)


# observe --------------------------------------------------------------------------------------
def observe(aws: Aws, name: str, *, want_concurrency: bool = False) -> Observed:
    """Read what exists: the function, its role and policy, its log group."""
    from recursectl.aws import translate

    fn: FunctionState | None = None
    try:
        with translate("lambda:GetFunction", name, aws.target):
            got = aws.lambda_.get_function(FunctionName=name)
        cfg = got["Configuration"]
        concurrency = got.get("Concurrency", {}).get("ReservedConcurrentExecutions")
        if concurrency is None and want_concurrency:
            # GetFunction omits a reserved concurrency of 0 on some emulators; ask directly,
            # but only when we are about to manage concurrency anyway.
            with translate("lambda:GetFunctionConcurrency", name, aws.target):
                conc = aws.lambda_.get_function_concurrency(FunctionName=name)
            concurrency = conc.get("ReservedConcurrentExecutions")
        fn = FunctionState(
            name=cfg["FunctionName"],
            arn=cfg["FunctionArn"],
            role=cfg["Role"],
            runtime=cfg.get("Runtime", ""),
            handler=cfg.get("Handler", ""),
            memory=cfg.get("MemorySize", 128),
            timeout=cfg.get("Timeout", 3),
            env=dict(cfg.get("Environment", {}).get("Variables", {})),
            code_sha256=cfg["CodeSha256"],
            code_size=cfg.get("CodeSize", 0),
            tags=dict(got.get("Tags", {})),
            concurrency=concurrency,
            state=cfg.get("State"),
            last_update_status=cfg.get("LastUpdateStatus"),
        )
    except NotFoundError:
        fn = None

    role_name = role_name_for(name)
    role: RoleState | None = None
    try:
        with translate("iam:GetRole", role_name, aws.target):
            r = aws.iam.get_role(RoleName=role_name)["Role"]
        policy: Any | None
        try:
            with translate("iam:GetRolePolicy", f"{role_name}/{POLICY_NAME}", aws.target):
                policy = aws.iam.get_role_policy(RoleName=role_name, PolicyName=POLICY_NAME)[
                    "PolicyDocument"
                ]
        except NotFoundError:
            policy = None
        role = RoleState(
            name=role_name,
            arn=r["Arn"],
            tags={t["Key"]: t["Value"] for t in r.get("Tags", [])},
            trust=r.get("AssumeRolePolicyDocument"),
            policy=policy,
        )
    except NotFoundError:
        role = None

    group_name = log_group_for(name)
    with translate("logs:DescribeLogGroups", group_name, aws.target):
        groups = aws.logs.describe_log_groups(logGroupNamePrefix=group_name)["logGroups"]
    group = next(
        (
            LogGroupState(name=group_name, retention=g.get("retentionInDays"))
            for g in groups
            if g.get("logGroupName") == group_name
        ),
        None,
    )
    return Observed(function=fn, role=role, log_group=group)


# apply ----------------------------------------------------------------------------------------
def _is_role_propagation(exc: AwsError) -> bool:
    # A fresh role is not yet assumable by Lambda for a few seconds after CreateRole.
    return exc.code == "InvalidParameterValueException" and "cannot be assumed" in exc.message


def apply(
    aws: Aws,
    desired: Desired,
    observed: Observed,
    steps: list[Step],
    package: Package,
    progress: Progress = _quiet,
) -> str:
    """Run the steps in order; returns the role ARN. Each step is safe to repeat."""
    from recursectl.aws import translate

    d, lam, iam, logs = desired, aws.lambda_, aws.iam, aws.logs
    tags = {TAG_KEY: TAG_VALUE}
    role_arn = observed.role.arn if observed.role else d.role_arn
    ops = {s.op for s in steps}
    t = aws.target

    def wait(waiter: str) -> None:
        with translate(f"lambda:GetFunction ({waiter})", d.name, t):
            lam.get_waiter(waiter).wait(  # type: ignore[call-overload]
                FunctionName=d.name, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
            )

    def on_retry(exc: AwsError, elapsed: float) -> None:
        progress(f"waiting for the new role to become assumable by Lambda ({elapsed:.0f}s)...")

    def with_role_retry(action: str, fn: Callable[[], Any]) -> Any:
        def attempt() -> Any:
            with translate(action, d.name, t):
                return fn()

        return aws.retry(
            attempt,
            retry_if=_is_role_propagation,
            deadline_s=ROLE_DEADLINE_S,
            schedule=_ROLE_SCHEDULE,
            on_retry=on_retry,
        )

    fn_state = observed.function
    if (
        fn_state is not None
        and fn_state.last_update_status == "InProgress"
        and (ops & {"update_code", "update_config"})
    ):
        progress("waiting for an earlier update of the function to finish...")
        wait("function_updated_v2")

    for step in steps:
        progress(step.describe())
        if step.op == "create_role":
            with translate("iam:CreateRole", d.role_name, t):
                role_arn = iam.create_role(
                    RoleName=d.role_name,
                    AssumeRolePolicyDocument=json.dumps(trust_document()),
                    Description=f"recursectl: execution role of Lambda function {d.name}",
                    Tags=[{"Key": TAG_KEY, "Value": TAG_VALUE}],
                )["Role"]["Arn"]
        elif step.op == "tag_role":
            with translate("iam:TagRole", d.role_name, t):
                iam.tag_role(RoleName=d.role_name, Tags=[{"Key": TAG_KEY, "Value": TAG_VALUE}])
        elif step.op == "update_trust":
            with translate("iam:UpdateAssumeRolePolicy", d.role_name, t):
                iam.update_assume_role_policy(
                    RoleName=d.role_name, PolicyDocument=json.dumps(trust_document())
                )
        elif step.op == "put_policy":
            with translate("iam:PutRolePolicy", f"{d.role_name}/{POLICY_NAME}", t):
                iam.put_role_policy(
                    RoleName=d.role_name,
                    PolicyName=POLICY_NAME,
                    PolicyDocument=json.dumps(d.policy),
                )
        elif step.op == "create_log_group":
            try:
                with translate("logs:CreateLogGroup", d.log_group, t):
                    logs.create_log_group(logGroupName=d.log_group, tags=tags)
            except AwsError as exc:
                if exc.code != "ResourceAlreadyExistsException":
                    raise
            with translate("logs:PutRetentionPolicy", d.log_group, t):
                logs.put_retention_policy(
                    logGroupName=d.log_group, retentionInDays=d.log_retention_days
                )
        elif step.op == "put_retention":
            with translate("logs:PutRetentionPolicy", d.log_group, t):
                logs.put_retention_policy(
                    logGroupName=d.log_group, retentionInDays=d.log_retention_days
                )
        elif step.op == "create_function":
            with_role_retry(
                "lambda:CreateFunction",
                partial(
                    lam.create_function,
                    FunctionName=d.name,
                    Runtime=d.runtime,  # type: ignore[arg-type]
                    Role=role_arn,
                    Handler=d.handler,
                    Code={"ZipFile": package.zip_bytes},
                    Description="Recursive Lambda function managed by recursectl",
                    Timeout=d.timeout,
                    MemorySize=d.memory,
                    Environment={"Variables": d.env},
                    Tags=tags,
                    Publish=False,
                ),
            )
            wait("function_active_v2")
        elif step.op == "tag_function":
            with translate("lambda:TagResource", d.function_arn, t):
                lam.tag_resource(Resource=d.function_arn, Tags=tags)
        elif step.op == "update_code":
            with translate("lambda:UpdateFunctionCode", d.name, t):
                lam.update_function_code(FunctionName=d.name, ZipFile=package.zip_bytes)
            wait("function_updated_v2")
        elif step.op == "update_config":
            with_role_retry(
                "lambda:UpdateFunctionConfiguration",
                partial(
                    lam.update_function_configuration,
                    FunctionName=d.name,
                    Runtime=d.runtime,  # type: ignore[arg-type]
                    Role=role_arn,
                    Handler=d.handler,
                    Timeout=d.timeout,
                    MemorySize=d.memory,
                    Environment={"Variables": d.env},
                ),
            )
            wait("function_updated_v2")
        elif step.op == "put_invoke_config":
            with translate("lambda:PutFunctionEventInvokeConfig", d.name, t):
                lam.put_function_event_invoke_config(FunctionName=d.name, MaximumRetryAttempts=0)
        elif step.op == "put_recursion":
            with translate("lambda:PutFunctionRecursionConfig", d.name, t):
                lam.put_function_recursion_config(
                    FunctionName=d.name,
                    RecursiveLoop=d.recursion,  # type: ignore[arg-type]
                )
        elif step.op == "put_concurrency":
            assert d.concurrency is not None
            with translate("lambda:PutFunctionConcurrency", d.name, t):
                lam.put_function_concurrency(
                    FunctionName=d.name, ReservedConcurrentExecutions=d.concurrency
                )
        elif step.op == "stamp":
            with translate("lambda:TagResource", d.function_arn, t):
                lam.tag_resource(Resource=d.function_arn, Tags={APPLIED_TAG: d.applied_stamp})
        else:  # pragma: no cover - plan and apply are written together
            raise AssertionError(f"unknown step {step.op}")
    return role_arn


# config write-back -----------------------------------------------------------------------------
def write_function_arn(path: Path, function_arn: str) -> bool:
    """Set `function_arn` in a recursectl.toml, keeping comments; True if the file changed."""
    import tomlkit

    text = path.read_text(encoding="utf-8")
    doc = tomlkit.parse(text)
    if doc.get("function_arn") == function_arn:
        return False
    doc["function_arn"] = function_arn
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return True


# the whole command ---------------------------------------------------------------------------
@dataclass
class DeployResult:
    function_name: str
    function_arn: str
    role_arn: str
    log_group: str
    code_sha256: str
    code_size: int
    files: tuple[str, ...]
    handler: str
    steps: list[Step]
    warnings: list[str]
    dry_run: bool
    config_written: Path | None = None

    @property
    def unchanged(self) -> bool:
        return not self.steps

    def to_json(self) -> dict[str, Any]:
        return {
            "function_name": self.function_name,
            "function_arn": self.function_arn,
            "role_arn": self.role_arn,
            "log_group": self.log_group,
            "code_sha256": self.code_sha256,
            "code_size": self.code_size,
            "handler": self.handler,
            "changes": [s.to_json() for s in self.steps],
            "unchanged": self.unchanged,
            "warnings": self.warnings,
            "dry_run": self.dry_run,
            "config_written": str(self.config_written) if self.config_written else None,
        }


def deploy(
    aws: Aws,
    settings: Settings,
    package: Package,
    *,
    adopt: bool = False,
    dry_run: bool = False,
    progress: Progress = _quiet,
) -> DeployResult:
    """Observe, plan and (unless dry_run) apply; then write function_arn into recursectl.toml."""
    check_function_name(settings.name)
    observed = observe(aws, settings.name, want_concurrency=settings.concurrency is not None)
    if observed.function is not None:
        function_arn = observed.function.arn
    else:
        function_arn = aws.function_arn(settings.name)  # one STS call, before anything exists
    desired = desired_state(settings, package, function_arn, adopt=adopt)
    the_plan = plan(desired, observed)
    role_arn = observed.role.arn if observed.role else desired.role_arn
    if not dry_run and the_plan.steps:
        role_arn = apply(aws, desired, observed, the_plan.steps, package, progress)
    written: Path | None = None
    cfg = settings.config_path
    if (
        not dry_run
        and cfg is not None
        and cfg.name == "recursectl.toml"
        and cfg.is_file()
        and write_function_arn(cfg, function_arn)
    ):
        written = cfg
    return DeployResult(
        function_name=settings.name,
        function_arn=function_arn,
        role_arn=role_arn,
        log_group=desired.log_group,
        code_sha256=package.code_sha256,
        code_size=package.size,
        files=package.files,
        handler=package.handler,
        steps=the_plan.steps,
        warnings=the_plan.warnings,
        dry_run=dry_run,
        config_written=written,
    )
