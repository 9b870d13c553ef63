"""The AWS session (recursectl.aws.session imports boto3, ~0.3 s, so these are not unit tests):
the unreachable-endpoint hint by target, the retry loop on a fake clock, and the retry settings
of real boto3 clients. The rest of the error translation: tests/unit/aws/test_aws.py."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError

from recursectl.aws import Aws, Target
from recursectl.aws.errors import translate
from recursectl.errors import AwsError, NotFoundError
from tests.support.clock import FakeClock


def _raise(exc: Exception) -> None:
    raise exc


def test_unreachable_endpoint_hint_depends_on_target() -> None:
    exc = EndpointConnectionError(endpoint_url="http://127.0.0.1:4599/")
    with pytest.raises(AwsError) as info, translate("x", "y", Target(local=True)):
        raise exc
    assert "recursectl local start" in (info.value.hint or "")
    with pytest.raises(AwsError) as info, translate("x", "y", Target()):
        raise exc
    assert "--endpoint-url" in (info.value.hint or "")


def test_retry_until_success_on_a_dense_schedule() -> None:
    clock = FakeClock()
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
    clock = FakeClock()
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
