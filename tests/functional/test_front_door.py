from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError


def test_recursion_config_roundtrip(endpoint: str) -> None:
    lam = boto3.client("lambda", endpoint_url=endpoint)
    assert lam.get_function_recursion_config(FunctionName="f")["RecursiveLoop"] == "Terminate"
    lam.put_function_recursion_config(FunctionName="f", RecursiveLoop="Allow")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    assert lam.get_function_recursion_config(FunctionName=arn)["RecursiveLoop"] == "Allow"


def test_recursion_config_rejects_bad_value_with_aws_error_name(endpoint: str) -> None:
    lam = boto3.client("lambda", endpoint_url=endpoint)
    with pytest.raises(ClientError) as info:
        lam.put_function_recursion_config(FunctionName="f", RecursiveLoop="Sometimes")
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_other_services_reach_moto(endpoint: str) -> None:
    sts = boto3.client("sts", endpoint_url=endpoint)
    assert sts.get_caller_identity()["Account"] == "123456789012"
    logs = boto3.client("logs", endpoint_url=endpoint)
    logs.create_log_group(logGroupName="/aws/lambda/f")
    names = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    assert names == ["/aws/lambda/f"]
