"""Deploy: observe AWS, plan the difference (recursectl.deploy.plan), apply it.

`observe()` makes four read calls for a function of ours that already exists (GetFunction,
GetFunctionEventInvokeConfig, GetRolePolicy, DescribeLogGroups), so an unchanged redeploy is
cheap; GetRole only when the role is not plainly ours (or its trust policy predates the
current revision), ListTagsLogGroup only when the group's retention would change, STS only
when the function does not exist yet, and GetBucketTagging for a job function (its bucket).

`apply()` is a table: one small function per `plan.Op` (APPLY), each safe to repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recursectl import envvars
from recursectl.aws.lambda_ import FunctionConfig
from recursectl.aws.view import LogGroupView, RoleView
from recursectl.build.package import Package
from recursectl.deploy.plan import (
    Desired,
    Observed,
    Op,
    Plan,
    Step,
    check_ours,
    desired_state,
    plan,
    trust_is_current,
)
from recursectl.deploy.result import DeployResult
from recursectl.errors import (
    AlreadyExistsError,
    AwsError,
    ConflictError,
    NotFoundError,
    UnsupportedApiError,
)
from recursectl.names import (
    APPLIED_TAG,
    JOB_LIFECYCLE_RULE,
    POLICY_NAME,
    check_function_name,
    is_ours,
    log_group_for,
    role_name_for,
)
from recursectl.protocol import JOB_STATE_PREFIX, SELF_ARN_PLACEHOLDER

if TYPE_CHECKING:
    from recursectl.aws import Aws
    from recursectl.settings import Settings

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# observe --------------------------------------------------------------------------------------
def observe(
    aws: Aws,
    name: str,
    *,
    want_concurrency: bool = False,
    retention: int | None = None,
    want_attached: bool = False,
    want_job: bool = False,
) -> Observed:
    """Read what exists: the function, its role and policy, its log group (and for a job
    function, whether the bucket it names is still there: one read).

    `retention`: the retention deploy wants; the group's tags (ownership) are read only when
    it differs, since only then would deploy change the group.
    """
    fn = aws.lambda_api.get_function(name, exact_concurrency=want_concurrency)
    if fn is not None:
        invoke_config = aws.lambda_api.event_invoke_config(name)
        fn = replace(
            fn,
            retries=invoke_config.retries if invoke_config is not None else None,
            on_failure=invoke_config.on_failure if invoke_config is not None else None,
        )
    role_name = role_name_for(name)
    role: RoleView | None = None
    if (
        fn is not None
        and is_ours(fn.tags)
        and fn.role.endswith(f":role/{role_name}")
        and trust_is_current(fn)
    ):
        # Our function uses our role, whose trust policy we stamped as current: its inline
        # policy is all we need to read (one call instead of two).
        policy = aws.iam_api.inline_policy(role_name, POLICY_NAME)
        if policy is not None:
            role = RoleView(name=role_name, arn=fn.role, tags=None, trust=None, policy=policy)
    if role is None:
        role = aws.iam_api.get_role(role_name, policy_name=POLICY_NAME)
    if role is not None and want_attached:  # read only when managed_policies are configured
        role = replace(role, attached=aws.iam_api.attached_policies(role_name))
    group = aws.logs_api.log_group(log_group_for(name))
    if group is not None and retention is not None and group.retention != retention:
        group = LogGroupView(group.name, group.retention, aws.logs_api.log_group_tags(group.name))
    # The stamp records the bucket as ensured; the helper's error for a bucket that is gone
    # says "redeploy", so a redeploy looks (GetBucketTagging) and creates it again.
    gone = bool(
        want_job
        and fn is not None
        and fn.job_bucket
        and aws.job_bucket_api.bucket_tags(fn.job_bucket) is None
    )
    return Observed(function=fn, role=role, log_group=group, job_bucket_gone=gone)


# apply: one function per op ------------------------------------------------------------------
@dataclass
class _Run:
    """What the steps of one apply share."""

    aws: Aws
    desired: Desired
    package: Package
    role_arn: str
    progress: Progress
    # APIs the endpoint lacks that deploy went on without: api -> what is left undone.
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what a step found worth a warning

    def config(self) -> FunctionConfig:
        d = self.desired
        return FunctionConfig(
            name=d.name,
            runtime=d.runtime,
            role=self.role_arn,
            handler=d.lambda_handler,
            timeout=d.timeout,
            memory=d.memory,
            env=d.env,
            layers=d.layers,
            architecture=d.architecture,
            log_format=d.log_format,
        )


def _create_role(r: _Run) -> None:
    d = r.desired
    description = f"recursectl: execution role of Lambda function {d.name}"
    r.role_arn = r.aws.iam_api.create_role(d.role_name, d.trust, description, d.tags)


def _tag_role(r: _Run) -> None:
    r.aws.iam_api.tag_role(r.desired.role_name, r.desired.tags)


def _update_trust(r: _Run) -> None:
    r.aws.iam_api.set_trust(r.desired.role_name, r.desired.trust)


def _put_policy(r: _Run) -> None:
    r.aws.iam_api.put_inline_policy(r.desired.role_name, POLICY_NAME, r.desired.policy)


def _attach_policies(r: _Run) -> None:
    # One step per missing policy; attaching one that is attached already is a no-op in IAM.
    for arn in r.desired.managed_policies:
        r.aws.iam_api.attach_policy(r.desired.role_name, arn)


def _create_log_group(r: _Run) -> None:
    d = r.desired
    if r.aws.logs_api.create_log_group(d.log_group, d.tags):
        r.aws.logs_api.set_retention(d.log_group, d.log_retention_days)
    else:  # created by someone else since we looked: not ours to change
        r.progress(f"log group {d.log_group} already exists: its retention is left as it is")


def _put_retention(r: _Run) -> None:
    r.aws.logs_api.set_retention(r.desired.log_group, r.desired.log_retention_days)


def _ensure_counter(r: _Run) -> None:
    r.aws.counter_api.ensure_table(r.desired.counter_table, r.desired.tags)


def _ensure_job_bucket(r: _Run) -> None:
    """Create (or adopt) the job bucket: private, encrypted, its state expiring. Each call is
    safe to repeat, so a deploy that died half-way converges on the next run."""
    d = r.desired
    assert d.job is not None  # planned only for a job function
    bucket, api = d.job.bucket, r.aws.job_bucket_api
    tags = api.bucket_tags(bucket)
    if d.job.adopted:
        if tags is None:
            raise NotFoundError(
                f"S3 bucket {bucket} (`bucket` in [job]) does not exist.",
                hint="create it first, or leave `bucket` out of [job] and deploy creates one",
            )
        posture = api.posture(bucket)  # someone else's bucket: say what it lacks, change none
        if not posture.public_access_blocked:
            r.notes.append(f"job bucket {bucket} does not block all public access")
        if not posture.encrypted:
            r.notes.append(
                f"job bucket {bucket} has no default encryption (state objects are written "
                "with SSE-S3 all the same)"
            )
    else:
        if tags is None:
            api.create_bucket(bucket)
        elif tags:  # an empty tag set: ours, created by a deploy that died before tagging it
            check_ours(d, "S3 bucket", bucket, tags)
        api.tag(bucket, d.tags)
        api.secure(bucket)
    api.expire_prefix(bucket, JOB_LIFECYCLE_RULE, JOB_STATE_PREFIX, d.job.state_ttl_days)


def _create_function(r: _Run) -> None:
    r.aws.lambda_api.create_function(
        r.config(), r.package.zip_bytes, r.desired.tags, on_wait=r.progress
    )


def _tag_function(r: _Run) -> None:
    r.aws.lambda_api.tag(r.desired.function_arn, r.desired.tags)


def _update_code(r: _Run) -> None:
    r.aws.lambda_api.update_code(r.desired.name, r.package.zip_bytes, r.desired.architecture)


def _update_config(r: _Run) -> None:
    r.aws.lambda_api.update_configuration(r.config(), on_wait=r.progress)


def _put_invoke_config(r: _Run) -> None:
    d = r.desired
    r.aws.lambda_api.disable_async_retries(
        d.name, on_failure=d.function_arn if d.job is not None else None
    )


def _put_recursion(r: _Run) -> None:
    try:
        r.aws.lambda_api.set_recursion(r.desired.name, r.desired.recursion)
    except UnsupportedApiError as exc:
        # moto's server, LocalStack and older partitions lack it: everything else of the
        # deploy still holds, and the stamp leaves the recursion unapplied (tried again next
        # time), so say what is left as it was and go on.
        r.skipped[exc.api] = (
            f"recursive loop not set to {r.desired.recursion}, loop detection is left at the "
            "endpoint's default"
        )


def _put_concurrency(r: _Run) -> None:
    assert r.desired.concurrency is not None  # planned only when configured
    r.aws.lambda_api.set_reserved_concurrency(r.desired.name, r.desired.concurrency)


def _stamp(r: _Run) -> None:
    stamp = r.desired.applied_stamp
    if r.skipped:  # the recursion config was not applied: the next deploy tries again
        stamp = stamp.replace(f"recursion:{r.desired.recursion}", "recursion:default")
    r.aws.lambda_api.tag(r.desired.function_arn, {APPLIED_TAG: stamp})


APPLY: dict[Op, Callable[[_Run], None]] = {
    Op.CREATE_ROLE: _create_role,
    Op.TAG_ROLE: _tag_role,
    Op.UPDATE_TRUST: _update_trust,
    Op.PUT_POLICY: _put_policy,
    Op.ATTACH_POLICY: _attach_policies,
    Op.CREATE_LOG_GROUP: _create_log_group,
    Op.PUT_RETENTION: _put_retention,
    Op.ENSURE_COUNTER: _ensure_counter,
    Op.ENSURE_JOB_BUCKET: _ensure_job_bucket,
    Op.CREATE_FUNCTION: _create_function,
    Op.TAG_FUNCTION: _tag_function,
    Op.UPDATE_CODE: _update_code,
    Op.UPDATE_CONFIG: _update_config,
    Op.PUT_INVOKE_CONFIG: _put_invoke_config,
    Op.PUT_RECURSION: _put_recursion,
    Op.PUT_CONCURRENCY: _put_concurrency,
    Op.STAMP: _stamp,
}


def apply(
    aws: Aws,
    desired: Desired,
    observed: Observed,
    steps: list[Step],
    package: Package,
    progress: Progress = _quiet,
    skipped: dict[str, str] | None = None,
    notes: list[str] | None = None,
) -> str:
    """Run the steps in order; returns the role ARN. Each step is safe to repeat.
    `skipped` receives the APIs the endpoint lacks that the deploy went on without, `notes`
    what a step found worth a warning."""
    run = _Run(
        aws=aws,
        desired=desired,
        package=package,
        role_arn=observed.role.arn if observed.role else desired.role_arn,
        progress=progress,
        skipped=skipped if skipped is not None else {},
        notes=notes if notes is not None else [],
    )
    fn = observed.function
    ops = {s.op for s in steps}
    if (
        fn is not None
        and fn.last_update_status == "InProgress"
        and ops & {Op.UPDATE_CODE, Op.UPDATE_CONFIG}
    ):
        progress("waiting for an earlier update of the function to finish...")
        aws.lambda_api.wait(desired.name, "function_updated_v2")
    for step in steps:
        progress(step.describe())
        APPLY[step.op](run)
    return run.role_arn


def _plan_now(
    aws: Aws,
    settings: Settings,
    package: Package,
    adopt: bool,
    prune_env: bool,
    extra_statements: tuple[dict[str, Any], ...],
    self_env: Mapping[str, str],
) -> tuple[Observed, Desired, Plan]:
    """Read what exists now and plan from it (the function's own ARN filled in where the
    code and the settings read it)."""
    observed = observe(
        aws,
        settings.name,
        want_concurrency=settings.concurrency is not None,
        retention=settings.log_retention_days,
        want_attached=bool(settings.managed_policies),
        want_job=settings.job,
    )
    fn = observed.function
    # The ARN is computed (one STS call) before anything exists: one deploy is enough.
    function_arn = fn.arn if fn is not None else aws.function_arn(settings.name)
    settings = replace(
        settings, environment=with_self_arn(settings.environment, self_env, function_arn)
    )
    outside = envvars.foreign(fn.env, settings.environment) if fn is not None else {}
    generation = fn.generation if fn is not None else 0
    desired = desired_state(
        settings,
        package,
        function_arn,
        adopt=adopt,
        generation=generation,
        kept_env={} if prune_env else outside,
        pruned_env=tuple(sorted(outside)) if prune_env else (),
        extra_statements=fill_self_arn(extra_statements, function_arn),
    )
    return observed, desired, plan(desired, observed)


def _settle(aws: Aws, name: str) -> None:
    """Wait until the other deploy's function is Active and not being updated (if it exists)."""
    for waiter in ("function_active_v2", "function_updated_v2"):
        try:
            aws.lambda_api.wait(name, waiter)
        except (NotFoundError, AwsError):  # not there (yet), or it failed: read it again anyway
            return


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


