"""The AWS layer's error translation, and the boto3 boundary (the session, its retry loop and
its clients import boto3: tests/functional/aws/test_session.py)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from recursectl.aws.errors import call, translate
from recursectl.errors import (
    EXIT_AWS,
    EXIT_NOT_FOUND,
    AccessDeniedError,
    AlreadyExistsError,
    AwsError,
    ConflictError,
    NotFoundError,
    ThrottledError,
    UnsupportedApiError,
)


def _client_error(code: str, message: str = "nope") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "SomeOperation")


def _raise(exc: Exception) -> None:
    raise exc


@pytest.mark.parametrize(
    ("code", "fragment", "exit_code"),
    [
        ("ExpiredTokenException", "expired", EXIT_AWS),
        ("AccessDeniedException", "Access denied: lambda:CreateFunction on arn:fn", EXIT_AWS),
        ("ResourceNotFoundException", "Not found: arn:fn", EXIT_NOT_FOUND),
        ("ServiceException", "ServiceException: nope", EXIT_AWS),
    ],
)
def test_client_errors_are_translated(code: str, fragment: str, exit_code: int) -> None:
    with pytest.raises(AwsError) as info:
        call("lambda:CreateFunction", "arn:fn", lambda: _raise(_client_error(code)))
    assert fragment in info.value.message
    assert info.value.exit_code == exit_code
    assert info.value.code == code
    assert info.value.hint or code in {"ResourceNotFoundException", "ServiceException"}


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("ResourceNotFoundException", NotFoundError),
        ("NoSuchEntity", NotFoundError),
        ("ResourceAlreadyExistsException", AlreadyExistsError),
        ("EntityAlreadyExists", AlreadyExistsError),
        ("ResourceConflictException", ConflictError),
        ("DeleteConflict", ConflictError),
        ("ThrottlingException", ThrottledError),
        ("TooManyRequestsException", ThrottledError),
        ("AccessDeniedException", AccessDeniedError),
    ],
)
def test_client_errors_become_domain_errors(code: str, kind: type[AwsError]) -> None:
    with pytest.raises(kind) as info:
        call("logs:FilterLogEvents", "/aws/lambda/x", lambda: _raise(_client_error(code)))
    assert info.value.code == code  # kept for messages (and the poller's checks)


def _http_error(code: str, message: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "PutFunctionRecursionConfig",
    )


@pytest.mark.parametrize(
    ("code", "message", "status"),
    [
        # moto's server: Flask's HTML 404 page, botocore makes the status the code
        ("404", "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>", 404),
        # LocalStack: an API it does not emulate
        ("InternalFailure", "The API for service 'lambda' is not yet emulated", 501),
        ("501", "", 501),
        ("UnknownOperationException", "", 400),
    ],
)
def test_an_api_the_endpoint_lacks_is_named_in_one_line(
    code: str, message: str, status: int
) -> None:
    with pytest.raises(UnsupportedApiError) as info:
        call(
            "lambda:PutFunctionRecursionConfig",
            "fn",
            lambda: _raise(_http_error(code, message, status)),
        )
    assert info.value.api == "lambda:PutFunctionRecursionConfig"
    assert (
        info.value.message == "This endpoint does not implement lambda:PutFunctionRecursionConfig."
    )
    assert "<" not in info.value.message


@pytest.mark.parametrize(
    ("code", "message", "status"),
    [
        ("ResourceNotFoundException", "Function not found: fn", 404),
        ("404", "Not Found", 404),  # a HEAD request's missing object: not a missing API
        ("InternalFailure", "try again", 500),
    ],
)
def test_a_missing_resource_is_not_a_missing_api(code: str, message: str, status: int) -> None:
    with pytest.raises(AwsError) as info:
        call("lambda:GetFunction", "fn", lambda: _raise(_http_error(code, message, status)))
    assert not isinstance(info.value, UnsupportedApiError)


def test_access_denied_hint_names_the_permission() -> None:
    with pytest.raises(AwsError) as info, translate("iam:CreateRole", "role/x"):
        raise _client_error("AccessDenied")
    assert info.value.hint is not None
    assert "iam:CreateRole on role/x" in info.value.hint


def test_only_the_aws_package_talks_to_boto3() -> None:
    """No boto3/botocore import, client call or error translation outside recursectl.aws
    (the local cloud is standalone and speaks moto, not boto3 clients)."""
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[3] / "src" / "recursectl"
    forbidden = re.compile(
        r"import boto3|from boto3|import botocore|from botocore|translate\(|"
        r"\.lambda_(once)?\.|aws\.(iam|logs|sts)\."
    )
    offenders = [
        f"{path.relative_to(src)}:{n}: {line.strip()}"
        for path in sorted(src.rglob("*.py"))
        if path.relative_to(src).parts[0] not in ("aws", "local")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if forbidden.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []
