"""Functional tests: real clients against a real front door (the `endpoint` fixture, from
tests/support/frontdoor.py), with fixtures to deploy small handlers."""

from __future__ import annotations

import functools
from typing import Any

import boto3
import pytest

from tests.support.localcloud import NO_RETRY, Deploy, deploy_function, function_role


@pytest.fixture
def lam(endpoint: str) -> Any:
    return boto3.client("lambda", endpoint_url=endpoint, config=NO_RETRY)


@pytest.fixture
def logs(endpoint: str) -> Any:
    return boto3.client("logs", endpoint_url=endpoint)


@pytest.fixture
def deploy(endpoint: str, lam: Any) -> Deploy:
    """deploy(name, files, handler=..., timeout=..., env=..., runtime=...) -> function ARN."""
    role = function_role(boto3.client("iam", endpoint_url=endpoint))
    return functools.partial(deploy_function, lam, role)
