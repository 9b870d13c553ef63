"""The Node guard's lean DynamoDB caller (templates/node/recursectl_chain.guard.cjs): its SigV4
signature is botocore's, and which environments it serves (the rest go to the SDK), both
checked by running the guard's own functions under `node`."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

GUARD = Path(__file__).resolve().parents[3] / "templates" / "node" / "recursectl_chain.guard.cjs"
# Each line of stdin: [function, argument]; each answer: one JSON line.
_DRIVER = """
const g = require(process.argv[1]).internals;
const calls = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
console.log(JSON.stringify(calls.map(([fn, arg]) => g[fn](arg))));
"""


def _node(calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH")
    done = subprocess.run(
        [node, "-e", _DRIVER, str(GUARD)],
        input=json.dumps(calls), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    answers: list[Any] = json.loads(done.stdout)
    return answers


BASE = {
    "accessKeyId": "AKIDEXAMPLE",
    "secretAccessKey": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE//token+with/odd=chars",
    "region": "eu-west-3",
    "host": "127.0.0.1:4566",
    "target": "UpdateItem",
    "body": json.dumps(
        {
            "TableName": "recursectl-counter",
            "Key": {"chain": {"S": "c-1 \u00e9\u2713"}},
            "UpdateExpression": "ADD #n :one",
            "ExpressionAttributeNames": {"#n": "n"},
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            "ReturnValues": "UPDATED_NEW",
        },
        ensure_ascii=False,
    ),
    "amzDate": "20261207T093015Z",
}
# One signed byte changed in each (the body's last digit, the target, the token, the date's
# second, the region, the host's port, the key id), and a request without a session token.
VARIANTS = {
    "body": {"body": BASE["body"].replace('"1"', '"2"')},
    "target": {"target": "UpdateItex"},
    "token": {"sessionToken": BASE["sessionToken"][:-1] + "S"},
    "date": {"amzDate": "20261207T093016Z"},
    "region": {"region": "eu-west-2"},
    "host": {"host": "127.0.0.1:4567"},
    "key id": {"accessKeyId": "AKIDEXAMPLF"},
}
CASES = {
    "base": BASE,
    **{name: {**BASE, **change} for name, change in VARIANTS.items()},
    "no token": {**BASE, "sessionToken": None},
    "https default port": {**BASE, "host": "dynamodb.eu-west-3.amazonaws.com"},
}


def _botocore(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """The Authorization header botocore's SigV4Auth gives the same request."""
    when = datetime.datetime.strptime(case["amzDate"], "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when)
    scheme = "http" if ":" in case["host"] else "https"
    request = AWSRequest(
        method="POST",
        url=f"{scheme}://{case['host']}/",
        data=case["body"].encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{case['target']}",
        },
    )
    credentials = Credentials(case["accessKeyId"], case["secretAccessKey"], case["sessionToken"])
    SigV4Auth(credentials, "dynamodb", case["region"]).add_auth(request)
    return str(request.headers["Authorization"])


@pytest.fixture(scope="module")
def node_signed() -> dict[str, dict[str, str]]:
    names = list(CASES)
    answers = _node([("signDynamo", CASES[name]) for name in names])
    return dict(zip(names, answers, strict=True))


