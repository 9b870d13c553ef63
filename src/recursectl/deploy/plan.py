"""The deploy plan, pure: desired state, observed state, the diff.

`plan()` takes what we want (`Desired`) and what exists (`Observed`, the AWS layer's views)
and returns the steps that `deploy.apply()` runs, one `Op` each. No I/O here; names, tags and
the role's documents are in `recursectl.names`.

The settings that have no cheap read (the recursion config, and the revision of the role's
trust policy) are stamped into a function tag (`recursectl:applied`) after they were applied;
the tag comes back with GetFunction. A deploy that died half-way has no stamp and re-applies.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recursectl import protocol
from recursectl.aws.view import FunctionView, LogGroupView, RoleView
from recursectl.build.runtimes import language_of as runtime_language
from recursectl.deploy.desired import Desired, desired_state
from recursectl.errors import NotOursError
from recursectl.names import (
    APPLIED_TAG,
    POLICY_NAME,
    PROJECT_TAG,
    RECURSION_ALLOW_FROM,
    TAG_KEY,
    TAG_VALUE,
    TRUST_REVISION,
    claimed_by_other,
    is_ours,
    same_document,
)

if TYPE_CHECKING:
    pass


class Op(str, enum.Enum):
    """What one step does; `deploy.APPLY` has one function per op."""

    CREATE_ROLE = "create_role"
    TAG_ROLE = "tag_role"
    UPDATE_TRUST = "update_trust"
    PUT_POLICY = "put_policy"
    ATTACH_POLICY = "attach_policy"
    CREATE_LOG_GROUP = "create_log_group"
    ENSURE_COUNTER = "ensure_counter"
    ENSURE_JOB_BUCKET = "ensure_job_bucket"
    PUT_RETENTION = "put_retention"
    CREATE_FUNCTION = "create_function"
    TAG_FUNCTION = "tag_function"
    UPDATE_CODE = "update_code"
    UPDATE_CONFIG = "update_config"
    PUT_INVOKE_CONFIG = "put_invoke_config"
    PUT_RECURSION = "put_recursion"
    PUT_CONCURRENCY = "put_concurrency"
    STAMP = "stamp"

    def __str__(self) -> str:
        return self.value


# observed state ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Observed:
    function: FunctionView | None = None
    role: RoleView | None = None
    log_group: LogGroupView | None = None
    job_bucket_gone: bool = False  # the job bucket the function names does not exist


def stamp_parts(stamp: str | None) -> dict[str, str]:
    """`recursion:Allow/trust:2` -> {"recursion": "Allow", "trust": "2"}."""
    parts = (p.partition(":") for p in (stamp or "").split("/"))
    return {k: v for k, _, v in parts if k}


def trust_is_current(fn: FunctionView | None) -> bool:
    return fn is not None and stamp_parts(fn.applied).get("trust") == str(TRUST_REVISION)


# plan ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    op: Op
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
            "op": self.op.value,
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


def _refuse_if_not_ours(
    d: Desired, kind: str, name: str, tags: dict[str, str] | None, differs: str = ""
) -> None:
    if d.adopt:
        return
    hint = "choose another --name, or pass --adopt to take it over"
    if not is_ours(tags):
        raise NotOursError(
            f"{kind} {name} exists but is not managed by recursectl "
            f"(no {TAG_KEY}={TAG_VALUE} tag); not touching it.",
            hint=hint,
        )
    other = claimed_by_other(tags, d.project)
    if other is not None:
        mine = f"project {d.project!r}" if d.project else "a deploy without a project"
        raise NotOursError(
            f"{kind} {name} belongs to recursectl project {other!r}, not to {mine}; "
            f"not touching it.{differs}",
            hint=f"choose another --name, set `project = {other!r}` if it is yours, "
            "or pass --adopt to take it over",
        )


def check_ours(d: Desired, kind: str, name: str, tags: dict[str, str] | None) -> None:
    """NotOursError unless the resource is ours (or unclaimed, or --adopt): for resources
    apply finds, such as the job bucket."""
    _refuse_if_not_ours(d, kind, name, tags)


def _differences(d: Desired, fn: FunctionView) -> str:
    """What this deploy would change about an existing function's identity."""
    pairs = [
        ("project", (fn.tags or {}).get(PROJECT_TAG, "none"), d.project or "none"),
        ("runtime", fn.runtime, d.runtime),
        ("handler", fn.handler, d.handler),
    ]
    return ", ".join(f"{label} {old} -> {new}" for label, old, new in pairs if old != new)


