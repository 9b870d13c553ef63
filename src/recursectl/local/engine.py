"""The execution engine: Invoke as Lambda does it, on warm local workers.

Function configuration is read from moto over the wire protocol (and cached until the front
door sees a Lambda control-plane write); code comes from the CodeStore the front door fills.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import secrets
import sys
import threading
import time
import uuid
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from recursectl.local import errors, logsink
from recursectl.local.errors import ServiceError
from recursectl.local.logsink import LogSink
from recursectl.local.motowire import ACCOUNT_ID, Moto, Response
from recursectl.local.workers import (
    CodeStore,
    Environment,
    FunctionSpec,
    Invocation,
    Outcome,
    Spawner,
)

log = logging.getLogger(__name__)

MAX_CHAIN = 16  # Lambda drops the 17th invocation of a function in one request chain
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024  # 6 MB, RequestResponse
ASYNC_PAYLOAD_LIMIT = 1024 * 1024  # 1 MB, Event (raised from 256 KB in 2025)
DEFAULT_MAX_RETRIES = 2  # AWS's default for async invocations
DEFAULT_MAX_EVENT_AGE = 21600  # seconds (6 hours)
CONTEXT_KEY = "_recursectl"

_LINEAGE = re.compile(r"^(?:\d+:)?(?P<hash>[0-9a-f]{8}):(?P<count>\d+)$")


def function_name(raw: str) -> str:
    """A function name from a name, a partial ARN or a full ARN (URL-decoded)."""
    raw = unquote(raw)
    if ":function:" in raw:
        raw = raw.split(":function:", 1)[1]
    return raw.split(":", 1)[0]


def next_trace(header: str | None, function_key: str) -> tuple[str, int]:
    """The trace header for a new invocation and how many times this function is in its chain.

    The chain is recognised from the caller's X-Amzn-Trace-Id (botocore forwards the
    runtime's _X_AMZN_TRACE_ID): same Root, and a Lineage field counting, per function,
    the invocations so far.
    """
    fields: dict[str, str] = {}
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key] = value
    root = fields.get("Root") or f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    counts: dict[str, int] = {}
    for entry in fields.get("Lineage", "").split("|"):
        match = _LINEAGE.match(entry.strip())
        if match:
            counts[match["hash"]] = int(match["count"])
    count = counts.get(function_key, 0) + 1
    counts[function_key] = count
    lineage = "|".join(f"{h}:{c}" for h, c in counts.items())
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=0;Lineage={lineage}", count


def lineage_key(arn: str) -> str:
    """The Lineage entry key of a function (its ARN, hashed)."""
    return f"{zlib.crc32(arn.encode()):08x}"


@dataclass(frozen=True)
class FunctionConfig:
    spec: FunctionSpec
    reserved: int | None
    max_retries: int
    max_age: int


@dataclass
class AsyncEvent:
    name: str
    qualifier: str | None
    request_id: str
    payload: bytes
    trace: str
    enqueued: float = field(default_factory=time.monotonic)
    attempts: int = 0


@dataclass
class FunctionState:
    name: str
    config: FunctionConfig | None = None
    queue: deque[AsyncEvent] = field(default_factory=deque)
    active: int = 0
    idle: list[Environment] = field(default_factory=list)
    envs: set[Environment] = field(default_factory=set)
    counters: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("invocations", "errors", "timeouts", "throttles", "retries", "cold_starts"), 0
        )
    )
    drops: dict[str, int] = field(default_factory=dict)


@dataclass
class Limits:
    """Concurrency and lifetime knobs (`recursectl local serve` options)."""

    function_concurrency: int = 10  # per function, unless reserved concurrency says otherwise
    total_concurrency: int = 32  # every function together (each slot is a worker process)
    idle_timeout: float = 300.0  # seconds before an idle environment is reaped
    retry_delays: tuple[float, ...] = (1.0, 2.0)  # AWS waits ~1 and ~2 minutes; locally seconds


class Engine:
    """Invoke, queues, concurrency, recursion detection; owns every worker."""

    def __init__(
        self,
        moto: Moto,
        sink: LogSink,
        code: CodeStore,
        region: str = "us-east-1",
        limits: Limits | None = None,
    ) -> None:
        self.moto = moto
        self.sink = sink
        self.code = code
        self.region = region
        self.limits = limits or Limits()
        self.endpoint = ""  # the front door's URL; set once it is bound
        self.recursion: dict[str, str] = {}
        self.started = time.time()
        self._lock = threading.Lock()
        self._states: dict[str, FunctionState] = {}
        self._active = 0
        self._generation = 0
        self._configs: dict[tuple[str, str | None], tuple[int, FunctionConfig]] = {}
        self._spawner = Spawner()
        self._pool = ThreadPoolExecutor(max_workers=256, thread_name_prefix="async")
        self._warned_runtimes: set[str] = set()
        self._closed = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="reaper", daemon=True)
        self._reaper.start()

    # configuration ------------------------------------------------------------------------
    def invalidate(self) -> None:
        """A Lambda control-plane write went through: re-read configuration, re-pump queues."""
        with self._lock:
            self._generation += 1
        self._pool.submit(self._pump)

    def config(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        key = (name, qualifier)
        with self._lock:
            generation = self._generation
            cached = self._configs.get(key)
        if cached and cached[0] == generation:
            return cached[1]
        cfg = self._read_config(name, qualifier)
        with self._lock:
            self._configs[key] = (generation, cfg)
            if qualifier is None:
                self._state(name).config = cfg
        return cfg

    def _read_config(self, name: str, qualifier: str | None) -> FunctionConfig:
        base = f"/2015-03-31/functions/{quote(name, safe='')}"
        query = f"Qualifier={quote(qualifier)}" if qualifier else ""
        code, conf = self.moto.aws(
            "lambda", "GET", f"{base}/configuration", region=self.region, query=query
        )
        if code == 404 or not isinstance(conf, dict):
            arn = f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}"
            if qualifier:
                arn += f":{qualifier}"
            raise errors.ResourceNotFound(f"Function not found: {arn}")
        _, conc = self.moto.aws(
            "lambda",
            "GET",
            f"/2019-09-30/functions/{quote(name, safe='')}/concurrency",
            region=self.region,
        )
        reserved = (conc or {}).get("ReservedConcurrentExecutions")
        code, eic = self.moto.aws(
            "lambda",
            "GET",
            f"/2019-09-25/functions/{quote(name, safe='')}/event-invoke-config",
            region=self.region,
        )
        eic = eic if code == 200 and isinstance(eic, dict) else {}
        variables = ((conf.get("Environment") or {}).get("Variables")) or {}
        logging_config = conf.get("LoggingConfig") or {}
        spec = FunctionSpec(
            name=str(conf["FunctionName"]),
            arn=str(conf["FunctionArn"]),
            handler=str(conf.get("Handler") or "handler.handler"),
            runtime=str(conf.get("Runtime") or ""),
            memory=int(conf.get("MemorySize") or 128),
            timeout=int(conf.get("Timeout") or 3),
            variables=tuple(sorted((str(k), str(v)) for k, v in variables.items())),
            code_sha=str(conf.get("CodeSha256") or ""),
            version=str(conf.get("Version") or "$LATEST"),
            log_group=str(logging_config.get("LogGroup") or f"/aws/lambda/{conf['FunctionName']}"),
            region=self.region,
            endpoint=self.endpoint,
        )
        self._warn_runtime(spec)
        return FunctionConfig(
            spec=spec,
            reserved=int(reserved) if reserved is not None else None,
            max_retries=int(eic.get("MaximumRetryAttempts", DEFAULT_MAX_RETRIES)),
            max_age=int(eic.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE)),
        )

    def _warn_runtime(self, spec: FunctionSpec) -> None:
        note = runtime_note(spec.runtime)
        if note and spec.name not in self._warned_runtimes:
            self._warned_runtimes.add(spec.name)
            log.warning(f"{spec.name}: {note}")

    def _state(self, name: str) -> FunctionState:
        # caller holds self._lock
        state = self._states.get(name)
        if state is None:
            state = self._states[name] = FunctionState(name)
        return state

    def _limit(self, cfg: FunctionConfig) -> int:
        if cfg.reserved is not None:
            return cfg.reserved
        return self.limits.function_concurrency

    # recursion config (moto has none) -----------------------------------------------------
    def put_recursion(self, name: str, value: str) -> None:
        with self._lock:
            self.recursion[name] = value

    def get_recursion(self, name: str) -> str:
        with self._lock:
            return self.recursion.get(name, "Terminate")

    # Invoke -------------------------------------------------------------------------------
    def invoke(
        self,
        raw_name: str,
        qualifier: str | None,
        invocation_type: str,
        payload: bytes,
        trace_header: str | None,
        log_type: str | None = None,
    ) -> Response:
        request_id = str(uuid.uuid4())
        try:
            return self._invoke(
                request_id, raw_name, qualifier, invocation_type, payload, trace_header, log_type
            )
        except ServiceError as exc:
            return exc.response(request_id)

    def _invoke(
        self,
        request_id: str,
        raw_name: str,
        qualifier: str | None,
        invocation_type: str,
        payload: bytes,
        trace_header: str | None,
        log_type: str | None,
    ) -> Response:
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise errors.InvalidParameterValue(f"Unsupported InvocationType: {invocation_type}")
        limit = ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
        if len(payload) > limit:
            raise errors.RequestTooLarge(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation",
            )
        name = function_name(raw_name)
        cfg = self.config(name, qualifier)
        if not payload.strip():
            payload = b"{}"  # Lambda hands an empty payload to the handler as {}
        else:
            try:
                json.loads(payload)
            except ValueError as exc:
                raise errors.InvalidRequestContent(
                    f"Could not parse request body into json: Could not parse payload into "
                    f"json: {exc}",
                ) from None
        headers = {"x-amzn-RequestId": request_id}
        if invocation_type == "DryRun":
            return 204, headers, b""
        trace, count = next_trace(trace_header, lineage_key(cfg.spec.arn))
        headers["X-Amzn-Trace-Id"] = trace
        if count > MAX_CHAIN and self.get_recursion(name) != "Allow":
            self._record_drop(cfg, request_id, "RecursiveInvocationException", payload)
            if invocation_type == "Event":
                # Lambda accepts the event, then stops it (it never runs).
                return 202, headers, b""
            raise errors.RecursiveInvocation(
                f"Lambda detected that this function ({cfg.spec.arn}) is part of a recursive "
                f"loop and stopped the invocation (more than {MAX_CHAIN} calls in one chain).",
            )
        if invocation_type == "Event":
            event = AsyncEvent(name, qualifier, request_id, payload, trace)
            with self._lock:
                self._state(name).queue.append(event)
            self._pump()
            return 202, headers, b""
        return self._invoke_sync(cfg, request_id, payload, trace, log_type == "Tail", headers)

    def _invoke_sync(
        self,
        cfg: FunctionConfig,
        request_id: str,
        payload: bytes,
        trace: str,
        tail: bool,
        headers: dict[str, str],
    ) -> Response:
        name = cfg.spec.name
        with self._lock:
            state = self._state(name)
            reason = self._throttle_reason(state, cfg)
            if reason:
                state.counters["throttles"] += 1
            else:
                state.active += 1
                self._active += 1
        if reason:
            raise errors.TooManyRequests("Rate Exceeded.", Reason=reason)
        try:
            outcome = self._execute(cfg, request_id, payload, trace)
        finally:
            self._release(name)
        headers["X-Amz-Executed-Version"] = cfg.spec.version
        headers["Content-Type"] = "application/json"
        if outcome.failed:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if tail:
            tail_bytes = outcome.log_text.encode()[-4096:]
            headers["X-Amz-Log-Result"] = base64.b64encode(tail_bytes).decode()
        return 200, headers, outcome.body

    def _throttle_reason(self, state: FunctionState, cfg: FunctionConfig) -> str | None:
        # caller holds self._lock
        if state.active >= self._limit(cfg):
            if cfg.reserved is not None:
                return "ReservedFunctionConcurrentInvocationLimitExceeded"
            return "ConcurrentInvocationLimitExceeded"
        if self._active >= self.limits.total_concurrency:
            return "ConcurrentInvocationLimitExceeded"
        return None

    def _release(self, name: str) -> None:
        with self._lock:
            # clamped: a reset may have happened while this invocation ran
            state = self._state(name)
            state.active = max(0, state.active - 1)
            self._active = max(0, self._active - 1)
            waiting = any(s.queue for s in self._states.values())
        if waiting:
            self._pump()

    def _execute(self, cfg: FunctionConfig, request_id: str, payload: bytes, trace: str) -> Outcome:
        env = self._take_env(cfg)
        inv = Invocation(request_id, payload, trace, cfg.spec.arn)
        try:
            outcome = env.invoke(inv, float(cfg.spec.timeout))
        finally:
            self._give_back(env)
        with self._lock:
            counters = self._state(cfg.spec.name).counters
            counters["invocations"] += 1
            if outcome.init_ms is not None or outcome.status == "init_error":
                counters["cold_starts"] += 1
            if outcome.status == "timeout":
                counters["timeouts"] += 1
            elif outcome.failed:
                counters["errors"] += 1
        return outcome

    def _take_env(self, cfg: FunctionConfig) -> Environment:
        stale: list[Environment] = []
        with self._lock:
            state = self._state(cfg.spec.name)
            env = None
            while state.idle:
                candidate = state.idle.pop()
                if candidate.alive and candidate.spec == cfg.spec:
                    env = candidate
                    break
                stale.append(candidate)
                state.envs.discard(candidate)
        for old in stale:
            old.kill()
        if env is not None:
            return env
        if cfg.spec.code_sha not in self.code:
            raise errors.NoCode(
                f"The local cloud has no code for {cfg.spec.name} (CodeSha256 "
                f"{cfg.spec.code_sha}): deploy it again with a zip file while it runs.",
            )
        env = Environment(
            cfg.spec, self.code.task_root(cfg.spec.code_sha), self.sink, self._spawner
        )
        try:
            env.start()
        except OSError as exc:
            raise errors.ServiceException(f"Could not start a worker: {exc}") from exc
        with self._lock:
            self._state(cfg.spec.name).envs.add(env)
        return env

    def _give_back(self, env: Environment) -> None:
        with self._lock:
            state = self._state(env.spec.name)
            if env.alive and not self._closed.is_set() and env in state.envs:
                state.idle.append(env)
                return
            state.envs.discard(env)
        env.kill()

    # async --------------------------------------------------------------------------------
    def _pump(self) -> None:
        """Start queued events while their function and the total cap have room."""
        with self._lock:
            names = [s.name for s in self._states.values() if s.queue]
        configs: dict[str, FunctionConfig] = {}
        for name in names:
            try:
                configs[name] = self.config(name)
            except ServiceError:
                self._discard_queue(name, "ResourceNotFoundException")
        starts: list[AsyncEvent] = []
        with self._lock:
            for name, cfg in configs.items():
                state = self._state(name)
                while (
                    state.queue
                    and state.active < self._limit(cfg)
                    and self._active < self.limits.total_concurrency
                ):
                    starts.append(state.queue.popleft())
                    state.active += 1
                    self._active += 1
        for event in starts:
            self._pool.submit(self._run_event, event)

    def _run_event(self, event: AsyncEvent) -> None:
        try:
            cfg = self.config(event.name, event.qualifier)
            if time.monotonic() - event.enqueued > cfg.max_age:
                self._record_drop(cfg, event.request_id, "EventAgeExceeded", event.payload)
                return
            outcome = self._execute(cfg, event.request_id, event.payload, event.trace)
            if outcome.failed and event.attempts < cfg.max_retries:
                delays = self.limits.retry_delays or (0.0,)
                delay = delays[min(event.attempts, len(delays) - 1)]
                event.attempts += 1
                with self._lock:
                    self._state(event.name).counters["retries"] += 1
                timer = threading.Timer(delay, self._requeue, args=(event,))
                timer.daemon = True
                timer.start()
        except ServiceError as exc:
            log.warning(f"event {event.request_id}: {exc.message}")
        except Exception as exc:  # keep the queue alive; say what happened
            log.warning(f"event {event.request_id} failed: {exc!r}")
        finally:
            self._release(event.name)

    def _requeue(self, event: AsyncEvent) -> None:
        if self._closed.is_set():
            return
        with self._lock:
            self._state(event.name).queue.append(event)  # the same request id, as AWS retries
        self._pump()

    def _discard_queue(self, name: str, reason: str) -> None:
        with self._lock:
            state = self._state(name)
            events, state.queue = list(state.queue), deque()
            state.drops[reason] = state.drops.get(reason, 0) + len(events)

    def _record_drop(
        self, cfg: FunctionConfig, request_id: str, reason: str, payload: bytes
    ) -> None:
        """Count the drop and write a `dropped` marker into the function's log group."""
        chain = parent = None
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            ctx = json.loads(payload).get(CONTEXT_KEY)
            if isinstance(ctx, dict):
                chain = str(ctx["chain"]) if ctx.get("chain") else None
                parent = str(ctx["parent"]) if ctx.get("parent") else None
        with self._lock:
            drops = self._state(cfg.spec.name).drops
            drops[reason] = drops.get(reason, 0) + 1
        self.sink.put(
            cfg.spec.log_group,
            logsink.DROPS_STREAM,
            logsink.dropped_line(request_id, reason, chain, parent),
        )

    # housekeeping -------------------------------------------------------------------------
    def _reap_loop(self) -> None:
        while not self._closed.wait(1.0):
            try:
                self.reap()
            except Exception as exc:
                log.warning(f"reaper: {exc!r}")

    def reap(self) -> None:
        """Kill environments idle too long; drop queued events older than their max age."""
        now = time.monotonic()
        doomed: list[Environment] = []
        expired: list[tuple[FunctionConfig, AsyncEvent]] = []
        with self._lock:
            for state in self._states.values():
                keep = []
                for env in state.idle:
                    if not env.alive or now - env.last_used > self.limits.idle_timeout:
                        doomed.append(env)
                        state.envs.discard(env)
                    else:
                        keep.append(env)
                state.idle = keep
                cfg = state.config
                if cfg is not None and state.queue:
                    fresh = deque(e for e in state.queue if now - e.enqueued <= cfg.max_age)
                    expired += [(cfg, e) for e in state.queue if now - e.enqueued > cfg.max_age]
                    state.queue = fresh
        for env in doomed:
            env.kill()
        for cfg, event in expired:
            self._record_drop(cfg, event.request_id, "EventAgeExceeded", event.payload)
        self._pump()

    def status(self) -> dict[str, Any]:
        with self._lock:
            functions: list[dict[str, Any]] = []
            for state in sorted(self._states.values(), key=lambda s: s.name):
                cfg = state.config
                functions.append(
                    {
                        "name": state.name,
                        "runtime": cfg.spec.runtime if cfg else None,
                        "runtime_note": runtime_note(cfg.spec.runtime) if cfg else None,
                        "reserved_concurrency": cfg.reserved if cfg else None,
                        "recursive_loop": self.recursion.get(state.name, "Terminate"),
                        "environments": len(state.envs),
                        "busy": len(state.envs) - len(state.idle),
                        "idle": len(state.idle),
                        "queued": len(state.queue),
                        "active": state.active,
                        **state.counters,
                        "drops": dict(state.drops),
                    }
                )
            totals: dict[str, int] = {
                key: sum(int(f[key]) for f in functions)
                for key in ("invocations", "errors", "timeouts", "throttles", "environments")
            }
            totals["queued"] = sum(int(f["queued"]) for f in functions)
            totals["drops"] = sum(sum(f["drops"].values()) for f in functions)
            pids = [env.pid for s in self._states.values() for env in s.envs if env.pid]
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "uptime_s": round(time.time() - self.started, 1),
            "interpreter": f"python{sys.version_info[0]}.{sys.version_info[1]}",
            "limits": {
                "function_concurrency": self.limits.function_concurrency,
                "total_concurrency": self.limits.total_concurrency,
                "idle_timeout_s": self.limits.idle_timeout,
            },
            "totals": totals,
            "functions": functions,
            "worker_pids": pids,
        }

    def reset(self) -> None:
        """Forget everything (moto's state is being reset): kill workers, empty queues."""
        with self._lock:
            envs = [env for s in self._states.values() for env in s.envs]
            self._states.clear()
            self._configs.clear()
            self.recursion.clear()
            self._generation += 1
            self._active = 0
        for env in envs:
            env.kill()
        self.sink.reset()

    def close(self) -> None:
        """Stop: every worker is killed, nothing is left behind."""
        self._closed.set()
        self.reset()
        self._pool.shutdown(wait=False, cancel_futures=True)


def runtime_note(declared: str) -> str | None:
    """Say so when the function's declared runtime is not the interpreter that runs it."""
    local = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if not declared or declared == local:
        return None
    return f"declared runtime {declared}; the local cloud runs it with {local} ({sys.executable})"
