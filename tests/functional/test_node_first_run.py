"""A Node function's first run: building the runtime client is not the function's Init.

Building aws-lambda-ric with npm takes minutes on a new machine (200 s measured there) and
needs the registry, which tests may not reach: here the build is stood in for by a launch that
waits 3 s before it hands over the real command line (the one seam: the machine's client is
built already). The REPORT's Init Duration and Billed Duration must not contain that wait.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import boto3
import pytest

from recursectl import nodejs
from tests.support.localcloud import make_zip, wait_active, wait_for_events

BUILD_S = 3.0
HANDLER = "exports.handler = async () => 'ok';\n"


def test_the_runtime_client_build_is_neither_init_nor_billed(
    endpoint: str,
    lam: Any,
    logs: Any,
    node_ready: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = nodejs.launch

    def building(*args: Any, **kwargs: Any) -> nodejs.NodeLaunch:
        time.sleep(BUILD_S)  # npm building the client, first use only
        return real(*args, **kwargs)

    monkeypatch.setattr(nodejs, "launch", building)
    iam = boto3.client("iam", endpoint_url=endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName="firstnode-role", AssumeRolePolicyDocument=json.dumps(trust))
    lam.create_function(
        FunctionName="firstnode", Runtime="nodejs22.x", Role=role["Role"]["Arn"],
        Handler="index.handler", Code={"ZipFile": make_zip({"index.js": HANDLER})},
    )  # fmt: skip
    wait_active(lam, "firstnode")
    started = time.monotonic()
    out = lam.invoke(FunctionName="firstnode")
    waited = time.monotonic() - started
    assert out["Payload"].read() == b'"ok"'
    assert waited >= BUILD_S  # the caller did wait for the build...
    events = wait_for_events(
        endpoint,
        logs,
        "/aws/lambda/firstnode",
        lambda ev: any("REPORT" in e["message"] for e in ev),
    )
    report = next(e["message"] for e in events if e["message"].startswith("REPORT"))
    init = re.search(r"Init Duration: ([\d.]+) ms", report)
    billed = re.search(r"Billed Duration: (\d+) ms", report)
    assert init is not None, report
    assert billed is not None, report
    # ...but the function's Init and its bill are the worker's own start, not the build.
    assert float(init.group(1)) < BUILD_S * 1000, report
    assert int(billed.group(1)) < BUILD_S * 1000, report
