"""Who may talk to the local cloud (pure checks; the HTTP side is in tests/functional)."""

from __future__ import annotations

import pytest

from recursectl.local.frontdoor import access
from recursectl.local.frontdoor.access import loopback_hosts, refusal, signed_service, token_ok

HOSTS = loopback_hosts(4599)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:4599", "localhost:4599", "[::1]:4599", "LOCALHOST:4599", "stream-localhost:4599"],
)
def test_loopback_hosts_with_the_port_pass(host: str) -> None:
    assert refusal({"host": host}, HOSTS) is None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"host": "evil.example:4599"},
        {"host": "127.0.0.1"},
        {"host": "127.0.0.1:4600"},
        {"host": "stream-evil.example:4599"},
        {"host": "lambda.us-east-1.amazonaws.com"},
        {"host": "127.0.0.1:4599", "origin": "null"},
        {"host": "127.0.0.1:4599", "sec-fetch-mode": "cors"},
        {"host": "127.0.0.1:4599", "sec-fetch-site": "same-origin"},
    ],
)
def test_other_hosts_and_browser_requests_are_refused(headers: dict[str, str]) -> None:
    assert refusal(headers, HOSTS)


def test_the_service_comes_from_the_credential_scope() -> None:
    auth = (
        "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws4_request, "
        "SignedHeaders=host, Signature=00"
    )
    assert signed_service({"authorization": auth}, "") == "lambda"
    assert signed_service({"authorization": auth.replace("lambda", "iam")}, "") == "iam"
    assert signed_service({"authorization": "Basic dXNlcjpwYXNz"}, "") is None
    assert signed_service({"authorization": "AWS4-HMAC-SHA256 garbage"}, "") is None
    assert signed_service({}, "") is None


def test_presigned_queries_count_as_signed() -> None:
    query = (
        "Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fsts%2Faws4_request"
        "&X-Amz-Date=20240101T000000Z&X-Amz-Signature=00"
    )
    assert signed_service({}, query) == "sts"
    assert signed_service({}, query.replace("&X-Amz-Signature=00", "")) is None
    assert signed_service({}, query.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA")) is None


def test_the_token_must_match_exactly() -> None:
    assert token_ok({"x-recursectl-token": "s3cret"}, "s3cret")
    assert not token_ok({"x-recursectl-token": "s3cre"}, "s3cret")
    assert not token_ok({}, "s3cret")


def test_every_credential_form_names_its_key() -> None:
    header = {
        "authorization": "AWS4-HMAC-SHA256 Credential=ASIAHEADER/20240101/r/lambda/aws4_request, S"
    }
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=ASIAQUERY%2F20240101%2Fr%2Flambda%2Faws4_request"
    )
    assert access.access_keys(header, "") == ["ASIAHEADER"]
    assert access.access_keys({}, query) == ["ASIAQUERY"]
    assert access.access_keys(header, query) == ["ASIAHEADER", "ASIAQUERY"]  # both are read
    # S3's Signature Version 2: header and query
    assert access.access_keys({"authorization": "AWS ASIAV2:c2ln"}, "") == ["ASIAV2"]
    assert access.access_keys({}, "AWSAccessKeyId=ASIAV2Q&Signature=x&Expires=1") == ["ASIAV2Q"]
    assert access.signed_service({}, "AWSAccessKeyId=K&Signature=x&Expires=1") == "s3"
    assert access.access_keys({}, "") == []


def test_the_session_token_is_read_from_headers_or_query() -> None:
    assert access.session_token({"x-amz-security-token": "h"}, "X-Amz-Security-Token=q") == "h"
    assert access.session_token({}, "X-Amz-Security-Token=q%2Bq") == "q+q"
    assert access.session_token({}, "AWSAccessKeyId=K&x-amz-security-token=v2") == "v2"
    assert access.session_token({}, "") is None


def test_a_presigned_request_is_made_routable_for_moto() -> None:
    query = (
        "X-Amz-Credential=test%2F20240101%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Signature=ab"
    )
    auth = access.routable({"host": "h"}, query)["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/lambda/")
    signed = {"authorization": "AWS4-HMAC-SHA256 Credential=x"}
    assert access.routable(signed, query) is signed
