"""Functional tests: real clients against a real front door (the `endpoint` fixture, from
tests/support/frontdoor.py), with fixtures to deploy small handlers."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.support.localcloud import INVOKE_POLICY, NO_RETRY, Deploy, make_zip, wait_active


@pytest.fixture
def lam(endpoint: str) -> Any:
    return boto3.client("lambda", endpoint_url=endpoint, config=NO_RETRY)


@pytest.fixture
def logs(endpoint: str) -> Any:
    return boto3.client("logs", endpoint_url=endpoint)


@pytest.fixture
def deploy(endpoint: str, lam: Any) -> Deploy:
    """deploy(name, files, handler=..., timeout=..., env=...) -> function ARN."""
    iam = boto3.client("iam", endpoint_url=endpoint)
    role = iam.create_role(
        RoleName="fn-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    # Handlers run with this role's credentials and the local cloud enforces its policy,
    # as AWS does: these tests' handlers invoke functions (themselves and others).
    iam.put_role_policy(RoleName="fn-role", PolicyName="invoke", PolicyDocument=INVOKE_POLICY)

    def _deploy(
        name: str,
        files: dict[str, str],
        handler: str = "handler.handler",
        timeout: int = 10,
        env: dict[str, str] | None = None,
        runtime: str = "python3.11",
    ) -> str:
        response = lam.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=role,
            Handler=handler,
            Code={"ZipFile": make_zip(files)},
            Timeout=timeout,
            Environment={"Variables": env or {}},
        )
        wait_active(lam, name)
        return str(response["FunctionArn"])

    return _deploy
