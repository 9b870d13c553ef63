"""Pure IAM evaluation, just enough for the audit: may a role invoke a given function, and
does its permission reach functions other than that one?

Statements are read as IAM reads them: Action/NotAction and Resource/NotResource with `*`
and `?` wildcards (actions case-insensitive, ARNs case-sensitive), an explicit Deny winning
over any Allow. A statement with a Condition is taken as applying (an Allow that may not
apply is still a permission the role can have; a conditional Deny is not counted on).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

INVOKE = "lambda:InvokeFunction"
# A name no real function has, put where a wildcard is: if the grant still matches, it reaches
# a function other than the one being audited.
PROBE = "recursectl-audit-probe"


@dataclass(frozen=True)
class Grant:
    """One Allow of lambda:InvokeFunction that reaches the function."""

    source: str  # `inline:NAME` or the managed policy's ARN
    resource: str  # the Resource pattern (or `NotResource:PATTERN,...`)
    wildcard: bool  # reaches functions other than this one (and no Deny takes that back)


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE if ignore_case else 0)


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def _list(raw: Any) -> list[str]:
    if raw is None:
        return []
    return [str(x) for x in raw] if isinstance(raw, list) else [str(raw)]


def statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    raw = document.get("Statement", [])
    items = raw if isinstance(raw, list) else [raw]
    return [s for s in items if isinstance(s, dict)]


def _action_applies(stmt: dict[str, Any], action: str) -> bool:
    if "NotAction" in stmt:
        return not any(matches(p, action, ignore_case=True) for p in _list(stmt["NotAction"]))
    return any(matches(p, action, ignore_case=True) for p in _list(stmt.get("Action")))


def _resource_applies(stmt: dict[str, Any], arn: str) -> bool:
    if "NotResource" in stmt:
        return not any(matches(p, arn) for p in _list(stmt["NotResource"]))
    return any(matches(p, arn) for p in _list(stmt.get("Resource")))


def _covers_function(arn: str, function_arn: str) -> bool:
    """The ARN is the function's, unqualified or with a version/alias."""
    return arn == function_arn or arn.startswith(function_arn + ":")


def probes(pattern: str, function_arn: str) -> list[str]:
    """ARNs of other functions that `pattern` matches, made by filling its wildcards (none
    for a pattern without one: naming another function is a choice, not a wildcard)."""
    if "*" not in pattern and "?" not in pattern:
        return []
    out = []
    for filler in (PROBE, "x"):
        probe = pattern.replace("*", filler).replace("?", "x")
        if not _covers_function(probe, function_arn):
            out.append(probe)
    if pattern == "*" or pattern.endswith(":*"):
        # `arn:aws:lambda:REGION:ACCOUNT:*` or a qualifier wildcard on a name wildcard
        out.append(function_arn.rsplit(":function:", 1)[0] + f":function:{PROBE}")
    return [p for p in out if not _covers_function(p, function_arn)]


def _denied(denies: Sequence[dict[str, Any]], arn: str) -> bool:
    return any(
        "Condition" not in s and _action_applies(s, INVOKE) and _resource_applies(s, arn)
        for s in denies
    )


def _others(stmt: dict[str, Any], function_arn: str) -> list[str]:
    if "NotResource" in stmt:
        probe = function_arn.rsplit(":function:", 1)[0] + f":function:{PROBE}"
        return [probe] if _resource_applies(stmt, probe) else []
    found: list[str] = []
    for pattern in _list(stmt.get("Resource")):
        found += [p for p in probes(pattern, function_arn) if matches(pattern, p)]
    return found


def invoke_grants(documents: Iterable[tuple[str, Any]], function_arn: str) -> list[Grant]:
    """The Allows of lambda:InvokeFunction on `function_arn` in the role's documents, each
    marked when it reaches other functions too; empty when none (or a Deny) lets it."""
    allows: list[tuple[str, dict[str, Any]]] = []
    denies: list[dict[str, Any]] = []
    for source, document in documents:
        for stmt in statements(document):
            if not _action_applies(stmt, INVOKE):
                continue
            if stmt.get("Effect") == "Deny":
                denies.append(stmt)
            elif stmt.get("Effect") == "Allow":
                allows.append((source, stmt))
    if _denied(denies, function_arn):
        return []
    grants = []
    for source, stmt in allows:
        if not _resource_applies(stmt, function_arn):
            continue
        others = [p for p in _others(stmt, function_arn) if not _denied(denies, p)]
        if "NotResource" in stmt:
            resource = "NotResource:" + ",".join(_list(stmt["NotResource"]))
        else:
            resource = ",".join(p for p in _list(stmt.get("Resource")) if matches(p, function_arn))
        grants.append(Grant(source=source, resource=resource, wildcard=bool(others)))
    return grants


def self_only_deny(arns: Sequence[str]) -> dict[str, Any]:
    """An inline policy that takes back lambda:InvokeFunction on everything but `arns`
    (each unqualified and with any version or alias)."""
    resources = sorted({a for arn in arns for a in (arn, f"{arn}:*")})
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokeOnlySelf",
                "Effect": "Deny",
                "Action": INVOKE,
                "NotResource": resources,
            }
        ],
    }
