"""botocore's exceptions -> recursectl's domain errors, with a hint. Used by the service modules
only: nothing outside `recursectl.aws` sees a botocore exception or compares an error code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import botocore.exceptions as bex
import urllib3.exceptions

from recursectl.errors import (
    EXIT_USAGE,
    AccessDeniedError,
    AlreadyExistsError,
    AwsError,
    ConflictError,
    LiveTailEnded,
    LiveTailUnavailable,
    NotFoundError,
    RecursectlError,
    ThrottledError,
    UnsupportedApiError,
)

if TYPE_CHECKING:
    from recursectl.aws.session import Target

T = TypeVar("T")

_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
}
_NOT_FOUND = {"ResourceNotFoundException", "NoSuchEntity", "NoSuchEntityException", "NoSuchBucket"}
_EXISTS = {
    "ResourceAlreadyExistsException",
    "EntityAlreadyExists",
    "BucketAlreadyExists",  # S3: another account's
    "BucketAlreadyOwnedByYou",  # S3 outside us-east-1: ours already
}
# Lambda's ResourceConflictException means "an update is in progress" as well as "exists".
_CONFLICT = {
    "ResourceConflictException",
    "DeleteConflict",
    "ConcurrentModification",
    "ResourceInUseException",
}
# What an endpoint answers for an operation it does not have: AWS's own unknown-operation
# codes, LocalStack's 501 InternalFailure, and a web framework's bare 404/405/501 (moto's
# server answers PutFunctionRecursionConfig with Flask's HTML 404 page: botocore then makes
# the status, "404", the code and the page the message).
_UNSUPPORTED = {"UnknownOperationException", "UnknownOperation", "NotImplemented", "InvalidAction"}
_UNSUPPORTED_STATUS = {404, 405, 501}
_THROTTLED = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}


def _endpoint_hint(target: Target | None) -> str:
    if target is not None and target.local:
        return "start the local cloud with `recursectl local start` (or check `local status`)"
    return "check --endpoint-url / AWS_ENDPOINT_URL and your network"


@contextmanager
def translate(action: str, resource: str, target: Target | None = None) -> Iterator[None]:
    """Turn botocore exceptions raised inside the block into AwsError (subclasses) with a hint.

    `action` (e.g. "lambda:CreateFunction") and `resource` name what was attempted, so an
    access-denied error says exactly which permission is missing.
    """
    try:
        yield
    except RecursectlError:
        raise
    except bex.NoCredentialsError:
        raise AwsError(
            "No AWS credentials found.",
            hint="run `aws configure`, pass --profile, or use --local for the embedded local cloud",
        ) from None
    except (bex.TokenRetrievalError, bex.SSOTokenLoadError, bex.UnauthorizedSSOTokenError):
        raise AwsError(
            "Your AWS SSO session has expired or is missing.",
            hint="run `aws sso login` (with --profile if you use one)",
        ) from None
    except bex.ProfileNotFound as exc:
        raise AwsError(str(exc), hint="list profiles with `aws configure list-profiles`") from None
    except (bex.EndpointConnectionError, bex.ConnectionClosedError, bex.ConnectTimeoutError) as e:
        url = getattr(e, "kwargs", {}).get("endpoint_url", "the AWS endpoint")
        raise AwsError(f"Cannot reach {url}.", hint=_endpoint_hint(target)) from None
    except bex.ReadTimeoutError:
        raise AwsError("AWS did not answer in time.", hint=_endpoint_hint(target)) from None
    except bex.ClientError as exc:
        raise from_client_error(exc, action, resource) from None
    except bex.ParamValidationError as exc:
        raise AwsError(f"Invalid request to {action}: {exc}", exit_code=EXIT_USAGE) from None
    except bex.BotoCoreError as exc:
        raise AwsError(f"{action} failed: {exc}") from None


def _unsupported(code: str, message: str, status: int) -> bool:
    if code in _UNSUPPORTED or (status == 501 and code in {"InternalFailure", "501"}):
        return True
    # No AWS error code, just the HTTP status and a web page (or nothing): no such route.
    # (A HEAD request's 404 also has the status as its code, but "Not Found" as its message.)
    page = message.lstrip().startswith("<") or message == code
    return status in _UNSUPPORTED_STATUS and code == str(status) and page


def from_client_error(exc: bex.ClientError, action: str, resource: str) -> AwsError:
    err = exc.response.get("Error", {})
    code = str(err.get("Code", "Unknown"))
    message = str(err.get("Message", "")).strip() or code
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if _unsupported(code, message, status):
        return UnsupportedApiError(action, code=code)
    if code in _EXPIRED:
        return AwsError(
            "Your AWS credentials have expired.",
            hint="refresh them (`aws sso login`, or new session credentials) and run again",
            code=code,
        )
    if code in _DENIED:
        return AccessDeniedError(
            f"Access denied: {action} on {resource}.",
            hint=f"grant {action} on {resource} to your identity, or use another --profile",
            code=code,
        )
    if code in _NOT_FOUND:
        return NotFoundError(f"Not found: {resource} ({message}).", code=code)
    if code in _EXISTS:
        return AlreadyExistsError(f"{action} failed: {resource} exists ({message}).", code=code)
    if code in _CONFLICT:
        return ConflictError(f"{action} failed: {code}: {message}", code=code)
    if code in _THROTTLED:
        return ThrottledError(
            f"AWS is throttling {action}: {message}",
            hint="wait a little and run again",
            code=code,
        )
    return AwsError(f"{action} failed: {code}: {message}", code=code)


def call(action: str, resource: str, fn: Callable[[], T], target: Target | None = None) -> T:
    """`fn()` with errors translated; shorthand for a one-call `translate` block."""
    with translate(action, resource, target):
        return fn()


@contextmanager
def live_tail_errors(resource: str, target: Target | None = None) -> Iterator[None]:
    """StartLiveTail refused -> LiveTailUnavailable (AWS's code kept), whatever the reason:
    the caller reads with FilterLogEvents instead, whose own errors then say what is wrong."""
    try:
        with translate("logs:StartLiveTail", resource, target):
            yield
    except AwsError as exc:
        raise LiveTailUnavailable(
            exc.message,
            hint=exc.hint,
            code=exc.code,
            group_missing=isinstance(exc, NotFoundError),
        ) from None


@contextmanager
def live_stream_errors(resource: str) -> Iterator[None]:
    """An open Live Tail stream failing or cut -> LiveTailEnded (`code`: the stream's exception
    type, SessionTimeoutException after 3 hours; "closed" for a lost connection)."""
    try:
        yield
    except bex.ClientError as exc:  # botocore's EventStreamError: an exception message
        code = str(exc.response.get("Error", {}).get("Code", "SessionStreamingException"))
        raise LiveTailEnded(f"Live Tail of {resource} ended: {code}", code=code) from None
    except (bex.BotoCoreError, urllib3.exceptions.HTTPError, OSError) as exc:
        # The stream is read from urllib3 directly: a cut connection is its ProtocolError,
        # a silent one its ReadTimeoutError (after the client's 70 s read timeout).
        raise LiveTailEnded(f"Live Tail of {resource} ended: {exc!r}", code="closed") from None