def _refuse_other_language(d: Desired, fn: FunctionView, differs: str) -> None:
    """A function written in another language is another program: replacing it is a choice."""
    old, new = runtime_language(fn.runtime), runtime_language(d.runtime)
    if d.adopt or old is None or new is None or old == new:
        return
    raise NotOursError(
        f"Function {d.name} runs {fn.runtime}; this deploy would replace it with "
        f"{d.runtime} code. What differs: {differs}.",
        hint="choose another --name (or `name` in recursectl.toml), or pass --adopt to replace it",
    )


def _needs_tags(d: Desired, tags: dict[str, str] | None) -> str | None:
    """Why a resource of ours needs (re)tagging, or None."""
    if tags is None:
        return None
    if not is_ours(tags) or claimed_by_other(tags, d.project) is not None:
        return "adopt: tag it as ours"
    if d.project and tags.get(PROJECT_TAG) != d.project:
        return f"project {d.project}"
    return None


def _role_steps(d: Desired, role: RoleView | None) -> list[Step]:
    steps = []
    if role is None:
        steps.append(
            Step(Op.CREATE_ROLE, "role", "create", d.role_name, "trust lambda.amazonaws.com")
        )
    else:
        why = _needs_tags(d, role.tags)
        if why:
            steps.append(Step(Op.TAG_ROLE, "role", "update", d.role_name, why))
        if role.trust is not None and not same_document(role.trust, d.trust):
            steps.append(
                Step(Op.UPDATE_TRUST, "role", "update", d.role_name, "trust policy, this account")
            )
    detail = "least privilege" + (
        f" + {len(d.extra_statements)} statement(s) from the settings: "
        + "; ".join(_statement_label(st) for st in d.extra_statements)
        if d.extra_statements
        else ""
    )
    if role is None or role.policy is None:
        steps.append(Step(Op.PUT_POLICY, "policy", "create", POLICY_NAME, detail))
    elif not same_document(role.policy, d.policy):
        steps.append(Step(Op.PUT_POLICY, "policy", "update", POLICY_NAME, detail))
    attached = set(role.attached or ()) if role is not None else set()
    missing = [arn for arn in d.managed_policies if arn not in attached]
    if missing:
        detail = "attach " + ", ".join(missing)
        steps.append(Step(Op.ATTACH_POLICY, "role", "update", d.role_name, detail))
    return steps


def _statement_label(st: Mapping[str, Any]) -> str:
    def items(key: str) -> str:
        value = st.get(key, st.get(f"Not{key}", []))
        return ",".join([value] if isinstance(value, str) else value)

    return f"{st['Effect']} {items('Action')} on {items('Resource')}"


def _env_warnings(d: Desired) -> list[str]:
    if d.kept_env:
        names = ", ".join(sorted(d.kept_env))
        return [
            f"environment variable(s) set outside recursectl are kept: {names} "
            "(--prune-env removes them)"
        ]
    return []


def _log_group_steps(d: Desired, group: LogGroupView | None, warnings: list[str]) -> list[Step]:
    # Created by us up front, so Lambda never creates one without retention.
    if group is None:
        detail = f"retention {d.log_retention_days} days"
        return [Step(Op.CREATE_LOG_GROUP, "log group", "create", d.log_group, detail)]
    if group.retention == d.log_retention_days:
        return []
    before = f"{group.retention} days" if group.retention else "never expire"
    if not is_ours(group.tags):
        # On AWS a shorter retention deletes older events: never change a group we do not own.
        warnings.append(
            f"log group {d.log_group} exists and is not tagged {TAG_KEY}={TAG_VALUE}: its "
            f"retention ({before}) is left as it is, not set to {d.log_retention_days} days."
        )
        return []
    detail = f"retention {before} -> {d.log_retention_days} days"
    return [Step(Op.PUT_RETENTION, "log group", "update", d.log_group, detail)]


