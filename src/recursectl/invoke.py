"""Build a chain's first event, check it against Lambda's limits and the deployed cap, invoke."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recursectl.aws import call
from recursectl.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from recursectl.aws import Aws

# Lambda's payload limits (bytes): 1 MB for asynchronous (Event) invocations since 2025,
# 6 MB for synchronous (RequestResponse) ones.
MAX_ASYNC_PAYLOAD = 1024 * 1024
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
CONTEXT_KEY = "_recursectl"  # reserved by the chain helper


@dataclass(frozen=True)
class Deployed:
    """What invoke needs to know about the deployed function."""

    name: str
    arn: str
    max_calls: int | None  # None: not deployed by recursectl (no cap in its environment)
    memory_mb: int
    log_group: str


@dataclass(frozen=True)
class InvokeResult:
    request_id: str
    status_code: int
    sync: bool
    function_error: str | None = None
    payload: Any = None  # decoded JSON, or the raw text when it is not JSON
    log_tail: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "request_id": self.request_id,
            "chain_id": self.request_id,
            "status_code": self.status_code,
        }
        if self.sync:
            out["function_error"] = self.function_error
            out["payload"] = self.payload
        return out


def build_event(
    *,
    calls: int | None,
    fanout: int | None,
    path: Path | None,
    data: str | None,
    default_calls: int = 5,
) -> dict[str, Any]:
    """The root event: a JSON object from --data or -p, or the template's own event.

    `--calls`/`--fanout` set `numberOfCalls`/`fanout`; without --data/-p the template's event
    is built with `default_calls`.
    """
    if path is not None and data is not None:
        raise UsageError("Give either --data or -p/--path, not both.", hint="pick one source")
    event: Any
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(
                f"Event file {path} does not exist.", hint="check the path given to -p/--path"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"Cannot read event file {path}: {exc}", hint="check the file"
            ) from None
        event = _parse_json(text, f"event file {path}")
    elif data is not None:
        event = _parse_json(data, "--data")
    else:
        event = {}
        if calls is None:
            calls = default_calls
    if not isinstance(event, dict):
        raise UsageError(
            f"The event must be a JSON object, not {type(event).__name__}.",
            hint='wrap it in an object, e.g. {"numberOfCalls": 5}',
        )
    if CONTEXT_KEY in event:
        raise UsageError(
            f"The event key {CONTEXT_KEY!r} is reserved for recursectl's chain context.",
            hint="remove it from the event",
        )
    if calls is not None:
        event["numberOfCalls"] = calls
    if fanout is not None:
        if fanout < 1:
            raise UsageError("--fanout must be 1 or more.", hint="--fanout 2 makes a binary tree")
        event["fanout"] = fanout
    return event


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            hint='pass a JSON object, e.g. {"numberOfCalls": 5}',
        ) from None


def check_calls(event: dict[str, Any], deployed: Deployed) -> None:
    """numberOfCalls must be a non-negative integer not above the deployed cap."""
    if "numberOfCalls" not in event:
        return
    calls = event["numberOfCalls"]
    if not isinstance(calls, int) or isinstance(calls, bool) or calls < 0:
        raise UsageError(
            f"numberOfCalls must be a non-negative whole number (got {calls!r}).",
            hint="for example --calls 5",
        )
    if deployed.max_calls is not None and calls > deployed.max_calls:
        raise UsageError(
            f"--calls {calls} is above the cap of {deployed.name} "
            f"(max_calls = {deployed.max_calls}).",
            hint=f"use --calls {deployed.max_calls} or less, or redeploy with --max-calls {calls}",
        )


def encode(event: dict[str, Any], *, sync: bool) -> bytes:
    body = json.dumps(event, separators=(",", ":")).encode()
    limit = MAX_SYNC_PAYLOAD if sync else MAX_ASYNC_PAYLOAD
    if len(body) > limit:
        kind = "synchronous" if sync else "asynchronous"
        raise UsageError(
            f"The event is {len(body):,} bytes; Lambda accepts at most {limit:,} for "
            f"{kind} invocations.",
            hint="pass a reference (an S3 key, say) instead of the data itself",
        )
    return body


def describe(aws: Aws, name: str) -> Deployed:
    """The deployed function's ARN, cap, memory and log group (one GetFunctionConfiguration)."""
    try:
        cfg = call(
            "lambda:GetFunctionConfiguration",
            name,
            lambda: aws.lambda_.get_function_configuration(FunctionName=name),
            aws.target,
        )
    except NotFoundError:
        raise NotFoundError(
            f"Function {name!r} does not exist in {aws.region}.",
            hint="deploy it first: `recursectl deploy` (or pass --name)",
        ) from None
    env = cfg.get("Environment", {}).get("Variables", {})
    raw_cap = env.get("RECURSECTL_MAX_CALLS")
    cap = int(raw_cap) if raw_cap and raw_cap.isdigit() else None
    group = cfg.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{name}"
    return Deployed(
        name=name,
        arn=cfg["FunctionArn"],
        max_calls=cap,
        memory_mb=int(cfg.get("MemorySize", 128)),
        log_group=group,
    )


def invoke(aws: Aws, deployed: Deployed, event: dict[str, Any], *, sync: bool) -> InvokeResult:
    """Invoke once. For Event invocations the returned request id is the execution's own."""
    body = encode(event, sync=sync)
    response = call(
        "lambda:InvokeFunction",
        deployed.arn,
        lambda: aws.lambda_once.invoke(
            FunctionName=deployed.name,
            InvocationType="RequestResponse" if sync else "Event",
            Payload=body,
            LogType="Tail" if sync else "None",
        ),
        aws.target,
    )
    request_id = str(response["ResponseMetadata"]["RequestId"])
    payload: Any = None
    if sync:
        raw = response["Payload"].read().decode("utf-8", "replace")
        try:
            payload = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            payload = raw
    tail = response.get("LogResult")
    return InvokeResult(
        request_id=request_id,
        status_code=int(response["StatusCode"]),
        sync=sync,
        function_error=response.get("FunctionError"),
        payload=payload,
        log_tail=base64.b64decode(tail).decode("utf-8", "replace") if tail else None,
    )
