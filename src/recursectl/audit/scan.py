"""The audit's reads: every function of a region, its settings, its role's policies and its
metrics, with bounded concurrency. What cannot be read is recorded per function and per API
(the IAM action it needs), never raised: the rest of the scan goes on.

Calls per region: ListFunctions (a page per 50 functions), three per function
(GetFunctionRecursionConfig, GetFunctionConcurrency, GetFunctionEventInvokeConfig), per role
ListRolePolicies + GetRolePolicy each + ListAttachedRolePolicies, per managed policy GetPolicy +
GetPolicyVersion (once per scan), and one GetMetricData per 100 functions (5 metrics each).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from recursectl.audit import facts as F
from recursectl.audit.facts import FunctionFacts, Metrics
from recursectl.audit.policy import invoke_grants
from recursectl.errors import AwsError, ThrottledError

if TYPE_CHECKING:
    from recursectl.aws import Aws, FunctionView

T = TypeVar("T")
_IAM_ACTION = re.compile(r"\biam:[A-Za-z]+")
THROTTLE_DEADLINE_S = 120.0  # on top of botocore's own adaptive retries (5 attempts)
DEFAULT_WORKERS = 8  # concurrent reads; Lambda's control plane allows ~15 GetFunction* a second


def _noop(_: int) -> None:
    return None


@dataclass
class RegionScan:
    region: str
    functions: list[FunctionFacts] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # API -> why, for the region


@dataclass
class _Reads:
    """One function's settings as read, and what could not be read."""

    recursion: str | None = None
    concurrency: int | None = None
    retries: int | None = None
    on_success: str | None = None
    on_failure: str | None = None
    unavailable: dict[str, str] = field(default_factory=dict)


def _why(exc: AwsError) -> str:
    return f"{exc.code}: {exc.message}" if exc.code else exc.message


def role_name(role_arn: str) -> str:
    """`arn:aws:iam::123456789012:role/some/path/name` -> `name`."""
    return role_arn.rsplit("/", 1)[-1]


class Scanner:
    """Scans one region. `advance(n)` is told as functions and metric queries complete."""

    def __init__(
        self,
        aws: Aws,
        *,
        start: datetime,
        end: datetime,
        workers: int = DEFAULT_WORKERS,
        total: Callable[[int], None] = _noop,
        advance: Callable[[int], None] = _noop,
        managed: dict[str, Any] | None = None,
    ) -> None:
        self.aws = aws
        self.start, self.end = start, end
        self.workers = max(1, workers)
        self.total, self.advance = total, advance
        self.managed = managed if managed is not None else {}  # managed policy ARN -> document

    def _retried(self, fn: Callable[[], T]) -> T:
        return self.aws.retry(
            fn,
            retry_if=lambda exc: isinstance(exc, ThrottledError),
            deadline_s=THROTTLE_DEADLINE_S,
            schedule=(1.0, 2.0, 4.0, 8.0),
        )

    def run(self) -> RegionScan:
        region = self.aws.region
        result = RegionScan(region)
        try:
            views = self._retried(self.aws.lambda_api.list_functions)
        except AwsError as exc:
            result.unavailable["lambda:ListFunctions"] = _why(exc)
            return result
        if not views:  # most regions of an account: no more clients, no more calls
            return result
        # Work per function, plus one unit per function for its metrics.
        self.total(2 * len(views))
        # boto3 builds clients lazily and not thread-safely, and Aws its services: build
        # them before the pool does.
        aws = self.aws
        _ = (aws.lambda_, aws.iam, aws.cloudwatch, aws.lambda_api, aws.iam_api, aws.metrics_api)
        roles = sorted({v.role for v in views})
        # The metrics (one call per 100 functions) are read beside the per-function reads,
        # on a thread of their own, so their latency overlaps the rest.
        with ThreadPoolExecutor(1, thread_name_prefix="audit-metrics") as side:
            metrics_job = side.submit(self._read_metrics, [v.name for v in views])
            with ThreadPoolExecutor(self.workers, thread_name_prefix="audit") as pool:
                reads = list(pool.map(self._read_function, views))
                policies = dict(zip(roles, pool.map(self._read_role, roles), strict=True))
            metrics, metrics_why = metrics_job.result()
        if metrics_why is not None:
            result.unavailable[F.METRIC_DATA] = metrics_why
        users: dict[str, list[str]] = {}
        for v in views:
            users.setdefault(v.role, []).append(v.arn)
        for view, read in zip(views, reads, strict=True):
            documents, role_why = policies[view.role]
            facts = _facts(view, region, read, metrics.get(view.name))
            unavailable = dict(read.unavailable)
            if role_why is not None:
                unavailable[role_why[0]] = role_why[1]
            if metrics_why is not None:
                unavailable[F.METRIC_DATA] = metrics_why
            result.functions.append(
                replace(
                    facts,
                    grants=tuple(invoke_grants(documents, view.arn)),
                    role_users=tuple(sorted(users[view.role])),
                    unavailable=unavailable,
                )
            )
        return result

    def _part(self, reads: _Reads, part: str, fn: Callable[[], T]) -> T | None:
        try:
            return self._retried(fn)
        except AwsError as exc:
            reads.unavailable[part] = _why(exc)
            return None

    def _read_function(self, view: FunctionView) -> _Reads:
        api = self.aws.lambda_api
        reads = _Reads()
        reads.recursion = self._part(reads, F.RECURSION, lambda: api.recursion(view.name))
        reads.concurrency = self._part(
            reads, F.CONCURRENCY, lambda: api.reserved_concurrency(view.name)
        )
        config = self._part(reads, F.EVENT_INVOKE, lambda: api.event_invoke_config(view.name))
        if config is not None:
            reads.retries = config.retries
            reads.on_success, reads.on_failure = config.on_success, config.on_failure
        self.advance(1)
        return reads

    def _read_role(self, role_arn: str) -> tuple[list[tuple[str, Any]], tuple[str, str] | None]:
        """The role's policy documents, or (the IAM action refused, why)."""
        try:
            docs = self._retried(
                lambda: self.aws.iam_api.role_policy_documents(
                    role_name(role_arn), managed=self.managed
                )
            )
        except AwsError as exc:
            # The AWS layer names the action in its message ("Access denied: iam:X on ...").
            named = _IAM_ACTION.search(exc.message)
            return [], (named[0] if named else "iam:GetRolePolicy", _why(exc))
        return docs, None

    def _read_metrics(self, names: list[str]) -> tuple[dict[str, Metrics], str | None]:
        from recursectl.aws.cloudwatch import MetricQuery, batches

        queries = [MetricQuery(n, m) for n in names for m in F.METRICS]
        sums: dict[MetricQuery, float] = {}
        done = 0
        try:
            for batch in batches(queries):  # a throttled call is retried alone
                read = partial(
                    self.aws.metrics_api.lambda_sums, batch, start=self.start, end=self.end
                )
                sums.update(self._retried(read))
                done += len(batch) // len(F.METRICS)
                self.advance(len(batch) // len(F.METRICS))
        except AwsError as exc:
            self.advance(len(names) - done)
            return {}, _why(exc)
        per: dict[str, dict[str, float]] = {}
        for query, value in sums.items():
            per.setdefault(query.function, {})[query.metric] = value
        return {n: Metrics.from_sums(per.get(n, {})) for n in names}, None


def _facts(view: FunctionView, region: str, read: _Reads, metrics: Metrics | None) -> FunctionFacts:
    return FunctionFacts(
        name=view.name,
        arn=view.arn,
        region=region,
        runtime=view.runtime,
        architecture=view.architecture,
        memory_mb=view.memory_mb,
        role=view.role,
        handler=view.lambda_handler,
        guarded=view.guarded,
        user_handler=view.handler,
        max_calls=view.max_calls if view.guarded else None,
        max_invocations=view.max_invocations if view.guarded else None,
        dead_letter=view.dead_letter,
        recursion=read.recursion,
        concurrency=read.concurrency,
        retries=read.retries,
        on_success=read.on_success,
        on_failure=read.on_failure,
        metrics=metrics,
    )
