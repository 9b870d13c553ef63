"""Lambda control-plane behaviour moto lacks, answered at the front door around moto.

- Function states: `Pending` for `Limits.state_delay` seconds after CreateFunction and
  `LastUpdateStatus: InProgress` after an update (AWS: about a second). Invoke of a Pending
  function and a second update during InProgress get AWS's ResourceConflictException.
- LoggingConfig (moto drops it): stored here, returned by the reads, applied by the engine.
- Reserved environment variable keys are refused at create and update, as on AWS.
- Reserved concurrency counts against the account limit (at least 100 stay unreserved);
  GetAccountSettings answers; GetFunction shows a reserved concurrency of 0.
- DeadLetterConfig (moto drops it): stored here, returned by the reads, used by the engine.
- DeleteFunction forgets what the front door keeps (recursion config, reservation, logging,
  dead-letter queue, revisions).
- Environment variable keys must match the model's `[a-zA-Z]([a-zA-Z0-9_])+`.
- RevisionId (`revisions`): returned with each configuration, checked on updates.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from recursectl.local import errors
from recursectl.local.engine.lineage import split_qualifier
from recursectl.local.frontdoor.revisions import check_revision
from recursectl.local.motowire import Response

if TYPE_CHECKING:
    from recursectl.local.frontdoor.http11 import Request
    from recursectl.local.frontdoor.server import FrontDoor

# Lambda refuses these keys in Environment.Variables (the runtime sets them).
RESERVED_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
# botocore's EnvironmentVariableName pattern: a letter, then at least one more character.
_ENV_KEY = re.compile(r"[a-zA-Z]([a-zA-Z0-9_])+")
_JSON = {"Content-Type": "application/json"}


class FunctionStates:
    """Pending / InProgress deadlines by function name (monotonic seconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, tuple[str, float]] = {}

    def start(self, name: str, kind: str, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._until[name] = (kind, time.monotonic() + seconds)

    def current(self, name: str) -> str | None:
        """ "Pending", "InProgress" or None (settled)."""
        with self._lock:
            entry = self._until.get(name)
            if entry is None:
                return None
            if time.monotonic() >= entry[1]:
                del self._until[name]
                return None
            return entry[0]

    def forget(self, name: str) -> None:
        with self._lock:
            self._until.pop(name, None)

    def clear(self) -> None:
        with self._lock:
            self._until.clear()


def pending_refusal(door: FrontDoor, name: str) -> Response | None:
    """Invoke of a function still Pending: AWS's ResourceConflictException."""
    if door.states.current(name) == "Pending":
        return errors.ResourceConflict(
            "The operation cannot be performed at this time. The function is currently in "
            "the following state: Pending"
        ).response()
    return None


def _body(request: Request) -> dict[str, Any]:
    try:
        doc = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _check_env(doc: dict[str, Any]) -> None:
    variables = (doc.get("Environment") or {}).get("Variables") or {}
    if any(not _ENV_KEY.fullmatch(str(k)) for k in variables):
        # The values are sensitive in the model: AWS's message names the member, not the value.
        raise errors.Validation(
            "1 validation error detected: Value at 'environment.variables' failed to satisfy "
            "constraint: Map keys must satisfy constraint: [Member must satisfy regular "
            "expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
        )
    used = sorted(k for k in variables if k in RESERVED_KEYS)
    if used:
        raise errors.InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided contains reserved keys that are currently not "
            f"supported for modification. Reserved keys used in this request: {','.join(used)}"
        )


def _check_logging(doc: dict[str, Any]) -> dict[str, Any] | None:
    config = doc.get("LoggingConfig")
    if config is None:
        return None
    if not isinstance(config, dict):
        raise errors.InvalidParameterValue("LoggingConfig must be an object")
    fmt = config.get("LogFormat", "Text")
    if fmt not in ("Text", "JSON"):
        raise errors.InvalidParameterValue("LogFormat must be Text or JSON")
    if fmt == "Text" and ("ApplicationLogLevel" in config or "SystemLogLevel" in config):
        # AWS: log levels apply only to the JSON format.
        raise errors.InvalidParameterValue(
            "To set ApplicationLogLevel or SystemLogLevel, LogFormat must be JSON."
        )
    return config


def _keep_dead_letter(door: FrontDoor, name: str, doc: dict[str, Any]) -> None:
    """Keep DeadLetterConfig.TargetArn (an empty one removes it, as on AWS)."""
    config = doc.get("DeadLetterConfig")
    if not isinstance(config, dict):
        return
    target = config.get("TargetArn")
    if isinstance(target, str) and target:
        door.engine.dead_letters[name] = target
    else:
        door.engine.dead_letters.pop(name, None)


def _stored_logging(door: FrontDoor, name: str, config: dict[str, Any]) -> dict[str, Any]:
    merged = {**door.engine.logging.get(name, {}), **config}
    full: dict[str, Any] = {
        "LogFormat": merged.get("LogFormat", "Text"),
        "LogGroup": merged.get("LogGroup") or f"/aws/lambda/{name}",
    }
    if full["LogFormat"] == "JSON":
        full["ApplicationLogLevel"] = merged.get("ApplicationLogLevel", "INFO")
        full["SystemLogLevel"] = merged.get("SystemLogLevel", "INFO")
    return full


