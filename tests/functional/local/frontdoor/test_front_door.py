"""The front door over real HTTP: routing, who may talk to it, and how requests are framed."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.localcloud import TOKENS, Deploy, local_status


def test_recursion_config_roundtrip(endpoint: str, deploy: Deploy) -> None:
    deploy("f", {"handler.py": "def handler(e, c):\n    return 1\n"})
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.get_function_recursion_config(FunctionName="f")["RecursiveLoop"] == "Terminate"
    lam.put_function_recursion_config(FunctionName="f", RecursiveLoop="Allow")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    assert lam.get_function_recursion_config(FunctionName=arn)["RecursiveLoop"] == "Allow"


def test_recursion_config_rejects_bad_value_with_aws_error_name(endpoint: str) -> None:
    lam = boto3.client("lambda", endpoint_url=endpoint)
    with pytest.raises(ClientError) as info:
        lam.put_function_recursion_config(FunctionName="f", RecursiveLoop="Sometimes")
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_other_services_reach_moto(endpoint: str) -> None:
    sts = boto3.client("sts", endpoint_url=endpoint)
    assert sts.get_caller_identity()["Account"] == "123456789012"
    logs = boto3.client("logs", endpoint_url=endpoint)
    logs.create_log_group(logGroupName="/aws/lambda/f")
    names = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    assert names == ["/aws/lambda/f"]


# who may talk to the front door (issue 12, item 1) --------------------------------------------
SIGNED = (
    "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, "
    "SignedHeaders=host, Signature=0"
)
ROLE_DOC = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
    '{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)


def _raw(endpoint: str, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Any:
    """One request exactly as given (http.client adds no Host when one is passed)."""
    host, port = endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if body and "Transfer-Encoding" not in headers:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _host(endpoint: str) -> str:
    return endpoint.removeprefix("http://")


def _create_role_form(role: str) -> bytes:
    return urlencode(
        {
            "Action": "CreateRole",
            "Version": "2010-05-08",
            "RoleName": role,
            "AssumeRolePolicyDocument": ROLE_DOC,
        }
    ).encode()


@pytest.mark.parametrize(
    "extra",
    [
        {"Host": "evil.attacker.example:{port}"},  # DNS rebinding
        {"Host": "lambda.evil.example:{port}"},
        {"Host": "127.0.0.1"},  # the port is part of it
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Mode": "no-cors"},
    ],
)
def test_requests_a_web_page_could_make_are_refused(endpoint: str, extra: dict[str, str]) -> None:
    port = endpoint.rsplit(":", 1)[1]
    headers = {
        "Host": _host(endpoint),
        "Authorization": SIGNED.format(service="iam"),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    headers.update({k: v.format(port=port) for k, v in extra.items()})
    status, _, body = _raw(endpoint, "POST", "/", headers, _create_role_form("rebound"))
    assert status == 403, body
    iam = boto3.client("iam", endpoint_url=endpoint)
    assert "rebound" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]


def test_the_same_request_from_an_sdk_goes_through(endpoint: str) -> None:
    headers = {
        "Host": _host(endpoint),
        "Authorization": SIGNED.format(service="iam"),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    status, _, body = _raw(endpoint, "POST", "/", headers, _create_role_form("sdk-made"))
    assert status == 200, body
    iam = boto3.client("iam", endpoint_url=endpoint)
    assert "sdk-made" in [r["RoleName"] for r in iam.list_roles()["Roles"]]


def test_unsigned_aws_requests_are_refused(endpoint: str) -> None:
    sts = boto3.client("sts", endpoint_url=endpoint, config=Config(signature_version=UNSIGNED))
    with pytest.raises(ClientError) as info:
        sts.get_caller_identity()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    status, headers, _ = _raw(endpoint, "GET", "/2015-03-31/functions/", {"Host": _host(endpoint)})
    assert (status, headers["X-Amzn-ErrorType"]) == (403, "MissingAuthenticationTokenException")


def test_a_presigned_query_is_a_signed_request(endpoint: str) -> None:
    sts = boto3.client("sts", endpoint_url=endpoint)
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60)
    assert "X-Amz-Credential=" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200  # through the guard (moto itself answers it as S3)
    unsigned = url.split("?", 1)[0] + "?Action=GetCallerIdentity&Version=2011-06-15"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(unsigned, timeout=10)
    assert info.value.code == 403


def test_the_credential_scope_picks_lambda_not_the_host(endpoint: str, deploy: Deploy) -> None:
    deploy("scoped", {"handler.py": "def handler(event, context):\n    return 'ran'\n"})
    path = "/2015-03-31/functions/scoped/invocations"
    headers = {"Host": _host(endpoint), "Authorization": SIGNED.format(service="sts")}
    status, got, body = _raw(endpoint, "POST", path, headers, b"{}")
    assert "X-Amz-Executed-Version" not in got
    assert body != b'"ran"'
    headers["Authorization"] = SIGNED.format(service="lambda")
    status, got, body = _raw(endpoint, "POST", path, headers, b"{}")
    assert (status, body) == (200, b'"ran"')


@pytest.mark.parametrize("path", ["/_recursectl/status", "/_recursectl/flush", "/moto-api/reset"])
def test_control_endpoints_need_the_token(endpoint: str, path: str) -> None:
    host = {"Host": _host(endpoint)}
    status, _, _ = _raw(endpoint, "POST" if "status" not in path else "GET", path, host)
    assert status == 403
    bad = {**host, "X-Recursectl-Token": "guessed"}
    assert _raw(endpoint, "GET", path, bad)[0] == 403
    good = {**host, "X-Recursectl-Token": TOKENS[endpoint]}
    assert _raw(endpoint, "POST" if "status" not in path else "GET", path, good)[0] == 200


def test_a_cross_origin_shutdown_is_refused_and_the_cloud_keeps_running(endpoint: str) -> None:
    headers = {
        "Host": _host(endpoint),
        "Origin": "https://evil.example",
        "X-Recursectl-Token": TOKENS[endpoint],
    }
    assert _raw(endpoint, "POST", "/_recursectl/shutdown", headers)[0] == 403
    assert local_status(endpoint)["service"] == "recursectl-local"


# HTTP framing (issue 12, item 6) ---------------------------------------------------------------
def test_a_chunked_invoke_delivers_its_event(endpoint: str, deploy: Deploy) -> None:
    deploy("chunky", {"handler.py": "def handler(event, context):\n    return event\n"})
    headers = {
        "Host": _host(endpoint),
        "Authorization": SIGNED.format(service="lambda"),
        "Transfer-Encoding": "chunked",
    }
    body = b'6\r\n{"a": \r\n2\r\n1}\r\n0\r\n\r\n'
    status, _, got = _raw(
        endpoint, "POST", "/2015-03-31/functions/chunky/invocations", headers, body
    )
    assert (status, json.loads(got)) == (200, {"a": 1})


def test_a_huge_content_length_gets_413_not_a_dropped_connection(endpoint: str) -> None:
    host, port = endpoint.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: {_host(endpoint)}\r\n"
            f"Content-Length: {10**15}\r\n\r\n".encode()
        )
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413 ")


def test_a_payload_over_6_mb_is_lambdas_own_error(endpoint: str, deploy: Deploy) -> None:
    deploy("big", {"handler.py": "def handler(event, context):\n    return 1\n"})
    lam = boto3.client("lambda", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName="big", Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert info.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