def remove_function_arn(path: Path, name: str) -> bool:
    """Remove `function_arn` from a recursectl.toml when it names function `name`; True if so."""
    import tomlkit

    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    arn = doc.get("function_arn")
    if not isinstance(arn, str) or not arn.endswith(f":function:{name}"):
        return False
    del doc["function_arn"]
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return True


def _record_arn(cfg: Path | None, function_arn: str) -> Path | None:
    """The recursectl.toml that now records function_arn, or None (no such file, or unchanged);
    a pyproject.toml's [tool.recursectl] is never rewritten."""
    if cfg is not None and cfg.name == "recursectl.toml" and cfg.is_file():
        return cfg if write_function_arn(cfg, function_arn) else None
    return None


def _warnings(planned: list[str], desired: Desired, skipped: dict[str, str]) -> list[str]:
    """The plan's warnings and what the endpoint could not do; the plan's note that loop
    detection is now off is dropped when the recursion config could not be applied."""
    out = list(planned)
    if skipped and desired.recursion == "Allow":
        out = [w for w in out if "loop detection is turned off" not in w]
    out += [f"this endpoint does not implement {api}: {what}" for api, what in skipped.items()]
    return out


# the whole command ---------------------------------------------------------------------------
# Two deploys of one new function race: the second meets "already exists" (CreateRole:
# EntityAlreadyExists; CreateFunction: ResourceConflictException "Function already exist") or
# the first one's update in progress. It reads AWS again and plans from what is there now.
_RACE_ATTEMPTS = 3