def _decorate(door: FrontDoor, name: str, conf: dict[str, Any]) -> None:
    """What moto leaves out of a function configuration: state, logging config."""
    conf["LoggingConfig"] = _stored_logging(door, name, {})
    conf["RevisionId"] = door.revisions.current(name, str(conf.get("Version") or "$LATEST"))
    target = door.engine.dead_letters.get(name)
    if target:
        conf["DeadLetterConfig"] = {"TargetArn": target}
    state = door.states.current(name)
    if state == "Pending":
        conf.update(State="Pending", StateReason="The function is being created.")
        conf["StateReasonCode"] = "Creating"
    elif state == "InProgress":
        conf.update(LastUpdateStatus="InProgress", LastUpdateStatusReasonCode="Updating")
        conf["LastUpdateStatusReason"] = "The function is being updated."


def _rewrite(door: FrontDoor, name: str, response: Response, nested: bool) -> Response:
    status, headers, body = response
    if status >= 300:
        return response
    try:
        doc = json.loads(body)
    except ValueError:
        return response
    conf = doc.get("Configuration") if nested else doc
    if isinstance(conf, dict):
        _decorate(door, name, conf)
    if nested and isinstance(conf, dict) and isinstance(doc.get("Code"), dict):
        where = door.code_location(str(conf.get("CodeSha256") or ""))
        if where:  # moto's Location is an S3 URL that leads nowhere
            doc["Code"] = {"RepositoryType": "S3", "Location": where}
    if nested and "Concurrency" not in doc and name in door.engine.reserved:
        doc["Concurrency"] = {"ReservedConcurrentExecutions": door.engine.reserved[name]}
    headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
    return status, headers, json.dumps(doc).encode()


def _refuse_during_update(door: FrontDoor, name: str) -> None:
    if door.states.current(name) is not None:
        arn = door.engine.invoked_arn(name, None)
        raise errors.ResourceConflict(
            "The operation cannot be performed at this time. An update is in progress for "
            f"resource: {arn}"
        )


def create_function(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    doc = _body(request)
    _check_env(doc)
    logging_config = _check_logging(doc) or {}
    door.capture_code(request.body, create=True)
    response = door.lambda_write(request, path, query)
    name = str(doc.get("FunctionName") or "")
    if response[0] < 300 and name:
        name = split_qualifier(name)[0]
        door.revisions.renew(name)
        door.engine.logging[name] = _stored_logging(door, name, logging_config)
        _keep_dead_letter(door, name, doc)
        door.states.start(name, "Pending", door.engine.limits.state_delay)
        door.engine.invalidate()
    return _rewrite(door, name, response, nested=False)


def update_code(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    name = split_qualifier(match["name"])[0]
    _refuse_during_update(door, name)
    check_revision(door, name, _body(request))
    door.capture_code(request.body, create=False)
    response = door.lambda_write(request, path, query)
    if response[0] < 300:
        door.revisions.renew(name)
        door.states.start(name, "InProgress", door.engine.limits.state_delay)
    return _rewrite(door, name, response, nested=False)


def update_configuration(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    name = split_qualifier(match["name"])[0]
    doc = _body(request)
    _refuse_during_update(door, name)
    check_revision(door, name, doc)
    _check_env(doc)
    logging_config = _check_logging(doc)
    response = door.lambda_write(request, path, query)
    if response[0] < 300:
        door.revisions.renew(name)
        _keep_dead_letter(door, name, doc)
        if logging_config is not None:
            door.engine.logging[name] = _stored_logging(door, name, logging_config)
        if logging_config is not None or "DeadLetterConfig" in doc:
            door.engine.invalidate()
        door.states.start(name, "InProgress", door.engine.limits.state_delay)
    return _rewrite(door, name, response, nested=False)


def get_configuration(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    name = split_qualifier(match["name"])[0]
    return _rewrite(door, name, door.moto_call(request, path, query), nested=False)


def function(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    name, qualifier = split_qualifier(match["name"])
    if request.method == "GET":
        return _rewrite(door, name, door.moto_call(request, path, query), nested=True)
    response = door.lambda_write(request, path, query)
    if (
        request.method == "DELETE"
        and response[0] < 300
        and not qualifier
        and ("Qualifier=" not in query)
    ):
        door.engine.forget_function(name)
        door.states.forget(name)
        door.revisions.forget(name)
    return response


def concurrency(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    name = split_qualifier(match["name"])[0]
    value: int | None = None
    if request.method == "PUT":
        raw = _body(request).get("ReservedConcurrentExecutions")
        if isinstance(raw, int):
            value = raw
            door.engine.check_reservation(name, value)
    response = door.lambda_write(request, path, query)
    if response[0] < 300 and request.method in ("PUT", "DELETE"):
        door.engine.set_reservation(name, value)
    return response


def account_settings(
    door: FrontDoor, match: re.Match[str], request: Request, path: str, query: str
) -> Response:
    engine = door.engine
    code, listed = door.moto.aws("lambda", "GET", "/2015-03-31/functions/", region=engine.region)
    count = len((listed or {}).get("Functions") or []) if code == 200 else 0
    settings = {
        "AccountLimit": {
            "TotalCodeSize": 80530636800,  # 75 GB
            "CodeSizeUnzipped": 262144000,  # 250 MB
            "CodeSizeZipped": 52428800,  # 50 MB
            "ConcurrentExecutions": engine.limits.account_concurrency,
            "UnreservedConcurrentExecutions": engine.unreserved_limit(),
        },
        "AccountUsage": {"TotalCodeSize": engine.code.total_size(), "FunctionCount": count},
    }
    return 200, dict(_JSON), json.dumps(settings).encode()