def _counter_steps(d: Desired, fn: FunctionView | None) -> list[Step]:
    # The counter table has no cheap read worth making on every deploy: the stamp says it
    # was ensured (created with its TTL); a deploy that died before the stamp ensures again.
    if not d.guarded or stamp_parts(fn.applied if fn else None).get("counter") == d.counter_table:
        return []
    detail = "chain counter: exact budget, DynamoDB on-demand, TTL 2 days"
    return [Step(Op.ENSURE_COUNTER, "table", "create", d.counter_table, detail)]


def _job_bucket_steps(d: Desired, fn: FunctionView | None, gone: bool = False) -> list[Step]:
    # The stamp records the bucket and its TTL once they were ensured (a deploy that died
    # before the stamp ensures them again); `gone`: the bucket was deleted since.
    job = d.job
    stamped = stamp_parts(fn.applied if fn else None).get("job") == d.job_stamp
    if job is None or (stamped and not gone):
        return []
    if gone and not job.adopted:
        detail = "job state: the bucket is gone, create it again (public access blocked, SSE-S3)"
        return [Step(Op.ENSURE_JOB_BUCKET, "bucket", "create", job.bucket, detail)]
    expiry = f"expire {protocol.JOB_STATE_PREFIX} after {job.state_ttl_days} days"
    if job.adopted:
        detail = f"job state: adopt it, {expiry}"
        return [Step(Op.ENSURE_JOB_BUCKET, "bucket", "update", job.bucket, detail)]
    detail = f"job state: public access blocked, SSE-S3, {expiry}"
    return [Step(Op.ENSURE_JOB_BUCKET, "bucket", "create", job.bucket, detail)]


def _config_changes(d: Desired, f: FunctionView, role_arn: str) -> list[str]:
    changes = []
    pairs: list[tuple[str, Any, Any]] = [
        ("runtime", f.runtime, d.runtime),
        ("handler", f.handler, d.handler),
        ("guard", "on" if f.guarded else "off", "on" if d.guarded else "off"),
        ("memory", f.memory_mb, d.memory),
        ("timeout", f.timeout, d.timeout),
        ("role", f.role, role_arn),
    ]
    for label, old, new in pairs:
        if old != new:
            changes.append(f"{label} {old} -> {new}")
    if f.lambda_handler != d.lambda_handler and not any(
        c.startswith(("handler", "guard")) for c in changes
    ):
        changes.append(f"Handler {f.lambda_handler} -> {d.lambda_handler}")
    if f.env != d.env:
        changed = sorted(k for k in set(f.env) | set(d.env) if f.env.get(k) != d.env.get(k))
        pruned = f" (removes {', '.join(d.pruned_env)}: --prune-env)" if d.pruned_env else ""
        changes.append("environment " + ", ".join(changed) + pruned)
    if f.layers != d.layers:
        changes.append(f"layers {len(f.layers)} -> {len(d.layers)}")
    if d.log_format is not None and f.log_format != d.log_format:
        changes.append(f"log format {f.log_format} -> {d.log_format}")
    return changes


def _function_steps(d: Desired, fn: FunctionView | None, role_arn: str) -> list[Step]:
    if fn is None:
        guard = f"guard {protocol.ENTRY_POINT}" if d.guarded else "no guard"
        detail = (
            f"{d.runtime} {d.architecture}, {d.memory} MB, {d.timeout} s, handler {d.handler}, "
            f"{guard}, "
            f"cap {d.max_calls}, budget {d.max_invocations}"
        )
        return [Step(Op.CREATE_FUNCTION, "function", "create", d.name, detail)]
    steps = []
    why = _needs_tags(d, fn.tags)
    if why:
        steps.append(Step(Op.TAG_FUNCTION, "function", "update", d.name, why))
    if fn.code_sha256 != d.code_sha256 or fn.architecture != d.architecture:
        detail = f"code {fn.code_sha256[:8]} -> {d.code_sha256[:8]}"
        if fn.architecture != d.architecture:
            detail += f", architecture {fn.architecture} -> {d.architecture}"
        steps.append(Step(Op.UPDATE_CODE, "function", "update", d.name, detail))
    changes = _config_changes(d, fn, role_arn)
    if changes:
        steps.append(Step(Op.UPDATE_CONFIG, "function", "update", d.name, "; ".join(changes)))
    return steps


