"""AWS/Lambda metrics in the local CloudWatch (issue 23, item 11): what a function's
invocations publish, read back with boto3's GetMetricData and ListMetrics, as a dashboard, an
alarm or `recursectl audit` would."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.localcloud import NO_RETRY, Deploy, flush

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
HANDLER = """
import time
def handler(event, context):
    if event.get("fail"):
        raise ValueError("no")
    time.sleep(event.get("sleep", 0))
    return 1
"""


def _stat(cw: Any, metric: str, stat: str, dims: dict[str, str]) -> float | None:
    now = datetime.now(timezone.utc)
    got = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                    },
                    "Period": 60,
                    "Stat": stat,
                },
            }
        ],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
    )["MetricDataResults"][0]
    values = got["Values"]
    return sum(values) if stat in ("Sum", "SampleCount") else (max(values) if values else None)


def _trace_at(count: int, name: str) -> str:
    """A trace header whose Lineage says `name` ran `count` times in this chain already
    (what botocore forwards from inside a chain's 16th hop)."""
    key = f"{zlib.crc32((ARN + name).encode()):08x}"
    return f"Root=1-00000000-000000000000000000000000;Lineage={key}:{count}"


def test_invocations_publish_aws_lambda_metrics(endpoint: str, lam: Any, deploy: Deploy) -> None:
    deploy("metered", {"handler.py": HANDLER})
    lam.invoke(FunctionName="metered", Payload=b'{"sleep": 0.2}')
    lam.invoke(FunctionName="metered", Payload=b"{}")
    assert lam.invoke(FunctionName="metered", Payload=b'{"fail": true}')["FunctionError"]
    lam.publish_version(FunctionName="metered")
    lam.create_alias(FunctionName="metered", Name="live", FunctionVersion="1")
    lam.invoke(FunctionName="metered", Qualifier="live", Payload=b"{}")

    # loop detection: the 17th call of a chain is dropped
    looped = boto3.client("lambda", endpoint_url=endpoint, config=NO_RETRY)
    looped.meta.events.register(
        "before-sign.lambda.Invoke",
        lambda request, **_: request.headers.__setitem__(
            "X-Amzn-Trace-Id", _trace_at(16, "metered")
        ),
    )
    with pytest.raises(ClientError) as dropped:
        looped.invoke(FunctionName="metered", Payload=b"{}")
    assert dropped.value.response["Error"]["Code"] == "RecursiveInvocationException"

    # the kill switch: reserved concurrency 0 throttles
    lam.put_function_concurrency(FunctionName="metered", ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException) as throttled:
        lam.invoke(FunctionName="metered", Payload=b"{}")
    # each throttled attempt counts (botocore retried it RetryAttempts times)
    attempts = 1 + throttled.value.response["ResponseMetadata"]["RetryAttempts"]

    flush(endpoint)
    cw = boto3.client("cloudwatch", endpoint_url=endpoint)
    fn = {"FunctionName": "metered"}
    assert _stat(cw, "Invocations", "Sum", fn) == 4
    assert _stat(cw, "Errors", "Sum", fn) == 1
    assert _stat(cw, "Throttles", "Sum", fn) == attempts
    assert _stat(cw, "RecursiveInvocationsDropped", "Sum", fn) == 1
    assert _stat(cw, "Duration", "SampleCount", fn) == 4
    longest = _stat(cw, "Duration", "Maximum", fn)
    assert longest is not None
    assert longest >= 200  # the call that slept 0.2 s
    assert _stat(cw, "ConcurrentExecutions", "Maximum", fn) == 1
    alias = {"FunctionName": "metered", "Resource": "metered:live"}
    assert _stat(cw, "Invocations", "Sum", alias) == 1
    assert _stat(cw, "Invocations", "Sum", {**alias, "ExecutedVersion": "1"}) == 1

    listed = cw.list_metrics(Namespace="AWS/Lambda")["Metrics"]
    names = {m["MetricName"] for m in listed}
    assert {
        "Invocations",
        "Errors",
        "Throttles",
        "Duration",
        "ConcurrentExecutions",
        "RecursiveInvocationsDropped",
    } <= names
    dimension_sets = {
        tuple(sorted(d["Name"] for d in m["Dimensions"]))
        for m in listed
        if m["MetricName"] == "Invocations"
    }
    assert dimension_sets == {
        (),
        ("FunctionName",),
        ("FunctionName", "Resource"),
        ("ExecutedVersion", "FunctionName", "Resource"),
    }
