"""Lambda, by job: read a function, change its settings, invoke it. Errors come out as
recursectl's domain errors (recursectl.errors), never as botocore's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from recursectl.aws.errors import translate
from recursectl.aws.view import EventInvokeView, FunctionView
from recursectl.errors import AwsError, NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

    from recursectl.aws.session import Aws

ROLE_DEADLINE_S = 120.0
# How long stop/resume wait out an update in progress (AWS: seconds, minutes with a VPC).
UPDATE_DEADLINE_S = 300.0
_UPDATE_SCHEDULE = (0.25, 0.5, 1.0, 1.0, 2.0)
_ROLE_SCHEDULE = (0.5, 0.5, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0)
OnWait = Callable[[str], None]
T = TypeVar("T")


def _quiet(_: str) -> None:
    return None


def function_not_found(name: str, local: bool = False, region: str | None = None) -> NotFoundError:
    """A missing function: where it was looked for, and how to deploy it."""
    # The local cloud has one region and keeps functions only while it runs: no --region.
    if local:
        where, check = "", "the local cloud keeps functions while it runs; or check --name"
    else:
        where, check = (f" in {region}" if region else ""), "or check --region / --name"
    return NotFoundError(
        f"Function {name} does not exist{where}.",
        hint=f"deploy it first: `recursectl deploy --name {name}` ({check})",
    )


@dataclass(frozen=True)
class FunctionConfig:
    """What CreateFunction and UpdateFunctionConfiguration both set: one list, no drift."""

    name: str
    runtime: str
    role: str
    handler: str
    timeout: int
    memory: int
    env: dict[str, str]
    layers: tuple[str, ...] = ()
    architecture: str = "x86_64"  # set with the code (CreateFunction, UpdateFunctionCode)
    log_format: str | None = None  # LoggingConfig.LogFormat; None: not sent (left as it is)

    def to_api(self) -> dict[str, Any]:
        api: dict[str, Any] = {
            "Layers": list(self.layers),
            "FunctionName": self.name,
            "Runtime": self.runtime,
            "Role": self.role,
            "Handler": self.handler,
            "Timeout": self.timeout,
            "MemorySize": self.memory,
            "Environment": {"Variables": self.env},
        }
        if self.log_format:
            api["LoggingConfig"] = {"LogFormat": self.log_format}
        return api


@dataclass(frozen=True)
class InvokeResponse:
    request_id: str
    status_code: int
    function_error: str | None
    payload: bytes  # empty for Event invocations


def _update_in_progress(exc: AwsError) -> bool:
    # AWS answers 409 ResourceConflictException to a configuration write while the function's
    # LastUpdateStatus is InProgress (a deploy or a pipeline is updating it).
    return exc.code == "ResourceConflictException"


def _role_not_ready(exc: AwsError) -> bool:
    # A fresh role is not yet assumable by Lambda for a few seconds after CreateRole.
    return exc.code == "InvalidParameterValueException" and "cannot be assumed" in exc.message


class LambdaApi:
    def __init__(self, aws: Aws) -> None:
        self._aws = aws

    @property
    def _client(self) -> LambdaClient:
        return self._aws.lambda_

    def _do(self, action: str, resource: str, fn: Callable[[], Any]) -> Any:
        with translate(f"lambda:{action}", resource, self._aws.target):
            return fn()

    # reading --------------------------------------------------------------------------------
    def get_function(self, name: str, *, exact_concurrency: bool = False) -> FunctionView | None:
        """The function (configuration, tags, reserved concurrency), or None when absent.

        `exact_concurrency`: GetFunction omits a reserved concurrency of 0 on some emulators
        (moto), so when it reports none, ask GetFunctionConcurrency (one more read).
        """
        try:
            got = self._do(
                "GetFunction", name, lambda: self._client.get_function(FunctionName=name)
            )
        except NotFoundError:
            return None
        view = FunctionView.from_get_function(dict(got))
        if exact_concurrency and view.concurrency is None:
            from dataclasses import replace

            view = replace(view, concurrency=self.reserved_concurrency(name))
        return view

    def require_function(self, name: str) -> FunctionView:
        """The deployed function (as get_function with exact_concurrency), or NotFoundError
        with the one message and hint every command gives for a missing function."""
        fn = self.get_function(name, exact_concurrency=True)
        if fn is None:
            raise function_not_found(name, self._aws.target.local, self._aws.region)
        return fn

    def list_functions(self) -> list[FunctionView]:
        """Every function of the region (ListFunctions, all pages; no tags, no concurrency)."""
        views: list[FunctionView] = []
        request: dict[str, Any] = {"MaxItems": 50}  # ListFunctions' largest page
        while True:
            page = self._do("ListFunctions", "*", lambda: self._client.list_functions(**request))
            views += [FunctionView.from_configuration(dict(c)) for c in page.get("Functions", [])]
            marker = page.get("NextMarker")
            if not marker:
                return views
            request["Marker"] = marker

    def event_invoke_config(self, name: str) -> EventInvokeView | None:
        """Retries, event age and destinations; None when none is set (AWS: 2 retries)."""
        try:
            got = self._do(
                "GetFunctionEventInvokeConfig",
                name,
                lambda: self._client.get_function_event_invoke_config(FunctionName=name),
            )
        except NotFoundError:
            return None
        return EventInvokeView.from_api(dict(got))

    def reserved_concurrency(self, name: str) -> int | None:
        got = self._do(
            "GetFunctionConcurrency",
            name,
            lambda: self._client.get_function_concurrency(FunctionName=name),
        )
        value = got.get("ReservedConcurrentExecutions")
        return int(value) if value is not None else None

    def async_retries(self, name: str) -> int | None:
        """MaximumRetryAttempts; None when the function has no event-invoke config (AWS: 2)."""
        config = self.event_invoke_config(name)
        return config.retries if config is not None else None

    def recursion(self, name: str) -> str | None:
        got = self._do(
            "GetFunctionRecursionConfig",
            name,
            lambda: self._client.get_function_recursion_config(FunctionName=name),
        )
        value = got.get("RecursiveLoop")
        return str(value) if value is not None else None

    # writing --------------------------------------------------------------------------------
    def _with_role_retry(
        self, action: str, name: str, fn: Callable[[], Any], on_wait: OnWait
    ) -> Any:
        def on_retry(exc: AwsError, elapsed: float) -> None:
            on_wait(f"waiting for the new role to become assumable by Lambda ({elapsed:.0f}s)...")

        return self._aws.retry(
            lambda: self._do(action, name, fn),
            retry_if=_role_not_ready,
            deadline_s=ROLE_DEADLINE_S,
            schedule=_ROLE_SCHEDULE,
            on_retry=on_retry,
        )

    def while_updating(self, name: str, fn: Callable[[], T], *, on_wait: OnWait = _quiet) -> T:
        """`fn`, retried while `name` answers ResourceConflictException (an update in progress),
        for at most UPDATE_DEADLINE_S; `on_wait` hears of every wait."""

        def on_retry(exc: AwsError, elapsed: float) -> None:
            on_wait(f"an update of {name} is in progress: retrying ({elapsed:.0f}s so far)...")

        return self._aws.retry(
            fn,
            retry_if=_update_in_progress,
            deadline_s=UPDATE_DEADLINE_S,
            schedule=_UPDATE_SCHEDULE,
            on_retry=on_retry,
        )

    def create_function(
        self,
        config: FunctionConfig,
        zip_bytes: bytes,
        tags: dict[str, str],
        *,
        on_wait: OnWait = _quiet,
    ) -> None:
        """Create it and wait until it is Active (retrying while a new role propagates)."""
        self._with_role_retry(
            "CreateFunction",
            config.name,
            lambda: self._client.create_function(
                **config.to_api(),
                Code={"ZipFile": zip_bytes},
                Architectures=[config.architecture],  # type: ignore[list-item]
                Description="Recursive Lambda function managed by recursectl",
                Tags=tags,
                Publish=False,
            ),
            on_wait,
        )
        self.wait(config.name, "function_active_v2")

    def update_configuration(self, config: FunctionConfig, *, on_wait: OnWait = _quiet) -> None:
        self._with_role_retry(
            "UpdateFunctionConfiguration",
            config.name,
            lambda: self._client.update_function_configuration(**config.to_api()),
            on_wait,
        )
        self.wait(config.name, "function_updated_v2")

    def update_environment(self, name: str, env: dict[str, str]) -> None:
        self._do(
            "UpdateFunctionConfiguration",
            name,
            lambda: self._client.update_function_configuration(
                FunctionName=name, Environment={"Variables": env}
            ),
        )
        self.wait(name, "function_updated_v2")

    def update_code(self, name: str, zip_bytes: bytes, architecture: str = "x86_64") -> None:
        """New code; the architecture can only change together with the code."""
        self._do(
            "UpdateFunctionCode",
            name,
            lambda: self._client.update_function_code(
                FunctionName=name,
                ZipFile=zip_bytes,
                Architectures=[architecture],  # type: ignore[list-item]
            ),
        )
        self.wait(name, "function_updated_v2")

    def wait(self, name: str, waiter: str) -> None:
        """Wait (GetFunction every second, at most 5 minutes) for an update or creation."""
        self._do(
            f"GetFunction ({waiter})",
            name,
            lambda: self._client.get_waiter(waiter).wait(  # type: ignore[call-overload]
                FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
            ),
        )

    def disable_async_retries(self, name: str, on_failure: str | None = None) -> None:
        """MaximumRetryAttempts 0, and `on_failure` as the only destination (None: none).
        PutFunctionEventInvokeConfig replaces the whole configuration."""
        extra: dict[str, Any] = {}
        if on_failure is not None:
            extra["DestinationConfig"] = {"OnFailure": {"Destination": on_failure}}
        self._do(
            "PutFunctionEventInvokeConfig",
            name,
            lambda: self._client.put_function_event_invoke_config(
                FunctionName=name, MaximumRetryAttempts=0, **extra
            ),
        )

    def set_recursion(self, name: str, mode: str) -> None:
        self._do(
            "PutFunctionRecursionConfig",
            name,
            lambda: self._client.put_function_recursion_config(
                FunctionName=name,
                RecursiveLoop=mode,  # type: ignore[arg-type]
            ),
        )

    def set_reserved_concurrency(self, name: str, value: int) -> None:
        self._do(
            "PutFunctionConcurrency",
            name,
            lambda: self._client.put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=value
            ),
        )

    def remove_reserved_concurrency(self, name: str) -> None:
        self._do(
            "DeleteFunctionConcurrency",
            name,
            lambda: self._client.delete_function_concurrency(FunctionName=name),
        )

    def tag(self, arn: str, tags: dict[str, str]) -> None:
        self._do("TagResource", arn, lambda: self._client.tag_resource(Resource=arn, Tags=tags))

    def untag(self, arn: str, keys: list[str]) -> None:
        self._do(
            "UntagResource", arn, lambda: self._client.untag_resource(Resource=arn, TagKeys=keys)
        )

    def delete_function(self, name: str) -> bool:
        """True when deleted, False when it was already gone."""
        try:
            self._do(
                "DeleteFunction", name, lambda: self._client.delete_function(FunctionName=name)
            )
        except NotFoundError:
            return False
        return True

    # invoking -------------------------------------------------------------------------------
    def invoke(self, name: str, payload: bytes, *, sync: bool) -> InvokeResponse:
        """One attempt, never retried: a retried Invoke whose first attempt reached Lambda
        would start a second chain, so a failure is reported instead."""
        response = self._do(
            "InvokeFunction",
            name,
            lambda: self._aws.lambda_once.invoke(
                FunctionName=name,
                InvocationType="RequestResponse" if sync else "Event",
                Payload=payload,
            ),
        )
        body = response["Payload"].read() if sync and "Payload" in response else b""
        return InvokeResponse(
            request_id=str(response["ResponseMetadata"]["RequestId"]),
            status_code=int(response["StatusCode"]),
            function_error=response.get("FunctionError"),
            payload=bytes(body),
        )