def _invoke_config_step(d: Desired, fn: FunctionView | None) -> list[Step]:
    """Async retries 0; a job function's failed hop goes to its on-failure destination, the
    function itself, whose guard retries it from the checkpoint (docs/jobs.md, "Exactly once")."""
    to_self = fn is not None and fn.on_failure == d.function_arn
    if fn is not None and fn.retries == 0 and to_self == (d.job is not None):
        return []
    detail = "async retries 0"
    if d.job is not None:
        detail += ", on failure: itself (a failed hop is retried from its checkpoint)"
    elif to_self:
        detail += ", no on-failure destination (not a job function any more)"
    return [Step(Op.PUT_INVOKE_CONFIG, "function", "update", d.name, detail)]


def _recursion_warning(d: Desired) -> str:
    if d.job is not None:
        bounds = ", ".join(f"{k} {v}" for k, v in d.job.bounds.items())
        return (
            f"{d.name} is a job function: AWS's recursive loop detection is turned off "
            f"(Allow), since a job goes past 16 hops by design; the job's bounds ({bounds}) "
            f"and recursectl's guard ({protocol.ENTRY_POINT}) are what stop a runaway job."
        )
    return (
        f"max_calls is {d.max_calls} (16 or more): AWS's recursive loop detection is "
        f"turned off for {d.name}; recursectl's guard ({protocol.ENTRY_POINT}: cap "
        f"{d.max_calls}, budget {d.max_invocations}) is now what stops a loop."
    )


def _safety_steps(d: Desired, fn: FunctionView | None, warnings: list[str]) -> list[Step]:
    steps = _invoke_config_step(d, fn)
    applied = stamp_parts(fn.applied if fn else None)
    if applied.get("recursion") != d.recursion:
        detail = f"recursive loop {d.recursion}"
        steps.append(Step(Op.PUT_RECURSION, "function", "update", d.name, detail))
        if d.recursion == "Allow":
            warnings.append(_recursion_warning(d))
    if not d.guarded and d.max_calls >= RECURSION_ALLOW_FROM:
        warnings.append(
            f"max_calls {d.max_calls} cannot be honoured: recursectl's guard does not cover "
            f"{d.runtime}, so AWS's loop detection stays on (Terminate) and stops a chain "
            "after about 16 invocations."
        )
    # reserved concurrency: never lift a kill switch on deploy
    current = fn.concurrency if fn else None
    if current == 0:
        warnings.append(
            f"{d.name} is stopped (reserved concurrency 0); run `recursectl resume` to lift it."
        )
    elif d.concurrency is not None and current != d.concurrency:
        before = current if current is not None else "none"
        detail = f"reserved concurrency {before} -> {d.concurrency}"
        steps.append(Step(Op.PUT_CONCURRENCY, "function", "update", d.name, detail))
    return steps


def plan(desired: Desired, observed: Observed) -> Plan:
    """The steps that take `observed` to `desired`. Pure; raises NotOursError."""
    d = desired
    warnings: list[str] = _env_warnings(d)
    role, fn = observed.role, observed.function
    if fn is not None:
        differs = _differences(d, fn)
        _refuse_if_not_ours(
            d, "Function", d.name, fn.tags, f" What differs: {differs}." if differs else ""
        )
        _refuse_other_language(d, fn, differs)
    if role is not None:
        _refuse_if_not_ours(d, "IAM role", role.name, role.tags)
    role_arn = role.arn if role else d.role_arn
    steps = [
        *_role_steps(d, role),
        *_log_group_steps(d, observed.log_group, warnings),
        *_counter_steps(d, fn),
        *_job_bucket_steps(d, fn, observed.job_bucket_gone),
        *_function_steps(d, fn, role_arn),
        *_safety_steps(d, fn, warnings),
    ]
    # stamp last: a deploy that fails before this point re-applies on the next run
    if fn is None or fn.applied != d.applied_stamp:
        steps.append(Step(Op.STAMP, "function", "update", d.name, "tag what was applied"))
    return Plan(steps=steps, warnings=warnings)


__all__ = ["APPLIED_TAG", "Desired", "Observed", "Op", "Plan", "Step", "desired_state", "plan"]
