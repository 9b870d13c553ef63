"""The audit's rules: pure, one function per risk, facts -> findings (ranked).

Each finding names the function, the reason (with the numbers it is based on) and the one
command that fixes it. A rule whose input could not be read makes no finding: the part is
reported as unavailable instead (`FunctionFacts.unavailable`).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from recursectl.audit.facts import CONCURRENCY, EVENT_INVOKE, RECURSION, FunctionFacts
from recursectl.audit.policy import self_only_deny
from recursectl.names import RECURSION_ALLOW_FROM

SELF_ONLY_POLICY = "recursectl-invoke-only-self"
# IAM's quota for the inline policies of one role, in characters (whitespace not counted).
INLINE_POLICY_LIMIT = 10_240
SUGGESTED_CONCURRENCY = 10  # a ceiling on parallel copies of a runaway chain, not a tuning


class Severity(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: Severity
    function: str
    region: str
    title: str
    reason: str
    fix: str  # one command
    detail: str = ""  # the numbers behind it, short (the table's cell)
    cost_usd: float | None = None  # the function's estimated cost over the window

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity.label,
            "function": self.function,
            "region": self.region,
            "title": self.title,
            "detail": self.detail,
            "reason": self.reason,
            "fix": self.fix,
        }


def _aws(args: Sequence[str], flags: Sequence[str]) -> str:
    return shlex.join(["aws", *args, *flags])


def allow_unguarded(f: FunctionFacts, flags: Sequence[str], days: float) -> Finding | None:
    if not f.known(RECURSION) or f.recursion != "Allow" or f.guarded:
        return None
    return Finding(
        "allow-unguarded",
        Severity.HIGH,
        f.name,
        f.region,
        "loop detection off, no guard",
        "RecursiveLoop is Allow and recursectl's guard does not wrap the handler: a loop "
        "runs until someone stops it, billed per invocation. Terminate lets AWS cut it "
        f"after ~{RECURSION_ALLOW_FROM} calls (or deploy with the guard's cap).",
        _aws(
            [
                "lambda",
                "put-function-recursion-config",
                "--function-name",
                f.name,
                "--recursive-loop",
                "Terminate",
            ],
            flags,
        ),
        detail=f"Allow; handler {f.handler}",
    )


def cut_chains(f: FunctionFacts, flags: Sequence[str], days: float) -> Finding | None:
    if f.metrics is None or not f.grants or f.recursion != "Terminate":
        return None
    if f.metrics.dropped <= 0:
        return None
    cap = max(2 * RECURSION_ALLOW_FROM, f.max_calls or 0)
    return Finding(
        "chains-cut",
        Severity.MEDIUM,
        f.name,
        f.region,
        "recursion cut by AWS",
        f"AWS dropped {f.metrics.dropped:.0f} recursive invocations in {days:g} days "
        f"(RecursiveInvocationsDropped; loop detection is Terminate): chains deeper than "
        f"~{RECURSION_ALLOW_FROM} calls are cut. Raise the cap with recursectl's guard (it "
        "sets Allow behind a cap), or redesign the loop. Run in the function's project.",
        shlex.join(
            [
                "recursectl",
                "deploy",
                "--name",
                f.name,
                "--max-calls",
                str(cap),
                "--region",
                f.region,
            ]
        ),
        detail=f"{f.metrics.dropped:.0f} dropped in {days:g}d",
    )


def wildcard_invoke(f: FunctionFacts, flags: Sequence[str], days: float) -> Finding | None:
    wide = f.wildcard_grants
    if not wide:
        return None
    # `*`, or a NotResource: any function of the account, not a family of names
    anything = any(
        "*" in g.resource.split(",") or g.resource.startswith("NotResource:") for g in wide
    )
    role = f.role.rsplit("/", 1)[-1]
    sources = ", ".join(sorted({f"{g.source} ({g.resource})" for g in wide}))
    users = f.role_users or (f.arn,)
    document = json.dumps(self_only_deny(users), separators=(",", ":"))
    too_long = (
        f" The policy lists {2 * len(users)} ARNs, over IAM's {INLINE_POLICY_LIMIT:,} "
        "characters for a role's inline policies: give these functions roles of their own."
        if len(document) > INLINE_POLICY_LIMIT
        else ""
    )
    return Finding(
        "wildcard-invoke",
        Severity.HIGH if anything else Severity.MEDIUM,
        f.name,
        f.region,
        "wildcard lambda:InvokeFunction",
        f"Role {role} may invoke functions other than its own ({sources}): a loop can run "
        "through other functions, and a bug can invoke any of them. The fix denies "
        f"InvokeFunction on every function but {_those(len(users))} using the role (add "
        "any other function it must call)." + too_long,
        _aws(
            [
                "iam",
                "put-role-policy",
                "--role-name",
                role,
                "--policy-name",
                SELF_ONLY_POLICY,
                "--policy-document",
                document,
            ],
            _global(flags),
        ),
        detail=", ".join(sorted({g.resource for g in wide})),
    )


def _those(count: int) -> str:
    return "the one" if count == 1 else f"the {count}"


def _global(flags: Sequence[str]) -> list[str]:
    """IAM is global: the flags without --region."""
    out, skip = [], False
    for flag in flags:
        if skip:
            skip = False
            continue
        if flag == "--region":
            skip = True
            continue
        out.append(flag)
    return out


def async_retries(f: FunctionFacts, flags: Sequence[str], days: float) -> Finding | None:
    if not f.grants or not f.known(EVENT_INVOKE) or f.async_retries <= 0:
        return None
    how = "AWS's default" if f.retries is None else "MaximumRetryAttempts"
    return Finding(
        "async-retries",
        Severity.MEDIUM,
        f.name,
        f.region,
        "async retries on a self-invoker",
        f"The function may invoke itself and a failed async invocation is retried "
        f"{f.async_retries} times ({how}): each retry runs the hop again and forks the chain.",
        _aws(
            [
                "lambda",
                "put-function-event-invoke-config",
                "--function-name",
                f.name,
                "--maximum-retry-attempts",
                "0",
            ],
            flags,
        ),
        detail=f"{f.async_retries} retries" + (" (default)" if f.retries is None else ""),
    )


def no_reserved_concurrency(f: FunctionFacts, flags: Sequence[str], days: float) -> Finding | None:
    if not f.grants or f.guarded or not f.known(CONCURRENCY) or f.concurrency is not None:
        return None
    return Finding(
        "no-reserved-concurrency",
        Severity.LOW,
        f.name,
        f.region,
        "unguarded self-invoker, no concurrency cap",
        "The function may invoke itself, no guard caps its chains and no reserved concurrency "
        "bounds how many copies run at once: a fan-out can take the account's concurrency "
        f"(the fix reserves {SUGGESTED_CONCURRENCY}; 0 is the emergency stop).",
        _aws(
            [
                "lambda",
                "put-function-concurrency",
                "--function-name",
                f.name,
                "--reserved-concurrent-executions",
                str(SUGGESTED_CONCURRENCY),
            ],
            flags,
        ),
        detail="none reserved",
    )


Rule = Callable[[FunctionFacts, Sequence[str], float], "Finding | None"]
RULES: tuple[Rule, ...] = (
    allow_unguarded,
    wildcard_invoke,
    cut_chains,
    async_retries,
    no_reserved_concurrency,
)
KINDS = (
    "allow-unguarded",
    "wildcard-invoke",
    "chains-cut",
    "async-retries",
    "no-reserved-concurrency",
)


def findings(
    facts: Iterable[FunctionFacts], *, days: float, flags: Callable[[str], Sequence[str]]
) -> list[Finding]:
    """Every rule on every function, ranked: severity, then estimated cost, then kind and
    name. `flags(region)` gives the AWS CLI flags a fix command needs (--region, ...)."""
    out = []
    for f in facts:
        region_flags = flags(f.region)
        for rule in RULES:
            found = rule(f, region_flags, days)
            if found is not None:
                out.append(_with_cost(found, f.cost_usd))
    return rank(out)


def _with_cost(finding: Finding, cost: float | None) -> Finding:
    return replace(finding, cost_usd=cost)


def rank(found: Iterable[Finding]) -> list[Finding]:
    return sorted(
        found,
        key=lambda x: (
            -x.severity,
            -(x.cost_usd or 0.0),
            KINDS.index(x.kind),
            x.region,
            x.function,
        ),
    )
