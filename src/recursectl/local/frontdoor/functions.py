"""Invoke, and the Lambda settings the front door serves itself rather than moto.

The recursion config (moto has none), PutFunctionEventInvokeConfig (moto keeps the first of
two), and every other Lambda call, passed to moto (a write invalidates the engine's cache).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote

from recursectl.local import errors
from recursectl.local.engine.executor import function_name
from recursectl.local.engine.lineage import split_qualifier
from recursectl.local.frontdoor import controlplane
from recursectl.local.motowire import Response

if TYPE_CHECKING:
    from recursectl.local.frontdoor.http11 import Request
    from recursectl.local.frontdoor.server import FrontDoor

_JSON = {"Content-Type": "application/json"}


def invoke(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    qualifiers = parse_qs(query).get("Qualifier") if query else None
    refused = controlplane.pending_refusal(door, function_name(match["name"]))
    if refused is not None:
        return refused
    headers = request.headers
    return door.engine.invoke(
        match["name"],
        qualifiers[0] if qualifiers else None,
        headers.get("x-amz-invocation-type", "RequestResponse"),
        request.body,
        headers.get("x-amzn-trace-id"),
        headers.get("x-amz-log-type"),
        client_context=headers.get("x-amz-client-context"),
    )


def recursion_config(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    name, qualifier = split_qualifier(match["name"])
    if qualifier is not None:
        # The API takes an unqualified name only (its FunctionName pattern has no
        # qualifier): the setting is the function's, never a version's or an alias's.
        return errors.InvalidParameterValue(
            f"The recursion configuration is set on the unqualified function only: "
            f"{unquote(match['name'])} names the qualifier {qualifier}"
        ).response()
    if request.method == "PUT":
        try:
            value = json.loads(request.body or b"{}").get("RecursiveLoop")
        except (ValueError, AttributeError):
            value = None
        if value not in ("Allow", "Terminate"):
            return errors.InvalidParameterValue(
                "RecursiveLoop must be Allow or Terminate"
            ).response()
        door.engine.config(name)  # ResourceNotFoundException: no such function
        door.engine.put_recursion(name, value)
    else:
        door.engine.config(name)
    value = door.engine.get_recursion(name)
    return 200, dict(_JSON), json.dumps({"RecursiveLoop": value}).encode()


def put_event_invoke_config(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    # PutFunctionEventInvokeConfig replaces the configuration; moto appends a second
    # one and keeps answering the first. Delete it first (404 if none).
    door.moto.call("DELETE", path, query, request.headers, b"")
    return door.lambda_write(request, path, query)


def other_lambda(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    if request.method == "GET":
        return door.moto_call(request, path, query)
    return door.lambda_write(request, path, query)
