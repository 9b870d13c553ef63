"""Build a chain's first event, check it against Lambda's limits and the deployed cap, invoke."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recursectl import protocol
from recursectl.aws.view import FunctionView
from recursectl.errors import StoppedError, UsageError

if TYPE_CHECKING:
    from recursectl.aws import Aws

# Lambda's payload limits (bytes): 1 MB for asynchronous (Event) invocations since 2025,
# 6 MB for synchronous (RequestResponse) ones.
MAX_ASYNC_PAYLOAD = 1024 * 1024
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024


@dataclass(frozen=True)
class InvokeResult:
    request_id: str
    status_code: int
    sync: bool
    function_error: str | None = None
    payload: Any = None  # decoded JSON, or the raw text when it is not JSON
    raw_payload: str = ""  # the response body as the function returned it (--sync's stdout)

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
        text = _read_event_file(path)
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
    if protocol.CONTEXT_KEY in event:
        raise UsageError(
            f"The event key {protocol.CONTEXT_KEY!r} is reserved for recursectl's chain context.",
            hint="remove it from the event",
        )
    if calls is not None:
        event["numberOfCalls"] = calls
    if fanout is not None:
        if fanout < 1:
            raise UsageError("--fanout must be 1 or more.", hint="--fanout 2 makes a binary tree")
        event["fanout"] = fanout
        # The guard shares the chain's budget between K children per node (protocol: split).
        event[protocol.CONTEXT_KEY] = {"split": fanout}
    return event


def _read_event_file(path: Path) -> str:
    """The text of an event file: a regular file no larger than a sync payload may be.

    A FIFO or a device (`-p /dev/zero`) would block or never end: refused before reading.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UsageError(
            f"Event file {path} does not exist.", hint="check the path given to -p/--path"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"Cannot read event file {path}: {exc.strerror}.", hint="check the file"
        ) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UsageError(
            f"Event file {path} is not a regular file.",
            hint="write the event to a file and pass that file to -p/--path",
        )
    if info.st_size > MAX_SYNC_PAYLOAD:
        os.close(fd)
        raise UsageError(
            f"Event file {path} is {info.st_size:,} bytes; Lambda accepts at most "
            f"{MAX_SYNC_PAYLOAD:,}.",
            hint="pass a reference (an S3 key, say) instead of the data itself",
        )
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(MAX_SYNC_PAYLOAD + 1)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"Event file {path} is not UTF-8 text (byte {exc.start}).",
            hint="save the event as UTF-8 JSON",
        ) from None


def _refuse_constant(name: str) -> Any:
    # Lambda accepts strict JSON only: NaN and Infinity are Python's extension.
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            hint='pass a JSON object, e.g. {"numberOfCalls": 5}',
        ) from None
    except ValueError as exc:
        raise UsageError(
            f"{source} is not valid JSON: {exc}.", hint="Lambda accepts strict JSON only"
        ) from None
    except RecursionError:
        raise UsageError(
            f"{source} is nested too deeply to be an event.",
            hint="flatten the event",
        ) from None


def check_calls(event: dict[str, Any], deployed: FunctionView) -> None:
    """numberOfCalls is a whole number within the deployed cap, and its tree fits the budget."""
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
    fanout = event.get("fanout")
    budget = deployed.max_invocations
    if not isinstance(fanout, int) or isinstance(fanout, bool) or fanout < 1 or budget is None:
        return
    size = protocol.tree_size(calls, fanout)
    if size > budget:
        raise UsageError(
            f"--calls {calls} --fanout {fanout} asks for a tree of {size:,} invocations; "
            f"{deployed.name} allows {budget:,} per chain (max_invocations).",
            hint=f"use fewer calls or a smaller fan-out, or redeploy with --max-invocations {size}",
        )


def set_cost_cap(event: dict[str, Any], max_cost: float | None, deployed: FunctionView) -> None:
    """Put the chain's cost cap (USD) into the root's context; the guard enforces it with the
    chain counter, so a function deployed without one is refused."""
    if max_cost is None:
        return
    if not deployed.env.get(protocol.COUNTER_TABLE_ENV):
        raise UsageError(
            f"{deployed.name} has no chain counter, so a cost cap cannot be enforced.",
            hint=f"redeploy it with this recursectl (`recursectl deploy --name {deployed.name}`)",
        )
    context = dict(event.get(protocol.CONTEXT_KEY) or {})
    context["max_cost"] = max_cost
    event[protocol.CONTEXT_KEY] = context


_BOUND_FLAGS = {"max_hops": "--max-hops", "max_seconds": "--max-seconds", "max_cost": "--max-cost"}


