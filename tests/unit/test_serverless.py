"""serverless.yml read as recursectl's settings (recursectl.serverless)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recursectl import serverless
from recursectl.build import runtimes
from recursectl.errors import UsageError

KNOWN = ("nodejs12.x", "nodejs20.x", "nodejs22.x", "nodejs24.x", "python3.12", "python3.13")

SEED = """service: recursive-invocation-example
frameworkVersion: ">=1.0.0"

custom:
  functionARN: yourFunctionARN

provider:
  name: aws
  runtime: nodejs12.x
  environment:
    FUNCTION_ARN: ${self:custom.functionARN}
  iamRoleStatements:
    - Effect: "Allow"
      Action:
        - "lambda:InvokeFunction"
      Resource: ${self:custom.functionARN}

functions:
  recursiveExample:
    handler: handler.recursiveExample
    events:
      - http: GET hello
"""


def _load(tmp_path: Path, text: str, **kw: object) -> serverless.Imported:
    path = tmp_path / "serverless.yml"
    path.write_text(text)
    return serverless.load(path, known=KNOWN, environ={"TABLE": "orders"}, **kw)  # type: ignore[arg-type]


def test_the_seeds_shape(tmp_path: Path) -> None:
    got = _load(tmp_path, SEED)
    assert got.values == {
        "name": "recursive-invocation-example-dev-recursiveExample",
        "handler": "handler.recursiveExample",
        "runtime": "nodejs22.x",
        "environment": {"FUNCTION_ARN": "${function_arn}"},
        "iam_statements": (
            {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": "${function_arn}"},
        ),
    }
    assert "custom.functionARN is the function's own ARN: deploy fills it in" in got.notes
    assert any("nodejs12.x is no longer supported" in n and "nodejs22.x" in n for n in got.notes)
    assert "not applied by recursectl: functions.recursiveExample.events" in got.notes


def test_v4_statements_stages_fallbacks_and_written_out_arns(tmp_path: Path) -> None:
    text = """service: chain
provider:
  name: aws
  runtime: python3.13
  stage: ${opt:stage, 'prod'}
  memorySize: 256
  iam:
    role:
      statements:
        - Effect: Allow
          Action: lambda:InvokeFunction
          Resource:
            - arn:aws:lambda:${aws:region}:${aws:accountId}:function:${self:service}-${sls:stage}-h
            - !GetAtt HLambdaFunction.Arn
        - Effect: Allow
          Action: dynamodb:GetItem
          Resource: arn:aws:dynamodb:us-east-1:1:table/${env:TABLE}
        - Effect: Allow
          Action: sqs:SendMessage
          Resource: !Ref SomeQueue
functions:
  h:
    handler: app.main
    timeout: 20
    environment:
      ME: arn:aws:lambda:${aws:region}:${aws:accountId}:function:${self:service}-${sls:stage}-h
      OTHER: arn:aws:lambda:us-east-1:1:function:someone-else
"""
    got = _load(tmp_path, text)
    v = got.values
    assert (v["name"], v["runtime"], v["memory"], v["timeout"]) == (
        "chain-prod-h",
        "python3.13",
        256,
        20,
    )
    assert v["environment"] == {
        "ME": "${function_arn}",
        "OTHER": "arn:aws:lambda:us-east-1:1:function:someone-else",
    }
    assert v["iam_statements"] == (
        {"Effect": "Allow", "Action": "lambda:InvokeFunction",
         "Resource": ["${function_arn}", "${function_arn}"]},
        {"Effect": "Allow", "Action": "dynamodb:GetItem",
         "Resource": "arn:aws:dynamodb:us-east-1:1:table/orders"},
    )  # fmt: skip
    assert any("CloudFormation expression: left out" in n for n in got.notes)
    assert not any("could not be resolved" in n for n in got.notes)


def test_a_function_name_and_an_unresolved_variable(tmp_path: Path) -> None:
    text = """service: s
provider: {name: aws, runtime: nodejs22.x}
functions:
  f:
    name: my-own-${sls:stage}
    handler: index.handler
    environment:
      KEY: ${ssm:/secret/key}
"""
    got = _load(tmp_path, text)
    assert got.values["name"] == "my-own-dev"
    assert got.values["environment"] == {"KEY": "<ssm-/secret/key>"}
    assert "${ssm:/secret/key} could not be resolved (left as <ssm-/secret/key>)" in got.notes


def test_several_functions_need_a_choice(tmp_path: Path) -> None:
    text = (
        "service: s\nprovider: {name: aws}\nfunctions:\n  a: {handler: a.h}\n  b: {handler: b.h}\n"
    )
    with pytest.raises(UsageError) as err:
        _load(tmp_path, text)
    assert "declares 2 functions (a, b)" in err.value.message
    assert (
        err.value.hint
        == "write a recursectl.toml for one: recursectl init --from serverless.yml --function a"
    )
    assert _load(tmp_path, text, function="b").values["handler"] == "b.h"


def test_unreadable_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        _load(tmp_path, "service: s\nprovider:\n  name: aws\n   runtime: [\n")
    assert err.value.message.startswith("serverless.yml line 4: not valid YAML")


@pytest.mark.parametrize(
    ("declared", "expected"),
    [("nodejs12.x", "nodejs22.x"), ("nodejs22.x", "nodejs22.x"), ("nodejs30.x", "nodejs24.x"),
     ("python3.8", "python3.12"), ("go1.x", None)],
)  # fmt: skip
def test_nearest_runtime(declared: str, expected: str | None) -> None:
    # nodejs20.x is deprecated (2026-04-30) by the time these tests run.
    assert runtimes.nearest(declared, known=KNOWN) == expected


def test_logical_id() -> None:
    assert (
        serverless.logical_id("recursive-example_x")
        == "RecursiveDashexampleUnderscorexLambdaFunction"
    )


def test_an_existing_role_is_listed_as_not_applied(tmp_path: Path) -> None:
    text = (
        "service: s\nprovider:\n  name: aws\n  iam:\n    role: arn:aws:iam::1:role/theirs\n"
        "functions:\n  f: {handler: h.main}\n"
    )
    got = _load(tmp_path, text)
    assert (
        "not applied by recursectl: provider.iam.role (recursectl makes the function's own role)"
        in got.notes
    )
