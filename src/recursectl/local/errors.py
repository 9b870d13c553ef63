"""AWS errors the local cloud answers, one class per AWS error name (boto3 models catch them).

The body is Lambda's REST-JSON error shape: `X-Amzn-ErrorType` names the error, the body
carries `Type` and `message` (plus fields such as `Reason` for throttles).
"""

from __future__ import annotations

import json

Response = tuple[int, dict[str, str], bytes]


class ServiceError(Exception):
    """An error answered to the caller with AWS's exception name."""

    status = 500
    kind = "ServiceException"

    def __init__(self, message: str, **extra: str) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def response(self, request_id: str | None = None) -> Response:
        headers = {"Content-Type": "application/json", "X-Amzn-ErrorType": self.kind}
        if request_id:
            headers["x-amzn-RequestId"] = request_id
        body = {"Type": "User", "message": self.message, **self.extra}
        return self.status, headers, json.dumps(body).encode()


class ServiceException(ServiceError):
    """The local cloud itself failed (AWS: an internal error of the Lambda service)."""


class NoCode(ServiceError):
    status = 502
    kind = "ServiceException"


class ResourceNotFound(ServiceError):
    status = 404
    kind = "ResourceNotFoundException"


class InvalidParameterValue(ServiceError):
    status = 400
    kind = "InvalidParameterValueException"


class InvalidRequestContent(ServiceError):
    status = 400
    kind = "InvalidRequestContentException"


class RequestTooLarge(ServiceError):
    status = 413
    kind = "RequestEntityTooLargeException"


class ResourceConflict(ServiceError):
    status = 409
    kind = "ResourceConflictException"


class PreconditionFailed(ServiceError):
    """A stale RevisionId."""

    status = 412
    kind = "PreconditionFailedException"


class Validation(ServiceError):
    """A value outside the API model's constraints (pattern, length)."""

    status = 400
    kind = "ValidationException"


class RecursiveInvocation(ServiceError):
    status = 400
    kind = "RecursiveInvocationException"


class TooManyRequests(ServiceError):
    status = 429
    kind = "TooManyRequestsException"


class MissingAuthenticationToken(ServiceError):
    """No SigV4 signature (AWS answers an unsigned request with this name and 403)."""

    status = 403
    kind = "MissingAuthenticationTokenException"


class AccessDenied(ServiceError):
    status = 403
    kind = "AccessDeniedException"


class UnrecognizedClient(ServiceError):
    """A session key with the wrong session token (AWS: 403, this name)."""

    status = 403
    kind = "UnrecognizedClientException"


class NotFound(ServiceError):
    """An unknown control endpoint."""

    status = 404
    kind = "NotFound"


class Conflict(ServiceError):
    status = 409
    kind = "Conflict"
