from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from recursectl.aws import Aws, Target
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


def test_access_denied_hint_names_the_permission() -> None:
    with pytest.raises(AwsError) as info, translate("iam:CreateRole", "role/x"):
        raise _client_error("AccessDenied")
    assert info.value.hint is not None
    assert "iam:CreateRole on role/x" in info.value.hint


def test_unreachable_endpoint_hint_depends_on_target() -> None:
    exc = EndpointConnectionError(endpoint_url="http://127.0.0.1:4599/")
    with pytest.raises(AwsError) as info, translate("x", "y", Target(local=True)):
        raise exc
    assert "recursectl local start" in (info.value.hint or "")
    with pytest.raises(AwsError) as info, translate("x", "y", Target()):
        raise exc
    assert "--endpoint-url" in (info.value.hint or "")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_retry_until_success_on_a_dense_schedule() -> None:
    clock = _Clock()
    aws = Aws(Target(region="us-east-1"), sleep=clock.sleep, clock=clock)
    attempts = iter(range(100))
    seen: list[float] = []

    def flaky() -> str:
        if next(attempts) < 4:
            raise AwsError("role not ready", code="InvalidParameterValueException")
        return "done"

    result = aws.retry(
        flaky,
        retry_if=lambda e: e.code == "InvalidParameterValueException",
        deadline_s=120,
        on_retry=lambda e, t: seen.append(t),
    )
    assert result == "done"
    assert clock.sleeps == [0.5, 1.0, 1.0, 2.0]
    assert seen == [0.0, 0.5, 1.5, 2.5]


def test_retry_gives_up_at_the_deadline_and_on_other_errors() -> None:
    clock = _Clock()
    aws = Aws(Target(region="us-east-1"), sleep=clock.sleep, clock=clock)

    def never() -> None:
        raise AwsError("still not ready", code="InvalidParameterValueException")

    with pytest.raises(AwsError, match="still not ready"):
        aws.retry(never, retry_if=lambda e: True, deadline_s=10)
    assert sum(clock.sleeps) == pytest.approx(10)

    clock.sleeps.clear()
    with pytest.raises(NotFoundError):
        aws.retry(lambda: _raise(NotFoundError("gone")), retry_if=lambda e: False, deadline_s=10)
    assert clock.sleeps == []


def test_invoke_client_never_retries_and_others_do() -> None:
    aws = Aws(Target(region="us-east-1", endpoint_url="http://127.0.0.1:9", local=True))
    assert aws.lambda_once.meta.config.retries["total_max_attempts"] == 1
    assert aws.lambda_.meta.config.retries["total_max_attempts"] == 6  # 5 retries
    assert aws.lambda_once is not aws.lambda_


def test_only_the_aws_package_talks_to_boto3() -> None:
    """No boto3/botocore import, client call or error translation outside recursectl.aws
    (the local cloud is standalone and speaks moto, not boto3 clients)."""
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "recursectl"
    forbidden = re.compile(
        r"import boto3|from boto3|import botocore|from botocore|translate\(|"
        r"\.lambda_(once)?\.|aws\.(iam|logs|sts)\."
    )
    offenders = [
        f"{path.relative_to(src)}:{n}: {line.strip()}"
        for path in sorted(src.rglob("*.py"))
        if path.parent.name not in ("aws", "local")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if forbidden.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []
