"""The session, the target, the clients and the retry loop of the AWS layer.

Commands use the job-named services (`aws.lambda_api`, `aws.iam_api`, `aws.logs_api`,
`aws.sts_api`); the raw boto3 clients (`aws.lambda_`, ...) are for those services, and for
tests and benchmarks that hook botocore's events.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import botocore.exceptions as bex
from botocore.config import Config

from recursectl.errors import EXIT_USAGE, AwsError

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_sts import STSClient

    from recursectl.aws.cloudwatch import MetricsApi
    from recursectl.aws.dynamodb import CounterApi
    from recursectl.aws.iam import IamApi
    from recursectl.aws.jobs import JobsApi
    from recursectl.aws.lambda_ import LambdaApi
    from recursectl.aws.logs import LogsApi
    from recursectl.aws.s3 import JobBucketApi
    from recursectl.aws.sts import StsApi

T = TypeVar("T")

# Credentials handed to the embedded local cloud; it accepts anything, AWS accepts none of these.
LOCAL_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


@dataclass(frozen=True)
class Target:
    """Where to talk to: a region and credentials source, optionally a custom endpoint."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    local: bool = False


@dataclass(frozen=True)
class Identity:
    account: str
    partition: str
    region: str
    arn: str


class Aws:
    """Lazily built boto3 session and clients for one target.

    `sleep` and `clock` are injected so retry schedules can be tested without waiting.
    """

    def __init__(
        self,
        target: Target,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_call: Callable[[str], None] | None = None,
    ):
        self.target = target
        self.on_call = on_call
        self.sleep = sleep
        self.clock = clock
        self._session: boto3.Session | None = None
        self._clients: dict[str, Any] = {}
        self._services: dict[str, Any] = {}
        self._identity: Identity | None = None
        self.calls: list[str] = []  # every API call made, "service.Operation"; see count_calls

    # session and clients ------------------------------------------------------------------
    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            kwargs: dict[str, Any] = {}
            if self.target.local:
                kwargs.update(LOCAL_CREDENTIALS)
            elif self.target.profile:
                kwargs["profile_name"] = self.target.profile
            # botocore reads AWS_DEFAULT_REGION but not AWS_REGION, which the rest of AWS's
            # tooling (and Lambda's own environment) uses; honour both.
            region = self.target.region or os.environ.get("AWS_REGION")
            if region:
                kwargs["region_name"] = region
            try:
                session = boto3.Session(**kwargs)
            except bex.ProfileNotFound:
                raise AwsError(
                    f"AWS profile {self.target.profile!r} was not found.",
                    hint="list profiles with `aws configure list-profiles`",
                    exit_code=EXIT_USAGE,
                ) from None
            self._check_region(session)
            self._session = session
        return self._session

    def _check_region(self, session: boto3.Session) -> None:
        region = session.region_name
        if not region:
            raise AwsError(
                "No AWS region is configured.",
                # Exit 3, as for missing credentials: both are the environment, not the input.
                hint="pass --region, set AWS_REGION or a region in your AWS profile, "
                "or use --local for the embedded local cloud",
            )
        if self.target.endpoint_url or self.target.local:
            return  # custom endpoints may use any region name
        known = set()
        for partition in session.get_available_partitions():
            known.update(session.get_available_regions("lambda", partition_name=partition))
        if known and region not in known:
            raise AwsError(
                f"Unknown AWS region {region!r}.",
                hint="use a region name like us-east-1 (see `aws account list-regions`)",
                exit_code=EXIT_USAGE,
            )

    @property
    def region(self) -> str:
        region = self.session.region_name
        assert region is not None  # checked in _check_region
        return region

    def client(self, service: str, *, retry: bool = True) -> Any:
        """A client for `service`; `retry=False` makes exactly one attempt per call."""
        key = service if retry else f"{service}/once"
        if key not in self._clients:
            retries: Any = (
                {"mode": "adaptive", "max_attempts": 5} if retry else {"total_max_attempts": 1}
            )
            config = Config(
                retries=retries,
                connect_timeout=5,
                read_timeout=70,
                user_agent_extra="recursectl",
                # StartLiveTail's endpoint has a host prefix ("stream-"; "streaming-" in
                # botocore before April 2026): at a custom endpoint that would turn
                # 127.0.0.1:4599 into stream-127.0.0.1:4599, a name that resolves nowhere.
                inject_host_prefix=self.target.endpoint_url is None,
            )
            client = self.session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.target.endpoint_url,
                config=config,
            )
            client.meta.events.register("before-call", self._record_call)
            self._clients[key] = client
        return self._clients[key]

    def _record_call(self, model: Any, **_: Any) -> None:
        name = f"{model.service_model.service_name}.{model.name}"
        self.calls.append(name)
        if self.on_call:
            self.on_call(name)

    @property
    def lambda_(self) -> LambdaClient:
        return self.client("lambda")  # type: ignore[no-any-return]

    @property
    def lambda_once(self) -> LambdaClient:
        """For Invoke: a retried Invoke whose first attempt reached Lambda starts a second
        chain, so a failure is reported instead of silently retried."""
        return self.client("lambda", retry=False)  # type: ignore[no-any-return]

    @property
    def iam(self) -> IAMClient:
        return self.client("iam")  # type: ignore[no-any-return]

    @property
    def logs(self) -> CloudWatchLogsClient:
        return self.client("logs")  # type: ignore[no-any-return]

    @property
    def sts(self) -> STSClient:
        return self.client("sts")  # type: ignore[no-any-return]

    @property
    def cloudwatch(self) -> Any:  # Any: the lock has no mypy-boto3-cloudwatch stubs
        return self.client("cloudwatch")

    # the services -----------------------------------------------------------------------
    @property
    def lambda_api(self) -> LambdaApi:
        from recursectl.aws.lambda_ import LambdaApi

        return self._service("lambda_api", LambdaApi)

    @property
    def iam_api(self) -> IamApi:
        from recursectl.aws.iam import IamApi

        return self._service("iam_api", IamApi)

    @property
    def logs_api(self) -> LogsApi:
        from recursectl.aws.logs import LogsApi

        return self._service("logs_api", LogsApi)

    @property
    def metrics_api(self) -> MetricsApi:
        from recursectl.aws.cloudwatch import MetricsApi

        return self._service("metrics_api", MetricsApi)

    @property
    def counter_api(self) -> CounterApi:
        from recursectl.aws.dynamodb import CounterApi

        return self._service("counter_api", CounterApi)

    @property
    def jobs_api(self) -> JobsApi:
        from recursectl.aws.jobs import JobsApi

        return self._service("jobs_api", JobsApi)

    @property
    def job_bucket_api(self) -> JobBucketApi:
        from recursectl.aws.s3 import JobBucketApi

        return self._service("job_bucket_api", JobBucketApi)

    @property
    def sts_api(self) -> StsApi:
        from recursectl.aws.sts import StsApi

        return self._service("sts_api", StsApi)

    def _service(self, key: str, cls: Callable[[Aws], T]) -> T:
        if key not in self._services:
            self._services[key] = cls(self)
        return self._services[key]  # type: ignore[no-any-return]

    def identity(self) -> Identity:
        """Account, partition and region (one STS call, cached)."""
        if self._identity is None:
            arn = self.sts_api.caller_arn()
            parts = arn.split(":")
            self._identity = Identity(
                account=parts[4], partition=parts[1], region=self.region, arn=arn
            )
        return self._identity

    def for_region(self, region: str) -> Aws:
        """Another region of the same target (credentials, endpoint, hooks)."""
        from dataclasses import replace

        return Aws(
            replace(self.target, region=region),
            sleep=self.sleep,
            clock=self.clock,
            on_call=self.on_call,
        )

    def enabled_regions(self) -> list[str]:
        """The account's enabled regions (ec2:DescribeRegions); without that permission,
        every region botocore knows for Lambda in the session's partition."""
        from recursectl.aws.errors import translate

        try:
            with translate("ec2:DescribeRegions", "*", self.target):
                got = self.client("ec2").describe_regions()
            return sorted(str(r["RegionName"]) for r in got.get("Regions", []))
        except AwsError:
            partition = self.session.get_partition_for_region(self.region)
            return sorted(self.session.get_available_regions("lambda", partition_name=partition))

    def function_arn(self, name: str) -> str:
        """A function's ARN, computed before the function exists."""
        ident = self.identity()
        return f"arn:{ident.partition}:lambda:{ident.region}:{ident.account}:function:{name}"

    # retries ------------------------------------------------------------------------------
    def retry(
        self,
        fn: Callable[[], T],
        *,
        retry_if: Callable[[AwsError], bool],
        deadline_s: float,
        schedule: tuple[float, ...] = (0.5, 1.0, 1.0, 2.0, 2.0, 3.0),
        on_retry: Callable[[AwsError, float], None] | None = None,
    ) -> T:
        """Call `fn` until it stops raising a retryable AwsError or the deadline passes.

        The schedule is dense at first (IAM propagation usually takes a few seconds) and
        then repeats its last step.
        """
        start = self.clock()
        attempt = 0
        while True:
            try:
                return fn()
            except AwsError as exc:
                elapsed = self.clock() - start
                if not retry_if(exc) or elapsed >= deadline_s:
                    raise
                delay = schedule[min(attempt, len(schedule) - 1)]
                delay = min(delay, max(0.0, deadline_s - elapsed))
                if on_retry:
                    on_retry(exc, elapsed)
                self.sleep(delay)
                attempt += 1
