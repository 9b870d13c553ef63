"""Operating a deployed function: stop (kill switch), resume, info, destroy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recursectl.errors import AwsError, NotFoundError, NotOursError
from recursectl.plan import (
    APPLIED_TAG,
    is_ours,
    log_group_for,
    role_name_for,
)

if TYPE_CHECKING:
    from recursectl.aws import Aws


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(
        f"Function {name} does not exist.",
        hint=f"deploy it first: `recursectl deploy --name {name}` (or check --region / --name)",
    )


def _get_function(aws: Aws, name: str) -> dict[str, Any]:
    from recursectl.aws import translate

    try:
        with translate("lambda:GetFunction", name, aws.target):
            return dict(aws.lambda_.get_function(FunctionName=name))
    except NotFoundError:
        raise _not_found(name) from None


def _concurrency(aws: Aws, name: str) -> int | None:
    from recursectl.aws import translate

    with translate("lambda:GetFunctionConcurrency", name, aws.target):
        got = aws.lambda_.get_function_concurrency(FunctionName=name)
    value = got.get("ReservedConcurrentExecutions")
    return int(value) if value is not None else None


# stop / resume -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ConcurrencyChange:
    name: str
    before: int | None  # None: no reserved concurrency (the account's unreserved pool)
    after: int | None
    generation: int | None = None  # stop: the new kill-switch generation (None: not ours)


def stop(aws: Aws, name: str) -> ConcurrencyChange:
    """The kill switch: reserved concurrency 0, so no new invocation of `name` starts.

    Works on any function of that name (it is an emergency stop, and `resume` undoes it).
    """
    from recursectl.aws import translate
    from recursectl.plan import GENERATION_ENV, generation_of

    got = _get_function(aws, name)
    before = _concurrency(aws, name)
    if before != 0:
        with translate("lambda:PutFunctionConcurrency", name, aws.target):
            aws.lambda_.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    # Concurrency 0 only pauses: AWS keeps throttled async events (up to the maximum event
    # age, 6 h by default) and runs them once concurrency is back, which would revive the
    # runaway chain. Raising the generation makes the chain helper end every chain that
    # started before this stop, whenever its queued hop finally runs.
    env = dict(got["Configuration"].get("Environment", {}).get("Variables", {}))
    if "RECURSECTL_MAX_CALLS" not in env:
        return ConcurrencyChange(name=name, before=before, after=0)  # not a recursectl function
    generation = generation_of(env) + 1
    env[GENERATION_ENV] = str(generation)
    with translate("lambda:UpdateFunctionConfiguration", name, aws.target):
        aws.lambda_.update_function_configuration(FunctionName=name, Environment={"Variables": env})
    with translate("lambda:GetFunctionConfiguration", name, aws.target):
        aws.lambda_.get_waiter("function_updated_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
    return ConcurrencyChange(name=name, before=before, after=0, generation=generation)


def resume(aws: Aws, name: str, concurrency: int | None = None) -> ConcurrencyChange:
    """Lift the kill switch: restore the configured reserved concurrency, or remove it."""
    from recursectl.aws import translate

    _get_function(aws, name)
    before = _concurrency(aws, name)
    if concurrency:
        if before != concurrency:
            with translate("lambda:PutFunctionConcurrency", name, aws.target):
                aws.lambda_.put_function_concurrency(
                    FunctionName=name, ReservedConcurrentExecutions=concurrency
                )
        return ConcurrencyChange(name=name, before=before, after=concurrency)
    if before is not None:
        with translate("lambda:DeleteFunctionConcurrency", name, aws.target):
            aws.lambda_.delete_function_concurrency(FunctionName=name)
    return ConcurrencyChange(name=name, before=before, after=None)


# info ------------------------------------------------------------------------------------------
# The last chain's summary is added by the logs feature: pass `last_chain=` a function that takes
# the function name and returns a JSON-able summary (or None when there is no chain yet).
LastChainHook = Callable[[str], "dict[str, Any] | None"]


@dataclass
class FunctionInfo:
    name: str
    arn: str
    state: str | None
    last_update_status: str | None
    managed: bool
    runtime: str | None
    handler: str | None
    memory: int | None
    timeout: int | None
    code_size: int | None
    code_sha256: str | None
    last_modified: str | None
    role: str | None
    max_calls: int | None
    self_arn: str | None
    recursion: str | None
    concurrency: int | None
    retries: int | None
    applied: str | None
    last_chain: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def stopped(self) -> bool:
        return self.concurrency == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "function_name": self.name,
            "function_arn": self.arn,
            "state": self.state,
            "last_update_status": self.last_update_status,
            "managed_by_recursectl": self.managed,
            "stopped": self.stopped,
            "runtime": self.runtime,
            "handler": self.handler,
            "memory_mb": self.memory,
            "timeout_s": self.timeout,
            "code_size": self.code_size,
            "code_sha256": self.code_sha256,
            "last_modified": self.last_modified,
            "role_arn": self.role,
            "max_calls": self.max_calls,
            "recursion": self.recursion,
            "reserved_concurrency": self.concurrency,
            "async_retries": self.retries,
            "last_chain": self.last_chain,
            "notes": self.notes,
        }


def info(aws: Aws, name: str, *, last_chain: LastChainHook | None = None) -> FunctionInfo:
    """Everything worth knowing about a deployed function, read fresh from AWS."""
    from recursectl.aws import translate

    got = _get_function(aws, name)
    cfg = got["Configuration"]
    env = cfg.get("Environment", {}).get("Variables", {})
    tags = dict(got.get("Tags", {}))
    with translate("lambda:GetFunctionRecursionConfig", name, aws.target):
        recursion = aws.lambda_.get_function_recursion_config(FunctionName=name).get(
            "RecursiveLoop"
        )
    retries: int | None = None
    try:
        with translate("lambda:GetFunctionEventInvokeConfig", name, aws.target):
            retries = aws.lambda_.get_function_event_invoke_config(FunctionName=name).get(
                "MaximumRetryAttempts"
            )
    except NotFoundError:
        retries = None  # AWS default: 2 retries
    raw_cap = env.get("RECURSECTL_MAX_CALLS")
    result = FunctionInfo(
        name=cfg["FunctionName"],
        arn=cfg["FunctionArn"],
        state=cfg.get("State"),
        last_update_status=cfg.get("LastUpdateStatus"),
        managed=is_ours(tags),
        runtime=cfg.get("Runtime"),
        handler=cfg.get("Handler"),
        memory=cfg.get("MemorySize"),
        timeout=cfg.get("Timeout"),
        code_size=cfg.get("CodeSize"),
        code_sha256=cfg.get("CodeSha256"),
        last_modified=str(cfg["LastModified"]) if cfg.get("LastModified") else None,
        role=cfg.get("Role"),
        max_calls=int(raw_cap) if raw_cap and raw_cap.isdigit() else None,
        self_arn=env.get("RECURSECTL_SELF_ARN"),
        recursion=recursion,
        concurrency=_concurrency(aws, name),
        retries=retries,
        applied=tags.get(APPLIED_TAG),
    )
    if result.retries is None or result.retries > 0:
        result.notes.append("failed async invocations are retried: a failed hop can fork a chain")
    if result.max_calls is None:
        result.notes.append("no RECURSECTL_MAX_CALLS: not deployed by recursectl, no cap")
    if last_chain is not None:
        result.last_chain = last_chain(name)
    return result


# destroy ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Removal:
    resource: str  # function | role | policy | log group
    name: str
    outcome: str  # deleted | absent | kept
    reason: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "resource": self.resource,
            "name": self.name,
            "outcome": self.outcome,
            "reason": self.reason,
        }


def destroy(aws: Aws, name: str, *, keep_logs: bool = False) -> list[Removal]:
    """Delete the function, its role (with inline policies) and log group: only ours.

    Refuses (NotOursError) before deleting anything when the function or the role exists but
    is not tagged as recursectl's. Safe to repeat: what is already gone is reported as absent.
    """
    from recursectl.aws import translate

    t = aws.target
    out: list[Removal] = []
    try:
        got = _get_function(aws, name)
    except NotFoundError:
        got = None
    if got is not None and not is_ours(dict(got.get("Tags", {}))):
        raise NotOursError(
            f"Function {name} is not managed by recursectl; not deleting anything.",
            hint="delete it with the tool that created it (e.g. `aws lambda delete-function`)",
        )
    role_name = role_name_for(name)
    role: dict[str, Any] | None
    try:
        with translate("iam:GetRole", role_name, t):
            role = dict(aws.iam.get_role(RoleName=role_name)["Role"])
    except NotFoundError:
        role = None
    role_tags = {x["Key"]: x["Value"] for x in (role or {}).get("Tags", [])}
    if role is not None and not is_ours(role_tags):
        raise NotOursError(
            f"IAM role {role_name} is not managed by recursectl; not deleting anything.",
            hint="delete or rename it yourself, then run destroy again",
        )

    if got is not None:
        try:
            with translate("lambda:DeleteFunction", name, t):
                aws.lambda_.delete_function(FunctionName=name)
            out.append(Removal("function", name, "deleted"))
        except NotFoundError:
            out.append(Removal("function", name, "absent"))
    else:
        out.append(Removal("function", name, "absent"))

    if role is not None:
        with translate("iam:ListRolePolicies", role_name, t):
            policies = aws.iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        for policy in policies:  # the role is ours: its inline policies are too
            with translate("iam:DeleteRolePolicy", f"{role_name}/{policy}", t):
                aws.iam.delete_role_policy(RoleName=role_name, PolicyName=policy)
            out.append(Removal("policy", policy, "deleted"))
        try:
            with translate("iam:DeleteRole", role_name, t):
                aws.iam.delete_role(RoleName=role_name)
        except AwsError as exc:
            if exc.code == "DeleteConflict":
                raise AwsError(
                    f"Role {role_name} still has managed policies attached: {exc.message}",
                    hint=f"detach them (`aws iam list-attached-role-policies --role-name "
                    f"{role_name}`) and run destroy again",
                    code=exc.code,
                ) from None
            raise
        out.append(Removal("role", role_name, "deleted"))
    else:
        out.append(Removal("role", role_name, "absent"))

    group = log_group_for(name)
    if keep_logs:
        out.append(Removal("log group", group, "kept", "--keep-logs"))
        return out
    try:
        with translate("logs:ListTagsLogGroup", group, t):
            group_tags = aws.logs.list_tags_log_group(logGroupName=group).get("tags", {})
    except NotFoundError:
        out.append(Removal("log group", group, "absent"))
        return out
    if not is_ours(group_tags):
        out.append(Removal("log group", group, "kept", "not tagged as recursectl's"))
        return out
    try:
        with translate("logs:DeleteLogGroup", group, t):
            aws.logs.delete_log_group(logGroupName=group)
        out.append(Removal("log group", group, "deleted"))
    except NotFoundError:
        out.append(Removal("log group", group, "absent"))
    return out
