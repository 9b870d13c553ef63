"""Operating a deployed function: stop (kill switch), resume, info, destroy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from recursectl import protocol
from recursectl.errors import (
    AwsError,
    ConflictError,
    NotOursError,
    RecursectlError,
    UnsupportedApiError,
)
from recursectl.names import (
    CONCURRENCY_TAG,
    POLICY_NAME,
    counter_table_for,
    is_ours,
    log_group_for,
    role_name_for,
)

if TYPE_CHECKING:
    from recursectl.aws import Aws, FunctionView

T = TypeVar("T")


# stop / resume -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ConcurrencyChange:
    name: str
    before: int | None  # None: no reserved concurrency (the account's unreserved pool)
    after: int | None
    generation: int | None = None  # stop: the new kill-switch generation (None: not ours)
    guarded: bool = False  # the entry point wraps every invocation: the generation binds all
    source: str = ""  # resume: where `after` came from (flag | remembered | config | none)
    waited_s: float = 0.0  # time spent waiting out an update in progress (409s retried)
    job_function: bool = False  # a [job] function: stop pauses its running jobs


def _quiet(_: str) -> None:
    return None


class _Waits:
    """Counts the time stop/resume spend waiting out an update in progress."""

    def __init__(self, aws: Aws, on_wait: Callable[[str], None]) -> None:
        self.aws = aws
        self.on_wait = on_wait
        self.waited = 0.0

    def run(self, name: str, fn: Callable[[], T]) -> T:
        start = self.aws.clock()
        waited = False

        def note(message: str) -> None:
            nonlocal waited
            waited = True
            self.on_wait(message)

        try:
            return self.aws.lambda_api.while_updating(name, fn, on_wait=note)
        finally:
            if waited:
                self.waited += self.aws.clock() - start


def stop(aws: Aws, name: str, *, on_wait: Callable[[str], None] = _quiet) -> ConcurrencyChange:
    """The kill switch: reserved concurrency 0, so no new invocation of `name` starts.

    Works on any function of that name (it is an emergency stop, and `resume` undoes it).
    The reserved concurrency it replaces is remembered in a tag, for `resume`. An update in
    progress (409 ResourceConflictException) is waited out and the write retried, for at most
    UPDATE_DEADLINE_S (the Lambda service's): a stop must land when a deploy has just run.
    """
    fn = aws.lambda_api.require_function(name)
    waits = _Waits(aws, on_wait)
    before = fn.concurrency
    if before != 0:
        # Remember first: a stop that fails half-way leaves a tag and no stop, never the
        # reverse (a stopped function whose earlier setting is lost).
        remembered = "none" if before is None else str(before)
        waits.run(name, lambda: aws.lambda_api.tag(fn.arn, {CONCURRENCY_TAG: remembered}))
        waits.run(name, lambda: aws.lambda_api.set_reserved_concurrency(name, 0))
    # Concurrency 0 only pauses: AWS keeps throttled async events (up to the maximum event
    # age, 6 h by default) and runs them once concurrency is back, which would revive the
    # runaway chain. Raising the generation makes the guard end every chain that started
    # before this stop, whenever its queued hop finally runs.
    if fn.max_calls is None:
        return ConcurrencyChange(name=name, before=before, after=0, waited_s=waits.waited)
    seen = [fn]

    def write_generation() -> int:
        current = seen[-1]
        generation = max(f.generation for f in seen) + 1
        try:
            aws.lambda_api.update_environment(
                name, {**current.env, protocol.GENERATION_ENV: str(generation)}
            )
        except AwsError as exc:
            if exc.code == "ResourceConflictException":
                # Read again for the next attempt: the update in progress may change the
                # environment (kept) or the generation (a concurrent stop: go past it).
                seen.append(aws.lambda_api.require_function(name))
            raise
        return generation

    generation = waits.run(name, write_generation)
    return ConcurrencyChange(
        name=name,
        before=before,
        after=0,
        generation=generation,
        guarded=fn.guarded,
        waited_s=waits.waited,
        job_function=fn.job_bounds is not None,
    )


def resume(
    aws: Aws,
    name: str,
    concurrency: int | None = None,
    *,
    configured: int | None = None,
    on_wait: Callable[[str], None] = _quiet,
) -> ConcurrencyChange:
    """Lift the kill switch: restore the reserved concurrency in effect before `stop`.

    `concurrency` (the --concurrency flag) overrides; without what `stop` remembered (a
    function stopped by other means), the `configured` value, else none reserved. An update
    in progress is waited out, as for `stop`.
    """
    fn = aws.lambda_api.require_function(name)
    waits = _Waits(aws, on_wait)
    before = fn.concurrency
    known, remembered = fn.concurrency_before_stop
    after: int | None
    if concurrency:
        after, source = concurrency, "flag"
    elif before != 0:
        after, source = before, "running"  # not stopped: nothing to restore
    elif known:
        after, source = remembered, "remembered"
    elif configured:
        after, source = configured, "config"
    else:
        after, source = None, "none"
    if after is None and before is not None:
        waits.run(name, lambda: aws.lambda_api.remove_reserved_concurrency(name))
    elif after is not None and after != before:
        value = after
        waits.run(name, lambda: aws.lambda_api.set_reserved_concurrency(name, value))
    if fn.tags and CONCURRENCY_TAG in fn.tags and after != 0:
        waits.run(name, lambda: aws.lambda_api.untag(fn.arn, [CONCURRENCY_TAG]))
    return ConcurrencyChange(
        name=name, before=before, after=after, source=source, waited_s=waits.waited
    )


# info ------------------------------------------------------------------------------------------
@dataclass
class FunctionInfo:
    function: FunctionView
    recursion: str | None
    retries: int | None
    last_chain: dict[str, Any] | None = None  # watch.last_chain_summary's, added by the caller
    notes: list[str] = field(default_factory=list)
    # APIs the endpoint does not implement that info went on without: api -> consequence
    unsupported: dict[str, str] = field(default_factory=dict)

    @property
    def guard(self) -> str | None:
        """The entry point wrapping the user's handler, None when no guard is in place."""
        return protocol.ENTRY_POINT if self.function.guarded else None

    def to_json(self) -> dict[str, Any]:
        f = self.function
        return {
            "function_name": f.name,
            "function_arn": f.arn,
            "state": f.state,
            "last_update_status": f.last_update_status,
            "managed_by_recursectl": f.managed,
            "project": f.project,
            "stopped": f.stopped,
            "runtime": f.runtime,
            "handler": f.handler,
            "lambda_handler": f.lambda_handler,
            "guard": {"active": f.guarded, "entry_point": self.guard, "handler": f.handler},
            "memory_mb": f.memory_mb,
            "timeout_s": f.timeout,
            "code_size": f.code_size,
            "code_sha256": f.code_sha256,
            "last_modified": f.last_modified,
            "role_arn": f.role,
            "log_group": f.log_group,
            "max_calls": f.max_calls,
            "max_invocations": f.max_invocations,
            "counter_table": f.env.get(protocol.COUNTER_TABLE_ENV),
            "job": (
                {"bucket": f.job_bucket, "bounds": f.job_bounds}
                if f.job_bounds is not None
                else None
            ),
            "generation": f.generation,
            "recursion": self.recursion,
            "reserved_concurrency": f.concurrency,
            "async_retries": self.retries,
            "last_chain": self.last_chain,
            "notes": self.notes,
            "unsupported_apis": [
                {"api": api, "consequence": what} for api, what in self.unsupported.items()
            ],
        }


def _notes(fn: FunctionView, recursion: str | None, retries: int | None) -> list[str]:
    notes = []
    if retries is None or retries > 0:
        notes.append("failed async invocations are retried: a failed hop can fork a chain")
    if fn.max_calls is None:
        notes.append("no RECURSECTL_MAX_CALLS: not deployed by recursectl, no cap")
    elif not fn.guarded:
        notes.append(
            "no guard: only handlers that call recursectl_chain.invoke_self are capped; "
            "redeploy to wrap every invocation"
        )
    if recursion == "Allow" and not fn.guarded:
        notes.append("AWS's loop detection is off and no guard is in place: nothing stops a loop")
    return notes


def info(aws: Aws, name: str) -> FunctionInfo:
    """Everything worth knowing about a deployed function, read fresh from AWS (the last
    chain's summary, read from its logs, is the caller's to add)."""
    fn = aws.lambda_api.require_function(name)
    unsupported: dict[str, str] = {}
    try:
        recursion = aws.lambda_api.recursion(name)
    except UnsupportedApiError as exc:  # moto's server, LocalStack, older partitions
        recursion = None
        unsupported[exc.api] = "recursive loop unknown: loop detection is the endpoint's default"
    retries = aws.lambda_api.async_retries(name)
    notes = _notes(fn, recursion, retries)
    notes += [
        f"this endpoint does not implement {api}: {what}" for api, what in unsupported.items()
    ]
    return FunctionInfo(
        function=fn, recursion=recursion, retries=retries, notes=notes, unsupported=unsupported
    )


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


def _remove_role(aws: Aws, role_name: str) -> list[Removal]:
    out = []
    for policy in aws.iam_api.inline_policy_names(role_name):  # ours: its inline policies too
        aws.iam_api.delete_inline_policy(role_name, policy)
        out.append(Removal("policy", policy, "deleted"))
    for arn in aws.iam_api.attached_policies(role_name):  # attached by deploy (managed_policies)
        aws.iam_api.detach_policy(role_name, arn)
        out.append(Removal("managed policy", arn, "detached"))
    try:
        aws.iam_api.delete_role(role_name)
    except ConflictError as exc:
        raise ConflictError(
            f"Role {role_name} still has managed policies attached: {exc.message}",
            hint=f"detach them (`aws iam list-attached-role-policies --role-name "
            f"{role_name}`) and run destroy again",
            code=exc.code,
        ) from None
    out.append(Removal("role", role_name, "deleted"))
    return out


def _remove_log_group(aws: Aws, group: str) -> Removal:
    tags = aws.logs_api.log_group_tags(group)
    if tags is None:
        return Removal("log group", group, "absent")
    if not is_ours(tags):
        return Removal("log group", group, "kept", "not tagged as recursectl's")
    deleted = aws.logs_api.delete_log_group(group)
    return Removal("log group", group, "deleted" if deleted else "absent")


def _remove_counter(aws: Aws, name: str) -> Removal:
    table = counter_table_for(name)
    tags = aws.counter_api.table_tags(table)
    if tags is None:
        return Removal("table", table, "absent")
    if not is_ours(tags):
        return Removal("table", table, "kept", "not tagged managed-by=recursectl")
    aws.counter_api.delete_table(table)
    return Removal("table", table, "deleted")


ConfirmBucket = Callable[[str, int], bool]  # (bucket, state objects) -> delete them?


def _never(_bucket: str, _count: int) -> bool:
    return False


def job_bucket_of(
    aws: Aws, fn: FunctionView | None, name: str, configured: str | None, is_job: bool
) -> str | None:
    """The job bucket of function `name`: the one it names (RECURSECTL_JOB_BUCKET); when it
    is gone, the one its settings name or deploy would have made (a destroy run again)."""
    if fn is not None:
        return fn.job_bucket
    if configured:
        return configured
    if is_job:
        from recursectl.names import job_bucket_for

        ident = aws.identity()
        return job_bucket_for(name, ident.account, ident.region)
    return None


def _bucket_decision(aws: Aws, bucket: str, confirm: ConfirmBucket) -> Removal | None:
    """Asked before anything is deleted: None when the bucket is to be deleted, else why not."""
    tags = aws.job_bucket_api.bucket_tags(bucket)
    if tags is None:
        return Removal("bucket", bucket, "absent")
    if not is_ours(tags):  # an adopted bucket (or one with no tags at all): never deleted
        return Removal("bucket", bucket, "kept", "adopted: not created by recursectl")
    held = aws.job_bucket_api.count_objects(bucket)
    if held and not confirm(bucket, held):
        more = "+" if held >= 1000 else ""
        return Removal(
            "bucket", bucket, "kept", f"holds {held}{more} state object(s); --yes deletes them"
        )
    return None


def destroy(
    aws: Aws,
    name: str,
    *,
    keep_logs: bool = False,
    job_bucket: str | None = None,
    is_job: bool = False,
    confirm_bucket: ConfirmBucket = _never,
) -> list[Removal]:
    """Delete the function, its role (with inline policies), its counter table, the job bucket
    it created and its log group: only ours.

    Refuses (NotOursError) before deleting anything when the function or the role exists but
    is not tagged as recursectl's. A job bucket recursectl created that holds objects is
    deleted only when `confirm_bucket(bucket, count)` says so (asked before anything is
    deleted); an adopted bucket is left. Safe to repeat: what is already gone is reported as
    absent. `job_bucket`, `is_job`: the settings' [job], for a function already gone.
    """
    fn = aws.lambda_api.get_function(name)
    if fn is not None and not fn.managed:
        raise NotOursError(
            f"Function {name} is not managed by recursectl; not deleting anything.",
            hint="delete it with the tool that created it (e.g. `aws lambda delete-function`)",
        )
    role_name = role_name_for(name)
    role = aws.iam_api.get_role(role_name, policy_name=POLICY_NAME)
    if role is not None and not is_ours(role.tags):
        raise NotOursError(
            f"IAM role {role_name} is not managed by recursectl; not deleting anything.",
            hint="delete or rename it yourself, then run destroy again",
        )
    bucket = job_bucket_of(aws, fn, name, job_bucket, is_job)
    kept = _bucket_decision(aws, bucket, confirm_bucket) if bucket else None
    out: list[Removal] = []
    try:
        deleted = fn is not None and aws.lambda_api.delete_function(name)
        out.append(Removal("function", name, "deleted" if deleted else "absent"))
        out += (
            _remove_role(aws, role_name)
            if role is not None
            else [Removal("role", role_name, "absent")]
        )
        out.append(_remove_counter(aws, name))
        if bucket is not None:
            if kept is None:
                count = aws.job_bucket_api.empty_and_delete(bucket)
                reason = f"{count} object(s)" if count else ""
                out.append(Removal("bucket", bucket, "deleted", reason))
            else:
                out.append(kept)
        group = log_group_for(name)
        if keep_logs:
            out.append(Removal("log group", group, "kept", "--keep-logs"))
        else:
            out.append(_remove_log_group(aws, group))
    except RecursectlError as exc:
        exc.progress = list(out)  # stopped half-way (DeleteConflict): say what is gone
        raise
    return out
