"""The audit's scan against the local cloud, with throttling injected at botocore's send (the
one seam the local cloud cannot reach on demand): a throttled read is retried on the scan's
schedule, on a fake clock, and the scan completes with nothing reported unavailable."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from recursectl.audit.scan import Scanner
from recursectl.aws import Aws, Target
from tests.support.clock import FakeClock
from tests.support.localcloud import NO_RETRY, make_zip


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def test_throttled_reads_are_retried_and_the_scan_completes(endpoint: str) -> None:
    lam = boto3.client("lambda", endpoint_url=endpoint, config=NO_RETRY)
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
    role = iam.create_role(RoleName="scan-role", AssumeRolePolicyDocument=json.dumps(trust))
    for i in range(3):
        lam.create_function(
            FunctionName=f"scan-{i}",
            Runtime=f"python{sys.version_info[0]}.{sys.version_info[1]}",
            Role=role["Role"]["Arn"],
            Handler="app.main",
            Code={"ZipFile": make_zip({"app.py": "def main(e, c):\n    return e\n"})},
        )
    clock = FakeClock()
    aws = Aws(
        Target(region="us-east-1", endpoint_url=endpoint, local=True),
        sleep=clock.sleep,
        clock=clock,
    )
    # One attempt per call in botocore, so each throttle reaches the scan's own retry.
    once = Config(retries={"total_max_attempts": 1})
    client = aws.session.client("lambda", endpoint_url=endpoint, config=once)
    aws._clients["lambda"] = client
    throttles = {"left": 4}

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        if throttles["left"] == 0:
            return None
        throttles["left"] -= 1
        headers = {"x-amzn-ErrorType": "TooManyRequestsException"}
        body = json.dumps({"Type": "User", "message": "Rate exceeded"}).encode()
        return AWSResponse(request.url, 429, headers, _Raw(body))

    client.meta.events.register("before-send.lambda.GetFunctionConcurrency", throttle)
    end = datetime.now(timezone.utc)
    scan = Scanner(aws, start=end - timedelta(days=1), end=end, workers=1).run()
    assert throttles["left"] == 0
    assert [f.name for f in scan.functions] == ["scan-0", "scan-1", "scan-2"]
    assert all(f.unavailable == {} for f in scan.functions)
    assert scan.unavailable == {}
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]  # one function's read, throttled 4 times