def job_bounds(
    deployed: FunctionView,
    *,
    max_hops: int | None = None,
    max_seconds: int | None = None,
    max_cost: float | None = None,
) -> tuple[dict[str, Any] | None, bool]:
    """The bounds a job started now runs under, and whether the flags narrowed the declared
    ones; (None, False) for a function that is not a job function (a bound flag is refused).
    A run may lower a declared bound, never raise it (docs/jobs.md, "Bounds")."""
    declared = deployed.job_bounds
    asked = {"max_hops": max_hops, "max_seconds": max_seconds, "max_cost": max_cost}
    if declared is None:
        given = [_BOUND_FLAGS[k] for k in ("max_hops", "max_seconds") if asked[k] is not None]
        if given:
            raise UsageError(
                f"{' and '.join(given)} bound a job; {deployed.name} is not a job function.",
                hint="add a [job] table to recursectl.toml and deploy again (see "
                "`recursectl init --template job`)",
            )
        return None, False
    bounds = {
        "max_hops": declared.get("max_hops", protocol.DEFAULT_JOB_MAX_HOPS),
        "max_seconds": declared.get("max_seconds", protocol.DEFAULT_JOB_MAX_SECONDS),
        "max_cost": declared.get("max_cost"),
    }
    narrowed = False
    for key, value in asked.items():
        if value is None:
            continue
        limit = bounds[key]
        if isinstance(limit, (int, float)) and value > limit:
            raise UsageError(
                f"{_BOUND_FLAGS[key]} {value:g} is above {deployed.name}'s declared "
                f"{key} of {limit:g}: a run can narrow a job's bounds, not widen them.",
                hint=f"use {_BOUND_FLAGS[key]} {limit:g} or less, or raise `{key}` in [job] "
                "and deploy again",
            )
        if value != limit:
            bounds[key], narrowed = value, True
    return {k: v for k, v in bounds.items() if v is not None}, narrowed


def set_job_bounds(event: dict[str, Any], bounds: dict[str, Any]) -> None:
    """The root's context carries `job: {"bounds": ...}` (no id: the first hop starts the job)."""
    context = dict(event.get(protocol.CONTEXT_KEY) or {})
    context[protocol.JOB_KEY] = {"bounds": bounds}
    event[protocol.CONTEXT_KEY] = context


def bounds_line(bounds: dict[str, Any], narrowed: bool) -> str:
    """`job bounds: 1,000 hops, 6 h, no cost bound (declared in [job])`."""
    seconds = int(bounds["max_seconds"])
    if seconds % 3600 == 0:
        span = f"{seconds // 3600} h"
    elif seconds % 60 == 0:
        span = f"{seconds // 60} min"
    else:
        span = f"{seconds} s"
    cost = f"${bounds['max_cost']:g}" if "max_cost" in bounds else "no cost bound"
    where = "narrowed for this run" if narrowed else "declared in [job]"
    return f"job bounds: {int(bounds['max_hops']):,} hops, {span}, {cost} ({where})"


def worst_case_usd(deployed: FunctionView) -> float | None:
    """A chain's worst case: every invocation of its budget running to the timeout."""
    from recursectl import pricing

    if deployed.max_invocations is None or not deployed.memory_mb or not deployed.timeout:
        return None
    n = deployed.max_invocations
    gb_seconds = n * deployed.timeout * deployed.memory_mb / 1024
    return pricing.estimate_usd(gb_seconds, n, deployed.architecture)


def caps_lines(deployed: FunctionView, max_cost: float | None) -> list[str]:
    """The limits a new chain runs under, then what its worst case would cost: two lines, each
    short enough for an 80-column terminal."""
    parts = []
    if deployed.max_calls is not None:
        parts.append(f"depth {deployed.max_calls}")
    if deployed.max_invocations is not None:
        exact = "exact" if deployed.env.get(protocol.COUNTER_TABLE_ENV) else "split rule"
        parts.append(f"{deployed.max_invocations:,} invocations ({exact})")
    parts.append(f"cost ${max_cost:g}" if max_cost is not None else "no cost cap")
    lines = ["caps: " + ", ".join(parts)]
    worst = worst_case_usd(deployed)
    if worst is not None:
        lines.append(
            f"worst case ${worst:.4f} ({deployed.max_invocations:,} x {deployed.timeout} s x "
            f"{deployed.memory_mb} MB, list price)"
        )
    return lines


def check_running(deployed: FunctionView) -> None:
    """Refuse to invoke a stopped function: Lambda would queue the event (up to 6 hours) and
    run it after a later resume, and a follower would wait for nothing."""
    if deployed.stopped:
        raise StoppedError(
            f"{deployed.name} is stopped (reserved concurrency 0): the invocation cannot start.",
            hint=f"lift the kill switch first: recursectl resume --name {deployed.name}",
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


def invoke(aws: Aws, deployed: FunctionView, event: dict[str, Any], *, sync: bool) -> InvokeResult:
    """Invoke once. For Event invocations the returned request id is the execution's own."""
    body = encode(event, sync=sync)
    response = aws.lambda_api.invoke(deployed.name, body, sync=sync)
    payload: Any = None
    raw = ""
    if sync:
        raw = response.payload.decode("utf-8", "replace")
        try:
            payload = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            payload = raw
    return InvokeResult(
        request_id=response.request_id,
        status_code=response.status_code,
        sync=sync,
        function_error=response.function_error,
        payload=payload,
        raw_payload=raw if sync else "",
    )
