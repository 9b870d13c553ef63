"""The minimal IAM policy `recursectl audit` needs (`audit --print-policy`): reads only."""

from __future__ import annotations

from typing import Any

LAMBDA_READS = (
    "lambda:ListFunctions",
    "lambda:GetFunctionRecursionConfig",
    "lambda:GetFunctionConcurrency",
    "lambda:GetFunctionEventInvokeConfig",
)
IAM_READS = (
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
)
METRIC_READS = ("cloudwatch:GetMetricData",)
REGION_READS = ("ec2:DescribeRegions",)  # --all-regions: the regions enabled for the account


def policy() -> dict[str, Any]:
    """Every action is a read; ListFunctions, GetMetricData and DescribeRegions take no
    resource, and the rest are read for every function and role, so `*` throughout."""

    def stmt(sid: str, actions: tuple[str, ...]) -> dict[str, Any]:
        return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": "*"}

    return {
        "Version": "2012-10-17",
        "Statement": [
            stmt("AuditReadFunctions", LAMBDA_READS),
            stmt("AuditReadRolePolicies", IAM_READS),
            stmt("AuditReadMetrics", METRIC_READS),
            stmt("AuditListRegions", REGION_READS),
        ],
    }
