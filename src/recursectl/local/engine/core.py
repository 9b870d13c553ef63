"""The engine's shared state: per-function pools and counters, behind one lock.

`EngineCore` is the base the environment pool (`pool.py`), the async event queue
(`asyncq.py`) and the engine (`engine.py`) build on; it holds no behaviour of its own
beyond looking state up, releasing a concurrency slot and recording a drop.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recursectl import protocol
from recursectl.local.config import ConfigCache, FunctionConfig, Limits
from recursectl.local.engine.destinations import Deliveries
from recursectl.local.engine.faults import Faults
from recursectl.local.engine.metrics import LambdaMetrics
from recursectl.local.frontdoor.iam import Iam
from recursectl.local.motowire import Moto
from recursectl.local.store import Store
from recursectl.local.worker import logsink
from recursectl.local.worker.codestore import CodeStore
from recursectl.local.worker.logsink import LogSink
from recursectl.local.worker.spawn import Spawner

if TYPE_CHECKING:
    from recursectl.local.engine.asyncq import AsyncEvent
    from recursectl.local.engine.attempt import Attempt, Outcome
    from recursectl.local.worker.environment import Environment


@dataclass
class FunctionPool:
    """One function's environments, queue and counters (not `plan.FunctionState`)."""

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
    # Log streams of environments a timeout reset, by version: the next new environment of
    # that version writes on in it (AWS resets the environment and keeps its stream).
    reset_streams: dict[str, list[str]] = field(default_factory=dict)


class EngineCore:
    def __init__(
        self, moto: Moto, sink: LogSink, code: CodeStore, region: str, limits: Limits | None
    ) -> None:
        self.moto = moto
        self.sink = sink
        self.code = code
        self.region = region
        self.limits = limits or Limits()
        self.recursion: dict[str, str] = {}
        self.reserved: dict[str, int] = {}  # reserved concurrency by function (front door)
        self.logging: dict[str, dict[str, Any]] = {}  # LoggingConfig by function (moto drops it)
        self.dead_letters: dict[str, str] = {}  # DeadLetterConfig TargetArn (moto drops it)
        self.store: Store | None = None  # persistence (None: state lives in memory only)
        self.configs = ConfigCache(moto, region, self.logging, self.dead_letters)
        self.iam = Iam(moto, region)  # execution-role sessions and the checks on their calls
        # Destination and dead-letter deliveries: their own thread, never the hop's.
        self.deliveries = Deliveries(moto, self._invoke_destination)
        self.metrics = LambdaMetrics(moto, region)  # AWS/Lambda, off the hot path
        self.faults = Faults()  # one-shot duplicate / crash faults (control plane, tests)
        self._lock = threading.Lock()
        self._slot_free = threading.Condition(self._lock)  # a worker slot came free
        self._sync_roots: dict[str, int] = {}  # running sync invocations by trace Root
        self._waiting = 0  # sync invokes waiting for a worker of this machine
        self._states: dict[str, FunctionPool] = {}
        self._active = 0
        self._spawner = Spawner()
        self._pool = ThreadPoolExecutor(max_workers=256, thread_name_prefix="async")
        self._closed = threading.Event()

    @property
    def endpoint(self) -> str:
        return self.configs.endpoint

    @endpoint.setter
    def endpoint(self, value: str) -> None:
        self.configs.endpoint = value

    def _state(self, name: str) -> FunctionPool:
        # caller holds self._lock
        state = self._states.get(name)
        if state is None:
            state = self._states[name] = FunctionPool(name)
        return state

    def _limit(self, cfg: FunctionConfig) -> int:
        if cfg.reserved is not None:
            return cfg.reserved
        if self.limits.function_concurrency is not None:
            return self.limits.function_concurrency
        return self.limits.account_concurrency

    def config(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        raise NotImplementedError

    def _execute(self, cfg: FunctionConfig, inv: Attempt) -> Outcome:
        raise NotImplementedError

    def _pump(self) -> None:
        raise NotImplementedError

    def _invoke_destination(self, arn: str, payload: bytes) -> None:
        raise NotImplementedError

    def forget_function(self, name: str) -> None:
        """DeleteFunction: what the front door kept for it goes too (AWS resets them)."""
        with self._lock:
            self.recursion.pop(name, None)
            self.reserved.pop(name, None)
            self.logging.pop(name, None)
            self.dead_letters.pop(name, None)

    def _release(self, name: str) -> None:
        with self._lock:
            # clamped: a reset may have happened while this invocation ran
            state = self._state(name)
            state.active = max(0, state.active - 1)
            self._active = max(0, self._active - 1)
            self._slot_free.notify()
            waiting = any(s.queue for s in self._states.values())
        if waiting:
            self._pump()

    def _record_drop(
        self, cfg: FunctionConfig, request_id: str, reason: str, payload: bytes
    ) -> None:
        """Count the drop and write a `dropped` marker into the function's log group."""
        chain = parent = None
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            ctx = json.loads(payload).get(protocol.CONTEXT_KEY)
            if isinstance(ctx, dict):
                chain = str(ctx["chain"]) if ctx.get("chain") else None
                parent = str(ctx["parent"]) if ctx.get("parent") else None
        with self._lock:
            drops = self._state(cfg.spec.name).drops
            drops[reason] = drops.get(reason, 0) + 1
        if reason == "RecursiveInvocationException":
            self.metrics.recursion_dropped(cfg.spec.name)
        self.sink.put(
            cfg.spec.log_group,
            logsink.DROPS_STREAM,
            logsink.dropped_line(request_id, reason, chain, parent),
        )
