"""Which variables a handler reads its own function name or ARN from (recursectl.build.selfarn)."""

from __future__ import annotations

import pytest

from recursectl.build import selfarn


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # the SDK v3 with the variable as FunctionName
        (
            "const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');\n"
            "await lambda.send(new InvokeCommand({ FunctionName: process.env.SELF_ARN,\n"
            "  InvocationType: 'Event', Payload: p }));\n",
            ["SELF_ARN"],
        ),
        # through a local name, any variable name
        (
            "const target = process.env['NEXT_HOP'];\n"
            "const tableArn = process.env.TABLE_ARN;\n"
            "await client.send(new InvokeCommand({FunctionName: target, Payload: p}));\n",
            ["NEXT_HOP"],
        ),
        # destructured, and named like the function's own ARN near an invoke
        (
            "const { FUNCTION_ARN, REGION } = process.env;\n"
            "lambda.send(new InvokeCommand({ FunctionName: arn }));\n",
            ["FUNCTION_ARN"],
        ),
        # Lambda's own variable is Lambda's to set
        (
            "lambda.send(new InvokeCommand({FunctionName: process.env.AWS_LAMBDA_FUNCTION_NAME}))",
            [],
        ),
        # no invoke: an ARN variable is somebody else's
        ("const arn = process.env.SELF_ARN;\nconsole.log(arn);\n", []),
    ],
)
def test_node(source: str, expected: list[str]) -> None:
    assert selfarn.find(source, "node") == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "import os, boto3\n"
            "def handler(event, context):\n"
            "    boto3.client('lambda').invoke(FunctionName=os.environ['SELF_ARN'],\n"
            "        InvocationType='Event', Payload=b'{}')\n",
            ["SELF_ARN"],
        ),
        (
            "import os\nME = os.environ.get('WHO_AM_I', '')\nBUCKET_ARN = os.getenv('BUCKET_ARN')\n"
            "def handler(event, context):\n    lam.invoke(FunctionName=ME, Payload=b'{}')\n",
            ["WHO_AM_I"],
        ),
        (
            "from os import environ\nname = environ['MY_FUNCTION_NAME']\n"
            "client.invoke(FunctionName=name)\n",
            ["MY_FUNCTION_NAME"],
        ),
        ("import os\nos.environ['RECURSECTL_SELF_ARN']\nlam.invoke(FunctionName=x)\n", []),
        ("import os\nTABLE = os.environ['TABLE_ARN']\nlam.invoke(FunctionName=t)\n", []),
        # A name built at run time: the scan reads only "_", which Lambda would refuse as a key.
        (
            "import os\nlam.invoke(FunctionName=os.environ.get('_'.join(['SELF', 'ARN'])))\n",
            [],
        ),
    ],
)
def test_python(source: str, expected: list[str]) -> None:
    assert selfarn.find(source, "python") == expected


def test_scan_names_the_file_and_skips_dependencies() -> None:
    files = {
        "handler.js": b"lambda.send(new InvokeCommand({FunctionName: process.env.SELF_ARN}))",
        "node_modules/x/index.js": b"x.invoke({FunctionName: process.env.OTHER_ARN})",
        "data.json": b"{}",
    }
    assert selfarn.scan(files) == {"SELF_ARN": "handler.js"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("SELF_ARN", True),
        ("SELF", True),
        ("FUNCTION_ARN", True),
        ("LAMBDA_NAME", True),
        ("MY_FN_ARN", True),
        ("TABLE_ARN", False),
        ("FUNCTION_TIMEOUT", False),
        ("QUEUE_NAME", False),
    ],
)
def test_looks_like_self(name: str, expected: bool) -> None:
    assert selfarn.looks_like_self(name) is expected
