"""The job bucket's name: generated within S3's rules, deterministic; bucket names checked."""

from __future__ import annotations

import pytest

from recursectl.names import bucket_name_problem, job_bucket_for


def test_the_generated_bucket_is_a_valid_deterministic_name_per_account_region_function() -> None:
    name = job_bucket_for("My_Long_Function_Name" * 3, "123456789012", "eu-west-1")
    assert bucket_name_problem(name) is None
    assert len(name) <= 63
    assert name.startswith("recursectl-my-long-function-name")
    assert name == job_bucket_for("My_Long_Function_Name" * 3, "123456789012", "eu-west-1")
    assert name != job_bucket_for("My_Long_Function_Name" * 3, "123456789012", "us-east-1")
    assert job_bucket_for("Fn", "1", "r") != job_bucket_for("fn", "1", "r")  # names differ
    assert bucket_name_problem(job_bucket_for("___", "1", "r")) is None


@pytest.mark.parametrize(
    "name", ["ab", "A-bucket", "bucket_", "-bucket", "a..b", "a.-b", "10.0.0.1", "xn--abc"]
)
def test_invalid_bucket_names_are_named(name: str) -> None:
    assert bucket_name_problem(name)


@pytest.mark.parametrize("name", ["abc", "my.jobs-bucket-1", "a" * 63])
def test_valid_bucket_names_pass(name: str) -> None:
    assert bucket_name_problem(name) is None
