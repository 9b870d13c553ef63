"""Every SigV4 credential form is checked: a handler's role session used in a presigned URL
(X-Amz-Credential in the query string) is held to the role's policy as in the Authorization
header, and a temporary key the local cloud did not issue is refused.

Real boto3 presigned URLs made inside a real worker with its role session's credentials."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from recursectl.names import policy_document, trust_document
from tests.support.localcloud import make_zip, wait_active

ACCOUNT = "123456789012"
FN_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"

PRESIGNER = """
import urllib.error, urllib.request
import boto3

def _open(url, method, data=None):
    request = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return {"status": response.status, "body": response.read().decode()[:400]}
    except urllib.error.HTTPError as exc:
        kind = exc.headers.get("X-Amzn-ErrorType")
        return {"status": exc.code, "body": exc.read().decode()[:400], "type": kind}

def handler(event, context):
    if event.get("child"):
        return "child ran"
    lam, s3, sts = boto3.client("lambda"), boto3.client("s3"), boto3.client("sts")
    other = lam.generate_presigned_url("invoke", Params={"FunctionName": event["other"]})
    own = lam.generate_presigned_url("invoke", Params={"FunctionName": context.function_name})
    get = lambda bucket: s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"})
    return {
        "other": _open(other, "POST", b"{}"),
        "self": _open(own, "POST", b'{"child": 1}'),
        "s3_allowed": _open(get("shared"), "GET"),
        "s3_denied": _open(get("secret"), "GET"),
        "sts": _open(sts.generate_presigned_url("get_caller_identity"), "GET"),
        "url_has_session_key": "X-Amz-Credential=ASIA" in other,
    }
"""


def _create(lam: Any, iam: Any, name: str, policy: dict[str, Any], code: str) -> None:
    role = iam.create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust_document(ACCOUNT))
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=f"{name}-role", PolicyName="own", PolicyDocument=json.dumps(policy)
    )
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": make_zip({"handler.py": code})},
        Timeout=30,
    )
    wait_active(lam, name)


def test_a_presigned_url_of_a_role_session_is_held_to_the_role(endpoint: str, lam: Any) -> None:
    iam = boto3.client("iam", endpoint_url=endpoint)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    for bucket in ("shared", "secret"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=f"{bucket} data".encode())
    own = policy_document(f"{FN_ARN}signer", "/aws/lambda/signer")
    own["Statement"].append(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"}
    )
    _create(lam, iam, "signer", own, PRESIGNER)
    _create(lam, iam, "bystander", own, "def handler(event, context):\n    return 'ran'\n")

    response = lam.invoke(FunctionName="signer", Payload=json.dumps({"other": "bystander"}))
    assert "FunctionError" not in response, response["Payload"].read()
    out = json.loads(response["Payload"].read())
    assert out["url_has_session_key"] is True  # the URL carries the role session's key
    # Another function: refused as the header form is (before: invoked, unrestricted).
    assert out["other"]["status"] == 403
    assert out["other"]["type"] == "AccessDeniedException"
    assert f"lambda:InvokeFunction on resource: {FN_ARN}bystander" in out["other"]["body"]
    assert out["self"] == {"status": 200, "body": '"child ran"'}  # its own policy allows it
    assert out["s3_allowed"] == {"status": 200, "body": "shared data"}
    assert out["s3_denied"]["status"] == 403
    assert "s3:GetObject on resource: arn:aws:s3:::secret/k" in out["s3_denied"]["body"]
    assert out["sts"]["status"] == 403  # other presigned calls of a session: never unchecked


@pytest.mark.parametrize("form", ["header", "presigned"])
def test_a_temporary_key_the_cloud_did_not_issue_is_refused(endpoint: str, form: str) -> None:
    forged = boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="ASIAFORGEDFORGED1234",
        aws_secret_access_key="secret",
        aws_session_token="token",
    )
    if form == "header":
        with pytest.raises(ClientError) as caught:
            forged.list_functions()
        error = caught.value.response
        assert error["Error"]["Code"] == "UnrecognizedClientException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
        return
    url = forged.generate_presigned_url("list_functions")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 403
    assert refused.value.headers["X-Amzn-ErrorType"] == "UnrecognizedClientException"


def test_long_term_keys_stay_unrestricted(endpoint: str, lam: Any) -> None:
    # The CLI's key (`test`), in either form: not a session, not checked (as before).
    url = lam.generate_presigned_url("list_functions")
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
