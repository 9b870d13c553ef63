"""IAM identity-policy evaluation (pure): may these policy documents do `action` on `resource`?

AWS's rule for one principal's identity policies: an explicit Deny wins, else any Allow
grants, else the request is implicitly denied. `Action`/`NotAction` match case-insensitively,
`Resource`/`NotResource` case-sensitively; `*` matches any run of characters and `?` one.
Conditions are not evaluated: an Allow with a Condition grants nothing and a Deny with a
Condition applies, so a call that passes here also passes on AWS (the reverse may not hold).
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable
from typing import Any


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@functools.lru_cache(maxsize=4096)
def _pattern(text: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in text)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _listed(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str)]
    return []


def _matches(patterns: Any, value: str, ignore_case: bool) -> bool:
    return any(_pattern(p, ignore_case).match(value) for p in _listed(patterns))


def _applies(statement: dict[str, Any], action: str, resource: str) -> bool:
    if "Action" in statement:
        if not _matches(statement["Action"], action, True):
            return False
    elif "NotAction" in statement:
        if _matches(statement["NotAction"], action, True):
            return False
    else:
        return False
    if "Resource" in statement:
        return _matches(statement["Resource"], resource, False)
    if "NotResource" in statement:
        return not _matches(statement["NotResource"], resource, False)
    return False


def statements(documents: Iterable[Any]) -> list[dict[str, Any]]:
    """The statements of policy documents (a document's Statement: one object or a list)."""
    out: list[dict[str, Any]] = []
    for doc in documents:
        found = doc.get("Statement") if isinstance(doc, dict) else None
        for st in [found] if isinstance(found, dict) else (found or []):
            if isinstance(st, dict):
                out.append(st)
    return out


def evaluate(documents: Iterable[Any], action: str, resource: str) -> Decision:
    """The decision of identity policies `documents` (parsed JSON) for one request."""
    allowed = False
    for st in statements(documents):
        if not _applies(st, action, resource):
            continue
        effect = st.get("Effect")
        if effect == "Deny":
            return Decision.EXPLICIT_DENY
        if effect == "Allow" and "Condition" not in st:
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
