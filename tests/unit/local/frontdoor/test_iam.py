"""The local cloud's IAM pieces that need no server: policy evaluation, Lambda's action
table, STS responses, error shapes (enforcement: tests/functional/test_fidelity_iam.py)."""

from __future__ import annotations

import json

import pytest

from recursectl.local.frontdoor import iam, lambda_ops
from recursectl.local.frontdoor.policy import Decision, evaluate
from recursectl.names import policy_document

ARN = "arn:aws:lambda:us-east-1:123456789012:function:demo"


def _doc(*statements: dict[str, object]) -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_recursectl_own_policy_allows_its_chain_and_nothing_else() -> None:
    own = [policy_document(ARN, "/aws/lambda/demo")]
    assert evaluate(own, "lambda:InvokeFunction", ARN) is Decision.ALLOW
    assert evaluate(own, "lambda:InvokeFunction", f"{ARN}:live") is Decision.ALLOW
    assert evaluate(own, "lambda:InvokeFunction", f"{ARN}x") is Decision.IMPLICIT_DENY
    stream = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/demo:log-stream:s"
    assert evaluate(own, "logs:PutLogEvents", stream) is Decision.ALLOW
    assert evaluate(own, "s3:ListAllMyBuckets", "*") is Decision.IMPLICIT_DENY


def test_deny_wins_wildcards_not_forms_and_conditions() -> None:
    allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    assert evaluate([_doc(allow_all, deny)], "S3:GetObject", "x") is Decision.EXPLICIT_DENY
    assert evaluate([_doc(allow_all)], "s3:GetObject", "x") is Decision.ALLOW
    one_char = {"Effect": "Allow", "Action": "lambda:Get?unction", "Resource": "arn:*:fn"}
    assert evaluate([_doc(one_char)], "lambda:GetFunction", "arn:a:fn") is Decision.ALLOW
    assert evaluate([_doc(one_char)], "lambda:GetFunction", "arn:a:FN") is Decision.IMPLICIT_DENY
    not_action = {"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:secret"}
    assert evaluate([_doc(not_action)], "s3:GetObject", "arn:b") is Decision.ALLOW
    assert evaluate([_doc(not_action)], "iam:ListRoles", "arn:b") is Decision.IMPLICIT_DENY
    assert evaluate([_doc(not_action)], "s3:GetObject", "arn:secret") is Decision.IMPLICIT_DENY
    # Conditions are not evaluated: an Allow with one grants nothing, a Deny with one applies.
    cond = {"Condition": {"StringEquals": {"aws:SourceAccount": "1"}}}
    assert evaluate([_doc({**allow_all, **cond})], "s3:X", "*") is Decision.IMPLICIT_DENY
    assert evaluate([_doc(allow_all, {**deny, **cond})], "s3:X", "*") is Decision.EXPLICIT_DENY
    # A single statement object, a regex character taken literally, junk ignored.
    single = {"Statement": {"Effect": "Allow", "Action": "a:b", "Resource": "x.y"}}
    assert evaluate([single], "a:b", "x.y") is Decision.ALLOW
    assert evaluate([single], "a:b", "xzy") is Decision.IMPLICIT_DENY
    assert evaluate([{"Statement": "junk"}, "junk"], "a:b", "*") is Decision.IMPLICIT_DENY


def test_lambda_requests_name_their_action_and_resource() -> None:
    def action(method: str, path: str, query: str = "") -> tuple[str, str] | None:
        return lambda_ops.action_of(method, path, query, "us-east-1", "123456789012")

    assert action("POST", "/2015-03-31/functions/demo/invocations") == (
        "lambda:InvokeFunction",
        ARN,
    )
    assert action("POST", "/2015-03-31/functions/demo/invocations", "Qualifier=live") == (
        "lambda:InvokeFunction",
        f"{ARN}:live",
    )
    encoded = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Ademo%3A1"
    assert action("POST", f"/2015-03-31/functions/{encoded}/invocations") == (
        "lambda:InvokeFunction",
        f"{ARN}:1",
    )
    assert action("GET", "/2015-03-31/functions/demo") == ("lambda:GetFunction", ARN)
    assert action("GET", "/2015-03-31/functions/demo/configuration") == (
        "lambda:GetFunctionConfiguration",
        ARN,
    )
    assert action("GET", "/2015-03-31/functions/") == ("lambda:ListFunctions", "*")
    assert action("PUT", "/2024-08-31/functions/demo/recursion-config") == (
        "lambda:PutFunctionRecursionConfig",
        ARN,
    )
    assert action("GET", "/nothing/here") is None


STS_RESPONSE = b"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleResult><Credentials><SessionToken>tok</SessionToken>
<SecretAccessKey>sec</SecretAccessKey><Expiration>2030-01-01T00:00:00Z</Expiration>
<AccessKeyId>ASIAEXAMPLE</AccessKeyId></Credentials><AssumedRoleUser>
<AssumedRoleId>AROA:fn</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/r/fn</Arn>
</AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>"""


def test_sts_credentials_are_read_from_assume_role() -> None:
    session = iam.parse_credentials(STS_RESPONSE)
    assert session is not None
    assert (session.access_key, session.secret_key, session.token) == ("ASIAEXAMPLE", "sec", "tok")
    assert session.role_name == "r"
    assert session.env()["AWS_SESSION_TOKEN"] == "tok"
    assert iam.parse_credentials(b"<GetCallerIdentityResponse/>") is None
    assert iam.parse_credentials(b"not xml") is None


def test_moto_xml_access_denied_becomes_json_for_json_services() -> None:
    xml = (
        b'<?xml version="1.0" encoding="utf-8"?><ErrorResponse><Errors><Error>'
        b"<Code>AccessDenied</Code><Message>User: arn:x is not authorized to perform: "
        b"sqs:ListQueues</Message></Error></Errors></ErrorResponse>"
    )
    code, headers, body = iam.json_error({"x-amz-target": "AmazonSQS.ListQueues"}, (403, {}, xml))
    assert code == 403
    assert headers["X-Amzn-ErrorType"] == "AccessDeniedException"
    assert json.loads(body) == {
        "__type": "AccessDeniedException",
        "message": "User: arn:x is not authorized to perform: sqs:ListQueues because no "
        "identity-based policy allows the sqs:ListQueues action",
    }
    # A query-protocol service (no X-Amz-Target) keeps its XML, as AWS answers it.
    assert iam.json_error({}, (403, {}, xml)) == (403, {}, xml)


def test_checks_are_off_with_the_machine_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    session = iam.parse_credentials(STS_RESPONSE)
    assert session is not None
    signed = {"authorization": "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20240101/x/s3/aws4_request"}
    cli = {"authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/x/s3/aws4_request"}
    for setting, enforced in (("off", False), ("enforce", True)):
        monkeypatch.setenv("RECURSECTL_LOCAL_IAM", setting)
        door_iam = iam.Iam(moto=None, region="us-east-1")  # type: ignore[arg-type]
        door_iam._sessions[session.access_key] = session
        assert (door_iam.session_of(signed) is session) is enforced
        assert door_iam.session_of(cli) is None  # any other key: never checked