@pytest.mark.parametrize("name", list(CASES))
def test_the_signature_is_botocores(
    node_signed: dict[str, dict[str, str]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = node_signed[name]
    assert headers["authorization"] == _botocore(CASES[name], monkeypatch)
    assert headers["x-amz-target"] == f"DynamoDB_20120810.{CASES[name]['target']}"
    assert headers["content-type"] == "application/x-amz-json-1.0"
    assert headers.get("x-amz-security-token") == CASES[name]["sessionToken"]
    signed = headers["authorization"].split("SignedHeaders=")[1].split(",")[0]
    token = ";x-amz-security-token" if CASES[name]["sessionToken"] else ""
    assert signed == f"content-type;host;x-amz-date{token};x-amz-target"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_one_changed_signed_byte_changes_the_signature(
    node_signed: dict[str, dict[str, str]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert node_signed["base"]["authorization"] != _botocore(CASES[name], monkeypatch)
    assert node_signed[name]["authorization"] != _botocore(BASE, monkeypatch)


KEYS = {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"}
LOCAL = {**KEYS, "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
Route = tuple[bool, str, int, str, str]  # secure, hostname, port, host (signed), region


def aws(region: str, suffix: str = "") -> Route:
    host = f"dynamodb.{region}.amazonaws.com{suffix}"
    return (True, host, 443, host, region)


def at(hostname: str, port: int, host: str, secure: bool = False) -> Route:
    return (secure, hostname, port, host, "us-east-1")


# env -> where the guard's DynamoDB calls go, or None for the SDK.
ROUTES: list[tuple[str, dict[str, str], Route | None]] = [
    ("aws", KEYS, aws("us-east-1")),
    ("local cloud", LOCAL, at("127.0.0.1", 4566, "127.0.0.1:4566")),
    ("default region", {**KEYS, "AWS_REGION": "", "AWS_DEFAULT_REGION": "eu-central-1"},
     aws("eu-central-1")),
    ("china", {**KEYS, "AWS_REGION": "cn-north-1"}, aws("cn-north-1", ".cn")),
    ("govcloud", {**KEYS, "AWS_REGION": "us-gov-west-1"}, aws("us-gov-west-1")),
    ("service endpoint first", {**LOCAL, "AWS_ENDPOINT_URL_DYNAMODB": "https://ddb.test:8443/"},
     at("ddb.test", 8443, "ddb.test:8443", secure=True)),
    ("endpoints ignored", {**LOCAL, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
     aws("us-east-1")),
    ("default port unsigned", {**KEYS, "AWS_ENDPOINT_URL": "http://localhost:80"},
     at("localhost", 80, "localhost")),
    ("ipv6", {**KEYS, "AWS_ENDPOINT_URL": "http://[::1]:8000"}, at("::1", 8000, "[::1]:8000")),
    ("fips false", {**LOCAL, "AWS_USE_FIPS_ENDPOINT": "false"},
     at("127.0.0.1", 4566, "127.0.0.1:4566")),
    ("no key id", {**LOCAL, "AWS_ACCESS_KEY_ID": ""}, None),
    ("no secret", {k: v for k, v in LOCAL.items() if k != "AWS_SECRET_ACCESS_KEY"}, None),
    ("no region", {k: v for k, v in LOCAL.items() if k != "AWS_REGION"}, None),
    ("odd region", {**LOCAL, "AWS_REGION": "us-iso-east-1"}, None),
    ("region not a name", {**LOCAL, "AWS_REGION": "US-EAST-1"}, None),
    ("fips", {**LOCAL, "AWS_USE_FIPS_ENDPOINT": "true"}, None),
    ("dual stack", {**LOCAL, "AWS_USE_DUALSTACK_ENDPOINT": "true"}, None),
    ("ca bundle", {**LOCAL, "AWS_CA_BUNDLE": "/etc/ca.pem"}, None),
    ("https proxy", {**LOCAL, "HTTPS_PROXY": "http://proxy:3128"}, None),
    ("https_proxy", {**LOCAL, "https_proxy": "http://proxy:3128"}, None),
    ("http proxy", {**LOCAL, "HTTP_PROXY": "http://proxy:3128"}, None),
    ("http_proxy", {**LOCAL, "http_proxy": "http://proxy:3128"}, None),
    ("endpoint path", {**KEYS, "AWS_ENDPOINT_URL": "http://127.0.0.1:4566/ddb"}, None),
    ("endpoint query", {**KEYS, "AWS_ENDPOINT_URL": "http://127.0.0.1:4566/?x=1"}, None),
    ("endpoint scheme", {**KEYS, "AWS_ENDPOINT_URL": "ftp://127.0.0.1"}, None),
    ("endpoint not a url", {**KEYS, "AWS_ENDPOINT_URL": "127.0.0.1:4566"}, None),
    ("endpoint user", {**KEYS, "AWS_ENDPOINT_URL": "http://me:pw@127.0.0.1:4566"}, None),
]  # fmt: skip


@pytest.fixture(scope="module")
def node_routes() -> list[Any]:
    return _node([("dynamoRoute", env) for _, env, _ in ROUTES])


@pytest.mark.parametrize("index", range(len(ROUTES)), ids=[name for name, _, _ in ROUTES])
def test_which_environments_the_lean_caller_serves(node_routes: list[Any], index: int) -> None:
    _, _, expected = ROUTES[index]
    answer = node_routes[index]
    keys = ("secure", "hostname", "port", "host", "region")
    assert (answer and tuple(answer[k] for k in keys)) == expected
