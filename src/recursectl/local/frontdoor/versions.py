"""What Lambda's control plane refuses and moto accepts: versions, aliases, tags, revisions,
the event-invoke configuration's update. Answered at the front door around moto.

- RevisionId: every function version has one (moto gives none); a write to `$LATEST`
  (create, code, configuration) makes a new one. A `RevisionId` that is not the current one on
  UpdateFunctionCode, UpdateFunctionConfiguration, PublishVersion or UpdateAlias is refused
  with 412 PreconditionFailedException (moto ignores it).
- PublishVersion while the function is Pending or InProgress: 409 ResourceConflictException
  (the CI failure of aws/aws-cli#6718); with a `CodeSha256` that is not `$LATEST`'s:
  InvalidParameterValueException.
- Alias names that are all digits (the model's pattern `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`: a
  version number is not an alias): ValidationException.
- Tags: only on the unqualified function ARN (a name, or a version or alias ARN, is refused).
- UpdateFunctionEventInvokeConfig: applied to the stored configuration (moto answers the new
  values and keeps the old ones), 404 when the function has none (moto creates one).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from recursectl.local import errors
from recursectl.local.engine.lineage import split_qualifier
from recursectl.local.frontdoor.controlplane import _body as body_of
from recursectl.local.frontdoor.controlplane import _refuse_during_update as refuse_during_update
from recursectl.local.frontdoor.controlplane import _rewrite as rewrite
from recursectl.local.frontdoor.logsapi import region_of
from recursectl.local.frontdoor.revisions import STALE, check_revision

if TYPE_CHECKING:
    from recursectl.local.frontdoor.http11 import Request
    from recursectl.local.frontdoor.server import FrontDoor
    from recursectl.local.motowire import Response

_ALIAS = re.compile(r"^(?!^[0-9]+$)([a-zA-Z0-9-_]+)$")
# botocore's TaggableResource pattern, as Lambda quotes it in the ValidationException.
_TAGGABLE = (
    r"arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
    r"(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|code-signing-config:csc-[a-z0-9]{17}"
    r"|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}|(capacity-provider|network-connector):[a-zA-Z0-9-_]{1,64})"
)
_TAGGABLE_RE = re.compile(_TAGGABLE)
_EVENT_INVOKE_FIELDS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")


def _latest(door: FrontDoor, request: Request, name: str) -> dict[str, Any]:
    code, conf = door.moto.aws(
        "lambda",
        "GET",
        f"/2015-03-31/functions/{name}/configuration",
        region=region_of(door, request),
    )
    if code >= 300 or not isinstance(conf, dict):
        raise errors.ResourceNotFound(f"Function not found: {door.engine.invoked_arn(name, None)}")
    return conf


def publish_version(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    name = split_qualifier(match["name"])[0]
    doc = body_of(request)
    refuse_during_update(door, name)  # Pending or InProgress: 409, as on AWS
    latest = _latest(door, request, name)
    check_revision(door, name, doc)
    wanted, current = doc.get("CodeSha256"), latest.get("CodeSha256")
    if wanted is not None and wanted != current:
        raise errors.InvalidParameterValue(
            f"CodeSHA256 ({wanted}) is different from current CodeSHA256 in $LATEST "
            f"({current}). Please try again with the CodeSHA256 in $LATEST."
        )
    response = door.lambda_write(request, path, query)
    if response[0] < 300:
        try:
            version = str(json.loads(response[2]).get("Version") or "")
        except ValueError:
            version = ""
        if version:
            door.revisions.renew(name, version)
    return rewrite(door, name, response, nested=False)


def create_alias(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    alias = body_of(request).get("Name")
    if isinstance(alias, str) and not _ALIAS.match(alias):
        raise errors.Validation(
            f"1 validation error detected: Value '{alias}' at 'name' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "(?!^[0-9]+$)([a-zA-Z0-9-_]+)"
        )
    return door.lambda_write(request, path, query)


def update_alias(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    given = body_of(request).get("RevisionId")
    if given is not None:
        code, alias = door.moto.aws("lambda", "GET", path, region=region_of(door, request))
        if code < 300 and isinstance(alias, dict) and alias.get("RevisionId") != given:
            raise errors.PreconditionFailed(STALE)
    return door.lambda_write(request, path, query)


def tags(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    arn = unquote(match["arn"])
    if not _TAGGABLE_RE.fullmatch(arn):
        raise errors.Validation(
            f"1 validation error detected: Value '{arn}' at 'resource' failed to satisfy "
            f"constraint: Member must satisfy regular expression pattern: {_TAGGABLE}"
        )
    if ":function:" in arn and split_qualifier(arn)[1] is not None:
        raise errors.InvalidParameterValue(
            "Tags on function aliases and versions are not supported. Please specify a "
            "function ARN."
        )
    if request.method == "GET":
        return door.moto_call(request, path, query)
    return door.lambda_write(request, path, query)


def update_event_invoke_config(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    """UpdateFunctionEventInvokeConfig: the given fields over the stored ones (moto answers
    the new values but keeps the first configuration, and creates one where none exists)."""
    region = region_of(door, request)
    code, stored = door.moto.aws("lambda", "GET", path, region=region, query=query)
    if code >= 300 or not isinstance(stored, dict):
        name, qualifier = split_qualifier(match["name"])
        for q in parse_qs(query).get("Qualifier", []):
            qualifier = q
        arn = door.engine.invoked_arn(name, qualifier)
        raise errors.ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")
    doc = body_of(request)
    merged = {k: stored[k] for k in _EVENT_INVOKE_FIELDS if k in stored}
    merged.update({k: doc[k] for k in _EVENT_INVOKE_FIELDS if k in doc})
    door.moto.aws("lambda", "DELETE", path, region=region, query=query)
    code, answer = door.moto.aws("lambda", "PUT", path, region=region, query=query, body=merged)
    door.engine.invalidate()
    if code >= 300:
        raise errors.InvalidParameterValue(str((answer or {}).get("message") or answer))
    return code, {"Content-Type": "application/json"}, json.dumps(answer).encode()