def deploy(
    aws: Aws,
    settings: Settings,
    package: Package,
    *,
    adopt: bool = False,
    dry_run: bool = False,
    prune_env: bool = False,
    extra_statements: tuple[dict[str, Any], ...] = (),
    progress: Progress = _quiet,
) -> DeployResult:
    """Observe, plan and (unless dry_run) apply; then write function_arn into recursectl.toml.
    Something created by another deploy meanwhile is read again and updated, not an error."""
    check_function_name(settings.name)
    envvars.check(settings.environment)
    self_env = self_arn_variables(settings, package)
    skipped: dict[str, str] = {}
    notes: list[str] = []
    for attempt in range(_RACE_ATTEMPTS):
        observed, desired, the_plan = _plan_now(
            aws, settings, package, adopt, prune_env, extra_statements, self_env
        )
        role_arn = observed.role.arn if observed.role else desired.role_arn
        if dry_run or not the_plan.steps:
            break
        try:
            role_arn = apply(
                aws, desired, observed, the_plan.steps, package, progress, skipped, notes
            )
            break
        except (AlreadyExistsError, ConflictError) as exc:
            if attempt == _RACE_ATTEMPTS - 1:
                raise
            progress(f"{exc.message} Another deploy got there first: reading it again.")
            _settle(aws, settings.name)
    function_arn = desired.function_arn
    written = None if dry_run else _record_arn(settings.config_path, function_arn)
    return DeployResult(
        package=package,
        desired=desired,
        function_name=settings.name,
        function_arn=function_arn,
        role_arn=role_arn,
        log_group=desired.log_group,
        handler=package.handler,
        guarded=desired.guarded,
        max_calls=desired.max_calls,
        max_invocations=desired.max_invocations,
        recursion=desired.recursion,
        project=desired.project,
        steps=the_plan.steps,
        warnings=_warnings(the_plan.warnings, desired, skipped) + notes,
        unsupported=skipped,
        dry_run=dry_run,
        config_written=written,
        self_arn_env=self_env,
    )


