"""Deploy: observe AWS, plan the difference (recursectl.plan), apply it.

`observe()` makes four read calls for a function of ours that already exists (GetFunction,
GetFunctionEventInvokeConfig, GetRolePolicy, DescribeLogGroups), so an unchanged redeploy is
cheap; GetRole only when the role is not plainly ours, and STS only when the function does not
exist yet.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recursectl.errors import AwsError, NotFoundError
from recursectl.package import Package
from recursectl.plan import (
    APPLIED_TAG,
    POLICY_NAME,
    TAG_KEY,
    TAG_VALUE,
    Desired,
    FunctionState,
    LogGroupState,
    Observed,
    RoleState,
    Step,
    check_function_name,
    desired_state,
    generation_of,
    is_ours,
    log_group_for,
    plan,
    role_name_for,
    trust_document,
)

if TYPE_CHECKING:
    from recursectl.aws import Aws
    from recursectl.settings import Settings

ROLE_DEADLINE_S = 120.0
_ROLE_SCHEDULE = (0.5, 0.5, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0)

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


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

    if fn is not None:
        try:
            with translate("lambda:GetFunctionEventInvokeConfig", name, aws.target):
                eic = aws.lambda_.get_function_event_invoke_config(FunctionName=name)
            fn = replace(fn, retries=eic.get("MaximumRetryAttempts"))
        except NotFoundError:
            pass  # no config: AWS retries twice (fn.retries stays None)

    role_name = role_name_for(name)
    role: RoleState | None = None
    if fn is not None and is_ours(fn.tags) and fn.role.endswith(f":role/{role_name}"):
        # Our function uses our role: its inline policy is all we need to read (one call
        # instead of two; an unchanged redeploy stays at four reads).
        try:
            with translate("iam:GetRolePolicy", f"{role_name}/{POLICY_NAME}", aws.target):
                doc = aws.iam.get_role_policy(RoleName=role_name, PolicyName=POLICY_NAME)
            return Observed(
                function=fn,
                role=RoleState(
                    name=role_name, arn=fn.role, tags=None, trust=None, policy=doc["PolicyDocument"]
                ),
                log_group=_observe_log_group(aws, name),
            )
        except NotFoundError:
            pass  # role or policy gone: look at the role itself below
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
    return Observed(function=fn, role=role, log_group=_observe_log_group(aws, name))


def _observe_log_group(aws: Aws, name: str) -> LogGroupState | None:
    from recursectl.aws import translate

    group_name = log_group_for(name)
    with translate("logs:DescribeLogGroups", group_name, aws.target):
        groups = aws.logs.describe_log_groups(logGroupNamePrefix=group_name)["logGroups"]
    return next(
        (
            LogGroupState(name=group_name, retention=g.get("retentionInDays"))
            for g in groups
            if g.get("logGroupName") == group_name
        ),
        None,
    )


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

    def config() -> dict[str, Any]:
        # What CreateFunction and UpdateFunctionConfiguration both set: one list, no drift.
        return {
            "FunctionName": d.name,
            "Runtime": d.runtime,
            "Role": role_arn,
            "Handler": d.handler,
            "Timeout": d.timeout,
            "MemorySize": d.memory,
            "Environment": {"Variables": d.env},
        }

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
        elif step.op in ("create_log_group", "put_retention"):
            if step.op == "create_log_group":
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
        elif step.op == "create_function":
            with_role_retry(
                "lambda:CreateFunction",
                partial(
                    lam.create_function,
                    **config(),
                    Code={"ZipFile": package.zip_bytes},
                    Description="Recursive Lambda function managed by recursectl",
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
                partial(lam.update_function_configuration, **config()),
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
    generation = generation_of(observed.function.env) if observed.function else 0
    desired = desired_state(settings, package, function_arn, adopt=adopt, generation=generation)
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
