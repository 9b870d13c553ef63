"""Which IAM action and resource a Lambda API request is (the route table of botocore's model).

The front door serves Invoke without moto, and moto's own access check breaks on Lambda's
body-less requests (it signs its form data instead of the empty body: SignatureDoesNotMatch),
so Lambda calls made with execution-role credentials are authorized here: the operation is
found from the request's method and path in botocore's bundled Lambda model, the resource is
the function's ARN (with the qualifier, as AWS checks it) when the path names a function.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import parse_qs

from recursectl.local.engine.lineage import split_qualifier

# Operations whose IAM action has another name (AWS's "Actions defined by AWS Lambda").
_ACTION = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction"}
_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<FunctionName>[^/]+)/invocations/?$")

Row = tuple[str, re.Pattern[str], str]


def _regex(uri: str) -> tuple[re.Pattern[str], int]:
    """`/2015-03-31/functions/{FunctionName}/code` -> a regex, and its literal length."""
    out, literal = [], 0
    for part in re.split(r"(\{[^}]+\})", uri.split("?", 1)[0].rstrip("/")):
        if part.startswith("{"):
            out.append(f"(?P<{part.strip('{}+')}>[^/]+)")
        else:
            out.append(re.escape(part))
            literal += len(part)
    return re.compile("^" + "".join(out) + "/?$"), literal


@functools.cache
def _table() -> tuple[Row, ...]:
    from botocore.loaders import Loader  # moto's dependency; loaded once, on first use

    model = Loader().load_service_model("lambda", "service-2")
    rows: list[tuple[int, Row]] = []
    for name, op in model["operations"].items():
        pattern, literal = _regex(op["http"]["requestUri"])
        rows.append((literal, (op["http"]["method"], pattern, _ACTION.get(name, name))))
    rows.sort(key=lambda item: -item[0])  # the most specific path first
    return tuple(row for _, row in rows)


def function_arn(region: str, account: str, raw: str, qualifier: str | None) -> str:
    """The ARN a policy is checked against: qualified when the call names a version/alias."""
    name, written = split_qualifier(raw)
    qualifier = qualifier or written
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def action_of(
    method: str, path: str, query: str, region: str, account: str
) -> tuple[str, str] | None:
    """("lambda:Action", resource ARN or "*") of a Lambda request; None: no such operation."""
    match = _INVOKE.match(path)  # the hot path (every hop), before the table
    action = "InvokeFunction" if match else None
    if match is None:
        for want, pattern, name in _table():
            if want == method:
                match = pattern.match(path)
                if match:
                    action = name
                    break
    if match is None or action is None:
        return None
    raw = match.groupdict().get("FunctionName")
    if not raw:
        return f"lambda:{action}", "*"
    qualifiers = parse_qs(query).get("Qualifier") if query else None
    resource = function_arn(region, account, raw, qualifiers[0] if qualifiers else None)
    return f"lambda:{action}", resource
