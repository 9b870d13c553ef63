"""FilterLogEvents at the front door: CloudWatch's filter-pattern syntax (`logfilter`) and
events interleaved across streams in timestamp order, as AWS answers them.

moto matches most patterns as "everything" and returns events grouped by stream unless
the deprecated `interleaved` flag is set; here moto only supplies the events (by group,
streams and time range), and this module filters, orders and pages them.
"""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any

from recursectl.local.frontdoor import validate
from recursectl.local.frontdoor.logfilter import PatternError, compile_pattern
from recursectl.local.motowire import Response

if TYPE_CHECKING:
    from recursectl.local.frontdoor.http11 import Request
    from recursectl.local.frontdoor.server import FrontDoor

TARGET = "Logs_20140328.FilterLogEvents"
PAGE = 10_000  # AWS's largest (and default) page
_JSON = {"Content-Type": "application/x-amz-json-1.1"}
_REGION = re.compile(r"Credential=[^/]+/\d+/(?P<region>[^/]+)/")


def group_arn(body: bytes, region: str, account: str) -> str:
    """The log group a FilterLogEvents request reads, as IAM names it (`...:log-group:NAME:*`)."""
    try:
        doc = json.loads(body or b"{}")
        name = str(doc.get("logGroupName") or doc.get("logGroupIdentifier") or "")
    except (ValueError, AttributeError):
        name = ""
    return iam_group_arn(name, region, account)


def iam_group_arn(ident: str, region: str, account: str) -> str:
    """A log group's name or ARN as IAM's resource for it (`...:log-group:NAME:*`)."""
    if ident.startswith("arn:"):
        return ident if ident.endswith(":*") else f"{ident}:*"
    return f"arn:aws:logs:{region}:{account}:log-group:{ident}:*"


def error(kind: str, message: str, status: int = 400) -> Response:
    body = {"__type": kind, "message": message}
    return status, dict(_JSON), json.dumps(body).encode()


def _all_events(door: FrontDoor, region: str, query: dict[str, Any]) -> Response | list[Any]:
    events: list[Any] = []
    token = None
    while True:
        body = {**query, "limit": PAGE, "interleaved": True}
        if token:
            body["nextToken"] = token
        code, page = door.moto.aws("logs", "POST", "/", region=region, body=body, target=TARGET)
        if code != 200 or not isinstance(page, dict):
            message = (page or {}).get("message", "FilterLogEvents failed")
            kind = str((page or {}).get("__type", "ResourceNotFoundException")).split("#")[-1]
            return error(kind, str(message), code)
        events += page.get("events") or []
        token = page.get("nextToken")
        if not token or not page.get("events"):
            return events


def region_of(door: FrontDoor, request: Request) -> str:
    """The region of a request's SigV4 credential scope (else the local cloud's)."""
    scope = _REGION.search(request.headers.get("authorization", ""))
    return scope["region"] if scope else door.engine.region


def filter_log_events(door: FrontDoor, request: Request) -> Response:
    region = region_of(door, request)
    try:
        doc = json.loads(request.body or b"{}")
        assert isinstance(doc, dict)
    except (ValueError, AssertionError):
        return error("InvalidParameterException", "the request body is not a JSON object")
    try:
        validate.check("logs", "FilterLogEvents", doc, "InvalidParameterException")
    except validate.Invalid as exc:
        return error(exc.kind, exc.message)
    try:
        matches = compile_pattern(doc.get("filterPattern"))
    except PatternError as exc:
        return error("InvalidParameterException", f"Invalid filter pattern: {exc}")
    query = {
        k: doc[k]
        for k in (
            "logGroupName",
            "logGroupIdentifier",
            "logStreamNames",
            "logStreamNamePrefix",
            "startTime",
            "endTime",
        )
        if k in doc
    }
    events = _all_events(door, region, query)
    if not isinstance(events, list):
        return events
    events.sort(key=lambda e: (e.get("timestamp", 0), e.get("ingestionTime", 0)))  # stable
    matched = [e for e in events if matches(str(e.get("message", "")))]
    offset = _offset(doc.get("nextToken"))
    limit = int(doc.get("limit") or PAGE)
    page = matched[offset : offset + limit]
    answer: dict[str, Any] = {"events": page, "searchedLogStreams": []}
    if offset + limit < len(matched):
        answer["nextToken"] = base64.urlsafe_b64encode(f"o:{offset + limit}".encode()).decode()
    return 200, dict(_JSON), json.dumps(answer).encode()


def _offset(token: object) -> int:
    if not isinstance(token, str) or not token:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(token).decode().removeprefix("o:")))
    except ValueError:
        return 0
