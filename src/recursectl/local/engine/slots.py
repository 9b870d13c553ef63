"""Concurrency as AWS counts it, plus the one limit only this machine has.

AWS: an account limit (1,000 by default) shared by every function; reserved concurrency is
carved out of it (and caps its function), and at least 100 always stay unreserved. A sync
invoke over a limit is throttled at once (429 TooManyRequestsException with a Reason).

Local: each running invocation holds a worker process and this machine holds
`Limits.total_concurrency` of them (32 by default). AWS has no such limit, so an invocation
over it is not throttled: it waits for a worker, at most its function's timeout. A
synchronous chain holds one worker per waiting hop, so a sync invoke made from inside a
running sync invocation of the same chain (same trace Root) may go over the cap, up to twice
it; past that it waits too and, when the wait times out, answers a throttle that says why.
"""

from __future__ import annotations

import time

from recursectl.local import errors
from recursectl.local.config import FunctionConfig
from recursectl.local.engine.core import EngineCore

WAIT_NOTE = (
    "the local cloud has no free worker process (all {cap} are busy; `recursectl local serve "
    "--total-concurrency` raises the cap) and none came free within the function's timeout"
)


class Slots(EngineCore):
    def _aws_throttle(self, cfg: FunctionConfig) -> str | None:
        """AWS's own throttle reason for one more invocation of cfg (caller holds the lock)."""
        state = self._state(cfg.spec.name)
        if cfg.reserved is not None:
            if state.active >= cfg.reserved:
                return "ReservedFunctionConcurrentInvocationLimitExceeded"
            return None
        local_cap = self.limits.function_concurrency
        if local_cap is not None and state.active >= local_cap:
            return "ConcurrentInvocationLimitExceeded"
        unreserved = sum(s.active for s in self._states.values() if s.name not in self.reserved)
        if unreserved >= self.unreserved_limit():
            return "ConcurrentInvocationLimitExceeded"
        return None

    def unreserved_limit(self) -> int:
        # caller may hold the lock; reads only
        return self.limits.account_concurrency - sum(self.reserved.values())

    def check_reservation(self, name: str, value: int) -> None:
        """PutFunctionConcurrency: refuse what would leave fewer than 100 unreserved (AWS)."""
        with self._lock:
            others = sum(v for k, v in self.reserved.items() if k != name)
        minimum = self.limits.min_unreserved
        if self.limits.account_concurrency - others - value < minimum:
            raise errors.InvalidParameterValue(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{minimum}]."
            )

    def set_reservation(self, name: str, value: int | None) -> None:
        with self._lock:
            if value is None:
                self.reserved.pop(name, None)
            else:
                self.reserved[name] = value

    def acquire(self, cfg: FunctionConfig, root: str) -> None:
        """Take a concurrency slot for a sync invoke: throttle as AWS would, else wait for a
        worker of this machine (see the module docstring)."""
        name = cfg.spec.name
        deadline = time.monotonic() + float(cfg.spec.timeout)
        cap = self.limits.total_concurrency
        with self._slot_free:
            while True:
                reason = self._aws_throttle(cfg)
                if reason:
                    self._state(name).counters["throttles"] += 1
                    self.metrics.throttle(name)
                    raise errors.TooManyRequests("Rate Exceeded.", Reason=reason)
                nested = self._sync_roots.get(root, 0) > 0
                if self._active < cap or (nested and self._active < 2 * cap):
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    self._state(name).counters["throttles"] += 1
                    self.metrics.throttle(name)
                    raise errors.TooManyRequests(
                        f"Rate Exceeded. ({WAIT_NOTE.format(cap=cap)})",
                        Reason="ConcurrentInvocationLimitExceeded",
                    )
                self._waiting += 1
                try:
                    self._slot_free.wait(left)
                finally:
                    self._waiting -= 1
            self._state(name).active += 1
            self._active += 1
            self._sync_roots[root] = self._sync_roots.get(root, 0) + 1

    def release_root(self, root: str) -> None:
        with self._lock:
            left = self._sync_roots.get(root, 0) - 1
            if left > 0:
                self._sync_roots[root] = left
            else:
                self._sync_roots.pop(root, None)
