"""12: `recursectl audit` of 1,000 functions on the local cloud: API calls and wall time.

The functions are created here with boto3 (a tiny zip each; the benchmark's own role lets
each invoke every `bench-audit-*` function, a wildcard, so every function is a self-invoker
and every rule has its input), with one Invocations and one Duration datapoint each. The
audit runs as the command runs it (`Scanner`, 8 workers, then the rules and the JSON
document), on fresh clients whose calls are counted.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections import Counter
from datetime import datetime, timedelta, timezone

from bench.cloud import LOCAL_RUNTIME
from bench.context import Context
from bench.harness import Row

PREFIX = "bench-audit-"


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def main(event, context):\n    return event\n")
    return buf.getvalue()


def _seed(ctx: Context, count: int) -> float:
    aws = ctx.cloud.new_aws()
    lam, iam, cw = aws.lambda_, aws.iam, aws.cloudwatch
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
    started = time.perf_counter()
    role = iam.create_role(RoleName="bench-audit", AssumeRolePolicyDocument=json.dumps(trust))
    account = role["Role"]["Arn"].split(":")[4]
    iam.put_role_policy(
        RoleName="bench-audit",
        PolicyName="invoke",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "lambda:InvokeFunction",
                        "Resource": f"arn:aws:lambda:{aws.region}:{account}:function:{PREFIX}*",
                    }
                ],
            }
        ),
    )
    code, now, data = _zip(), datetime.now(timezone.utc), []
    for i in range(count):
        name = f"{PREFIX}{i:05d}"
        lam.create_function(
            FunctionName=name,
            Runtime=LOCAL_RUNTIME,  # no "declared runtime differs" note per function
            Role=role["Role"]["Arn"],
            Handler="app.main",
            Code={"ZipFile": code},
        )
        dims = [{"Name": "FunctionName", "Value": name}]
        at = now - timedelta(days=2)
        data += [
            {"MetricName": "Invocations", "Dimensions": dims, "Value": 10.0, "Timestamp": at},
            {"MetricName": "Duration", "Dimensions": dims, "Value": 900.0, "Timestamp": at},
        ]
    for start in range(0, len(data), 1000):
        cw.put_metric_data(Namespace="AWS/Lambda", MetricData=data[start : start + 1000])
    return time.perf_counter() - started


def audit_scale(ctx: Context) -> list[Row]:
    from recursectl.audit import rules
    from recursectl.audit.facts import METRICS
    from recursectl.audit.report import Audit
    from recursectl.audit.scan import Scanner
    from recursectl.aws.cloudwatch import MetricQuery

    count = 40 if ctx.smoke else 1000
    seed_s = _seed(ctx, count)
    aws = ctx.cloud.new_aws()
    end = datetime.now(timezone.utc)
    start = end - timedelta(days=14)
    started = time.perf_counter()
    scan = Scanner(aws, start=start, end=end).run()
    found = rules.findings(scan.functions, days=14, flags=lambda r: ["--region", r])
    json.dumps(Audit([scan], start, end, found).as_json(), default=str)
    wall = time.perf_counter() - started
    scanned = len(scan.functions)
    calls = Counter(aws.calls)
    # What the local cloud's CloudWatch (moto) takes to answer the metric queries alone: it
    # scans every stored datapoint for each query, so this part is the local cloud's cost.
    queries = [MetricQuery(f.name, m) for f in scan.functions for m in METRICS]
    metric_started = time.perf_counter()
    aws.metrics_api.lambda_sums(queries, start=start, end=end)
    metrics_s = time.perf_counter() - metric_started
    by_api = ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in sorted(calls.items()))
    ctx.notes.append(
        f"audit: {scanned} functions on the local cloud ({count} created for it, in "
        f"{seed_s:.1f} s with boto3), {len(found)} findings; calls by API: {by_api}"
    )
    return [
        Row(f"12 audit of {scanned} functions", wall, "s", note=f"{len(found)} findings"),
        Row(f"12 audit API calls ({scanned} functions)", float(sum(calls.values())), "calls"),
        Row(f"12 GetMetricData alone ({len(queries)} queries)", metrics_s, "s", note="moto"),
        Row("12 audit time per function", wall / max(1, scanned) * 1000, "ms"),
    ]