# the function's own ARN where the code reads it ------------------------------------------------
def self_arn_variables(settings: Settings, package: Package) -> dict[str, str]:
    """{variable: why} for the variables set to the function's ARN: `self_arn_env`, those the
    code reads as its own name or ARN (selfarn.py), and those the user's environment sets to
    the placeholder; a variable the user's environment sets to a value of its own is left."""
    out = dict.fromkeys(settings.self_arn_env, "self_arn_env")
    envvars.check(dict.fromkeys(out, ""))
    for name, file in package.self_arn_reads.items():
        if name not in settings.environment:
            out.setdefault(name, f"read in {file}")
    for name, value in settings.environment.items():
        if SELF_ARN_PLACEHOLDER in value:
            out.setdefault(name, "environment")
    return out


def with_self_arn(
    environment: Mapping[str, str], names: Mapping[str, str], function_arn: str
) -> dict[str, str]:
    env = {k: v.replace(SELF_ARN_PLACEHOLDER, function_arn) for k, v in environment.items()}
    for name in names:
        if name not in environment or SELF_ARN_PLACEHOLDER in environment[name]:
            env[name] = function_arn
    return env


def fill_self_arn(value: Any, function_arn: str) -> Any:
    """`${function_arn}` replaced by the ARN wherever it is in statements (strings, lists, maps)."""
    if isinstance(value, str):
        return value.replace(SELF_ARN_PLACEHOLDER, function_arn)
    if isinstance(value, Mapping):
        return {k: fill_self_arn(v, function_arn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(fill_self_arn(v, function_arn) for v in value)
    return value
