"""The packaged Python helper's own DynamoDB requests: their SigV4 signature is botocore's
(what AWS accepts), and the plain environment a Lambda function has is the only one that
takes the lean path (anything else goes through boto3)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from types import ModuleType
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.helper_copy import helper_copy

ENV = {
    "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEKEY",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjEXAMPLE//token+with/odd=chars",
    "AWS_REGION": "eu-west-3",
}
BODY = json.dumps({"TableName": "f-recursectl-chains", "Key": {"chain": {"S": "c-1"}}}).encode()


@pytest.fixture
def helper() -> Iterator[ModuleType]:
    with helper_copy("recursectl_chain_dynamo") as module:
        yield module


def _sign_at(auth: SigV4Auth, request: AWSRequest, amz_date: str) -> None:
    """botocore's signature at `amz_date` (it reads the clock itself)."""
    at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        auth.add_auth(request)


def _botocore(host: str, body: bytes, amz_date: str) -> str:
    """botocore's Authorization header for the same request, at the same time."""
    request = AWSRequest(
        method="POST",
        url=f"https://{host}/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.UpdateItem",
        },
    )
    credentials = Credentials(
        ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"], ENV["AWS_SESSION_TOKEN"]
    )
    _sign_at(SigV4Auth(credentials, "dynamodb", ENV["AWS_REGION"]), request, amz_date)
    return str(request.headers["Authorization"])


@pytest.mark.parametrize(
    "host", ["dynamodb.eu-west-3.amazonaws.com", "127.0.0.1:4599", "localhost:8000"]
)
def test_the_signature_is_botocores(helper: ModuleType, host: str) -> None:
    amz_date = "20261207T093015Z"
    ours = helper._dynamo()._sign(ENV, "eu-west-3", host, "UpdateItem", BODY, amz_date)
    assert ours["authorization"] == _botocore(host, BODY, amz_date)
    assert ours["x-amz-security-token"] == ENV["AWS_SESSION_TOKEN"]
    # one byte of the body, or a second later, is another signature
    assert ours["authorization"] != _botocore(host, BODY.replace(b"c-1", b"c-2"), amz_date)
    assert ours["authorization"] != _botocore(host, BODY, "20261207T093016Z")


def test_without_a_session_token_the_signature_is_botocores_too(helper: ModuleType) -> None:
    env = {k: v for k, v in ENV.items() if k != "AWS_SESSION_TOKEN"}
    ours = helper._dynamo()._sign(env, "eu-west-3", "h:1", "UpdateItem", BODY, "20261207T235959Z")
    request = AWSRequest(
        method="POST",
        url="http://h:1/",
        data=BODY,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.UpdateItem",
        },
    )
    credentials = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    _sign_at(SigV4Auth(credentials, "dynamodb", "eu-west-3"), request, "20261207T235959Z")
    assert ours["authorization"] == request.headers["Authorization"]
    assert "x-amz-security-token" not in ours


def _aws(region: str, suffix: str = "amazonaws.com") -> tuple[str, str, int, str]:
    return "https", f"dynamodb.{region}.{suffix}", 443, region


LOCAL = "http://127.0.0.1:4599"


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({}, _aws("eu-west-3")),
        ({"AWS_REGION": "cn-north-1"}, _aws("cn-north-1", "amazonaws.com.cn")),
        ({"AWS_REGION": "us-gov-west-1"}, _aws("us-gov-west-1")),
        ({"AWS_REGION": "", "AWS_DEFAULT_REGION": "ap-south-2"}, _aws("ap-south-2")),
        ({"AWS_ENDPOINT_URL": LOCAL}, ("http", "127.0.0.1", 4599, "eu-west-3")),
        (
            {"AWS_ENDPOINT_URL": LOCAL, "AWS_ENDPOINT_URL_DYNAMODB": "https://ddb.local/"},
            ("https", "ddb.local", 443, "eu-west-3"),
        ),
        (
            {"AWS_ENDPOINT_URL": LOCAL, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
            _aws("eu-west-3"),
        ),
        # boto3 (None): what it resolves differently, or what only it supports
        ({"AWS_REGION": ""}, None),
        ({"AWS_REGION": "us-iso-east-1"}, None),
        ({"AWS_ACCESS_KEY_ID": ""}, None),
        ({"AWS_USE_FIPS_ENDPOINT": "true"}, None),
        ({"AWS_USE_DUALSTACK_ENDPOINT": "TRUE"}, None),
        ({"AWS_CA_BUNDLE": "/etc/ca.pem"}, None),
        ({"HTTPS_PROXY": "http://proxy:3128"}, None),
        ({"http_proxy": "http://proxy:3128"}, None),
        ({"AWS_ENDPOINT_URL": LOCAL + "/prefix"}, None),
    ],
)
def test_the_lean_path_is_only_for_the_plain_environment(
    helper: ModuleType, extra: dict[str, str], where: tuple[str, str, int, str] | None
) -> None:
    env = {**ENV, **extra}
    assert helper._dynamo()._lean_endpoint(env) == where
    assert helper._dynamo()._Dynamo(env).lean is (where is not None)
