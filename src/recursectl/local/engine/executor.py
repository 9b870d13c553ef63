"""The execution engine: Invoke as Lambda does it, on warm local workers.

Function configuration is read from moto over the wire protocol (and cached until the front
door sees a Lambda control-plane write); code comes from the CodeStore the front door fills.

The thread model is in the package docstring (`recursectl.local`).
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
import time
import uuid
from typing import Any

from recursectl.local import errors
from recursectl.local.config import FunctionConfig, Limits, runtime_note
from recursectl.local.engine.asyncq import AsyncEvent, AsyncQueue
from recursectl.local.engine.attempt import Attempt, Outcome
from recursectl.local.engine.lineage import (
    MAX_CHAIN,
    function_name,
    lineage_key,
    next_trace,
    split_qualifier,
)
from recursectl.local.engine.pool import EnvironmentPool
from recursectl.local.engine.slots import Slots
from recursectl.local.errors import ServiceError
from recursectl.local.motowire import ACCOUNT_ID, Moto, Response
from recursectl.local.worker import sandbox, spawn
from recursectl.local.worker.codestore import CodeStore
from recursectl.local.worker.logsink import LogSink

__all__ = ["Engine", "Limits", "function_name", "lineage_key"]

log = logging.getLogger(__name__)


def unqualified(arn: str) -> str:
    """A function's ARN without its version or alias (Lineage counts the function)."""
    return ":".join(arn.split(":")[:7])


SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024  # 6 MB, RequestResponse
ASYNC_PAYLOAD_LIMIT = 1024 * 1024  # 1 MB, Event (raised from 256 KB in 2025)
RESPONSE_LIMIT = 6291556  # bytes: the number in AWS's own ResponseSizeTooLarge message


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


