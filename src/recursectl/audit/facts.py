"""What the scan learned about one function: the rules' only input (no AWS types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recursectl import pricing
from recursectl.audit.policy import Grant

# Lambda's metrics the audit reads (namespace AWS/Lambda, dimension FunctionName), summed.
METRICS = ("RecursiveInvocationsDropped", "Invocations", "Errors", "Throttles", "Duration")
DEFAULT_ASYNC_RETRIES = 2  # AWS's default MaximumRetryAttempts when none is configured

# The parts of the scan, named by the IAM action each needs (`unavailable` keys).
RECURSION = "lambda:GetFunctionRecursionConfig"
CONCURRENCY = "lambda:GetFunctionConcurrency"
EVENT_INVOKE = "lambda:GetFunctionEventInvokeConfig"
# The role's policies: ListRolePolicies, GetRolePolicy, ListAttachedRolePolicies, GetPolicy,
# GetPolicyVersion; the one refused is the key (any `iam:` key: the role was not read).
ROLE = "iam:"
METRIC_DATA = "cloudwatch:GetMetricData"


@dataclass(frozen=True)
class Metrics:
    """Sums over the window: counts, and Duration in milliseconds."""

    dropped: float = 0.0
    invocations: float = 0.0
    errors: float = 0.0
    throttles: float = 0.0
    duration_ms: float = 0.0

    @classmethod
    def from_sums(cls, sums: dict[str, float]) -> Metrics:
        return cls(
            dropped=sums.get("RecursiveInvocationsDropped", 0.0),
            invocations=sums.get("Invocations", 0.0),
            errors=sums.get("Errors", 0.0),
            throttles=sums.get("Throttles", 0.0),
            duration_ms=sums.get("Duration", 0.0),
        )


@dataclass(frozen=True)
class FunctionFacts:
    name: str
    arn: str
    region: str
    runtime: str
    architecture: str
    memory_mb: int
    role: str  # the execution role's ARN
    handler: str  # Lambda's Handler setting
    guarded: bool  # recursectl's guard is the Handler and wraps the user's handler
    user_handler: str
    max_calls: int | None  # the guard's depth cap (its RECURSECTL_MAX_CALLS)
    max_invocations: int | None  # the guard's chain budget
    dead_letter: str | None = None
    recursion: str | None = None  # Allow / Terminate; None: not read
    concurrency: int | None = None  # reserved; None: none reserved (or not read)
    retries: int | None = None  # MaximumRetryAttempts; None: no config (AWS: 2) or not read
    on_success: str | None = None
    on_failure: str | None = None
    grants: tuple[Grant, ...] = ()  # the role's lambda:InvokeFunction on this function
    role_users: tuple[str, ...] = ()  # ARNs of the scanned functions sharing this role
    metrics: Metrics | None = None  # None: not read
    unavailable: dict[str, str] = field(default_factory=dict)  # part -> why (AWS's message)

    def known(self, part: str) -> bool:
        if part == ROLE:
            return not any(k.startswith(ROLE) for k in self.unavailable)
        return part not in self.unavailable

    @property
    def self_invoker(self) -> bool | None:
        """The role may invoke this function; None when the role could not be read."""
        return bool(self.grants) if self.known(ROLE) else None

    @property
    def wildcard_grants(self) -> tuple[Grant, ...]:
        return tuple(g for g in self.grants if g.wildcard)

    @property
    def async_retries(self) -> int:
        return DEFAULT_ASYNC_RETRIES if self.retries is None else self.retries

    @property
    def gb_seconds(self) -> float:
        if self.metrics is None:
            return 0.0
        return self.metrics.duration_ms / 1000 * self.memory_mb / 1024

    @property
    def cost_usd(self) -> float | None:
        if self.metrics is None:
            return None
        return pricing.estimate_usd(
            self.gb_seconds, int(self.metrics.invocations), self.architecture
        )

    def as_json(self) -> dict[str, Any]:
        m = self.metrics
        return {
            "name": self.name,
            "arn": self.arn,
            "region": self.region,
            "runtime": self.runtime,
            "architecture": self.architecture,
            "memory_mb": self.memory_mb,
            "role": self.role,
            "recursion": self.recursion,
            "guard": {
                "wraps": self.guarded,
                "handler": self.handler,
                "user_handler": self.user_handler,
                "max_calls": self.max_calls,
                "max_invocations": self.max_invocations,
            },
            "self_invoke": self.self_invoker,
            "invoke_grants": [
                {"source": g.source, "resource": g.resource, "wildcard": g.wildcard}
                for g in self.grants
            ],
            "reserved_concurrency": self.concurrency if self.known(CONCURRENCY) else None,
            "async_retries": self.async_retries if self.known(EVENT_INVOKE) else None,
            "destinations": {"on_success": self.on_success, "on_failure": self.on_failure},
            "dead_letter": self.dead_letter,
            "metrics": None
            if m is None
            else {
                "RecursiveInvocationsDropped": m.dropped,
                "Invocations": m.invocations,
                "Errors": m.errors,
                "Throttles": m.throttles,
                "Duration_ms": m.duration_ms,
            },
            "cost_usd": self.cost_usd,
            "cost_basis": pricing.label(self.architecture),
            "unavailable": dict(self.unavailable),
        }