class Engine(EnvironmentPool, AsyncQueue, Slots):
    """Invoke, queues, concurrency, recursion detection; owns every worker."""

    def __init__(
        self,
        moto: Moto,
        sink: LogSink,
        code: CodeStore,
        region: str = "us-east-1",
        limits: Limits | None = None,
        reap_orphans: bool = False,
    ) -> None:
        super().__init__(moto, sink, code, region, limits)
        self.started = time.time()
        self._reap_orphans = reap_orphans  # only where this process is a subreaper
        self._warned_runtimes: set[str] = set()
        self._reaper = threading.Thread(target=self._reap_loop, name="reaper", daemon=True)
        self._reaper.start()

    # configuration ------------------------------------------------------------------------
    def invalidate(self) -> None:
        """A Lambda control-plane write went through: re-read configuration, retire the
        environments of deleted or changed functions, re-pump queues."""
        self.configs.invalidate()
        self._pool.submit(self._after_write)

    def _after_write(self) -> None:
        self.retire_stale()
        self._pump()

    def config(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        cfg = self.configs.get(name, qualifier)
        if qualifier is None:
            with self._lock:
                self._state(name).config = cfg
        note = runtime_note(cfg.spec.runtime)
        if note and cfg.spec.name not in self._warned_runtimes:
            self._warned_runtimes.add(cfg.spec.name)
            log.warning("%s: %s", cfg.spec.name, note)
        return cfg

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
        client_context: str | None = None,
    ) -> Response:
        request_id = str(uuid.uuid4())
        try:
            return self._invoke(
                request_id,
                raw_name,
                qualifier,
                invocation_type,
                payload,
                trace_header,
                log_type,
                client_context,
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
        client_context: str | None = None,
    ) -> Response:
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise errors.InvalidParameterValue(f"Unsupported InvocationType: {invocation_type}")
        limit = ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
        if len(payload) > limit:
            raise errors.RequestTooLarge(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation",
            )
        name, written = split_qualifier(raw_name)
        if qualifier and written and qualifier != written:
            raise errors.InvalidParameterValue(
                "The derived qualifier from the function name does not match the specified "
                "qualifier."
            )
        qualifier = qualifier or written
        # `$LATEST` is the unqualified function: the same configuration and environments
        lookup = None if qualifier == "$LATEST" else qualifier
        cfg = self.config(name, lookup)
        invoked = self.invoked_arn(name, qualifier)
        if not payload.strip():
            payload = b"{}"  # Lambda hands an empty payload to the handler as {}
        else:
            try:
                json.loads(payload, parse_constant=_no_constant)  # strict: no NaN / Infinity
            except ValueError as exc:
                raise errors.InvalidRequestContent(
                    f"Could not parse request body into json: Could not parse payload into "
                    f"json: {exc}",
                ) from None
        headers = {"x-amzn-RequestId": request_id}
        if invocation_type == "DryRun":
            return 204, headers, b""
        trace, count = next_trace(trace_header, lineage_key(unqualified(cfg.spec.arn)))
        headers["X-Amzn-Trace-Id"] = trace
        if count > MAX_CHAIN and self.get_recursion(name) != "Allow":
            self._record_drop(cfg, request_id, "RecursiveInvocationException", payload)
            if invocation_type == "Event":
                # Lambda accepts the event, then stops it (it never runs) and sends it to
                # the OnFailure destination / dead-letter queue.
                event = AsyncEvent(name, lookup, request_id, payload, trace, invoked)
                self._ended(cfg, event, "RecursiveInvocationException")
                return 202, headers, b""
            raise errors.RecursiveInvocation(
                f"Lambda detected that this function ({cfg.spec.arn}) is part of a recursive "
                f"loop and stopped the invocation (more than {MAX_CHAIN} calls in one chain).",
            )
        if invocation_type == "Event":
            self._accept(AsyncEvent(name, lookup, request_id, payload, trace, invoked))
            return 202, headers, b""
        inv = Attempt(request_id, payload, trace, invoked)
        inv.client_context = client_context
        return self._invoke_sync(cfg, inv, log_type == "Tail", headers)

    def _invoke_sync(
        self,
        cfg: FunctionConfig,
        inv: Attempt,
        tail: bool,
        headers: dict[str, str],
    ) -> Response:
        name = cfg.spec.name
        root = inv.trace_id.split(";", 1)[0]
        self.acquire(cfg, root)
        try:
            outcome = self._execute(cfg, inv)
        finally:
            self.release_root(root)
            self._release(name)
        headers["X-Amz-Executed-Version"] = cfg.spec.version
        headers["Content-Type"] = "application/json"
        body = outcome.body
        if len(body) > RESPONSE_LIMIT:  # AWS: 200, Unhandled, this error object
            body = json.dumps(
                {
                    "errorMessage": "Response payload size exceeded maximum allowed payload "
                    f"size ({RESPONSE_LIMIT} bytes).",
                    "errorType": "Function.ResponseSizeTooLarge",
                }
            ).encode()
        if outcome.failed or body is not outcome.body:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if tail:
            tail_bytes = outcome.log_text.encode()[-4096:]
            headers["X-Amz-Log-Result"] = base64.b64encode(tail_bytes).decode()
        return 200, headers, body

    def _invoke_destination(self, arn: str, payload: bytes) -> None:
        """A Lambda destination: an Event invoke of it, as Lambda sends the record."""
        status, _, body = self.invoke(arn, None, "Event", payload, None)
        if status != 202:
            raise ValueError(f"Invoke answered {status}: {body[:200]!r}")

    def invoked_arn(self, name: str, qualifier: str | None) -> str:
        """The ARN as invoked (context.invoked_function_arn): with the alias or version named."""
        arn = f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}"
        return f"{arn}:{qualifier}" if qualifier else arn

    def _execute(self, cfg: FunctionConfig, inv: Attempt) -> Outcome:
        env = self._take_env(cfg)
        try:
            outcome = env.invoke(inv, float(cfg.spec.timeout))
        finally:
            self._give_back(env)
        if outcome.status == "init_timeout":  # init over 10 s: retried within the invoke
            env = self._take_env(cfg, init_retry_of=env)
            try:
                outcome = env.invoke(inv, float(cfg.spec.timeout))
            finally:
                self._give_back(env)
        with self._lock:
            state = self._state(cfg.spec.name)
            counters = state.counters
            counters["invocations"] += 1
            if outcome.init_ms is not None or outcome.status == "init_error":
                counters["cold_starts"] += 1
            if outcome.status == "timeout":
                counters["timeouts"] += 1
            elif outcome.failed:
                counters["errors"] += 1
            concurrent = (state.active, self._active)  # this one still holds its slot
        qualifier = split_qualifier(inv.arn)[1]
        self.metrics.invocation(
            cfg.spec.name,
            qualifier,
            cfg.spec.version,
            outcome.duration_ms,
            outcome.failed,
            concurrent,
        )
        return outcome

    # housekeeping -------------------------------------------------------------------------
    def _reap_loop(self) -> None:
        while not self._closed.wait(1.0):
            try:
                self.reap()
            except Exception as exc:
                log.warning("reaper: %r", exc)

    def reap(self) -> None:
        """Kill environments idle too long; drop queued events older than their max age;
        kill and reap handler processes orphaned to this (subreaper) process."""
        self.reap_idle()
        self.expire_events()
        if self._reap_orphans:
            killed = spawn.reap_orphans(self._spawner)
            if killed:
                log.info("killed %d process(es) a handler left behind", killed)
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
                "account_concurrency": self.limits.account_concurrency,
                "unreserved_concurrency": self.unreserved_limit(),
                "waiting_for_worker": self._waiting,
                "idle_timeout_s": self.limits.idle_timeout,
            },
            "totals": totals,
            "isolation": sandbox.summary(),
            "isolation_notes": sandbox.notes(),
            "destinations": self.deliveries.counts(),
            "functions": functions,
            "worker_pids": pids,
        }

    def reset(self) -> None:
        """Forget everything (moto's state is being reset): kill workers, empty queues."""
        with self._lock:
            envs = [env for s in self._states.values() for env in s.envs]
            self._states.clear()
            self.recursion.clear()
            self.reserved.clear()
            self.logging.clear()
            self.dead_letters.clear()
            self._sync_roots.clear()
            self._active = 0
            self._slot_free.notify_all()
        self.configs.clear()
        self.faults.reset()
        self.iam.reset()
        for env in envs:
            env.kill()
        self.sink.reset()
        self.metrics.reset()

    def close(self) -> None:
        """Stop: every worker is killed, nothing is left behind."""
        self._closed.set()
        self.reset()
        self.deliveries.close()
        self.metrics.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
