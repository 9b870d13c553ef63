"""plan() and desired_state() of a job function ([job] table): the bucket step, the variables,
the retry path, the recursion config and the role's scope (pure, no AWS)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from recursectl import protocol
from recursectl.build.package import Package
from recursectl.deploy import plan as planner
from recursectl.deploy.desired import JobSpec, desired_state
from recursectl.deploy.plan import Observed
from recursectl.errors import UsageError
from recursectl.names import job_bucket_for
from recursectl.settings import Settings
from tests.support.plans import ARN, converged, desired, ops

JOB = JobSpec(bucket="recursectl-demo-abc", adopted=False)


def test_a_job_function_plans_its_bucket_before_the_function_and_allows_recursion() -> None:
    p = planner.plan(desired(job=JOB), Observed())
    assert ops(p) == [
        "create_role",
        "put_policy",
        "create_log_group",
        "ensure_counter",
        "ensure_job_bucket",  # before the function: its first hop may spill
        "create_function",
        "put_invoke_config",
        "put_recursion",
        "stamp",
    ]
    steps = {s.op: s for s in p.steps}
    assert "public access blocked, SSE-S3, expire recursectl/ after 14 days" in (
        steps["ensure_job_bucket"].detail
    )
    assert "on failure: itself" in steps["put_invoke_config"].detail
    assert steps["put_recursion"].detail == "recursive loop Allow"
    (warning,) = p.warnings
    assert "demo is a job function" in warning
    assert "max_hops 1000, max_seconds 21600" in warning


def test_a_job_function_with_a_small_cap_still_allows_recursion() -> None:
    assert desired(job=JOB, max_calls=5).recursion == "Allow"
    assert desired(max_calls=5).recursion == "Terminate"


def test_a_converged_job_function_plans_nothing() -> None:
    d = desired(job=JOB)
    observed = converged(d)
    fn = dataclasses.replace(observed.function, on_failure=ARN)  # type: ignore[arg-type]
    assert planner.plan(d, dataclasses.replace(observed, function=fn)).steps == []


def test_a_missing_self_destination_or_a_new_ttl_is_planned() -> None:
    d = desired(job=JOB)
    observed = converged(d)
    assert ops(planner.plan(d, observed)) == ["put_invoke_config"]  # no destination yet
    fn = dataclasses.replace(observed.function, on_failure=ARN)  # type: ignore[arg-type]
    longer = desired(job=dataclasses.replace(JOB, state_ttl_days=30))
    p = planner.plan(longer, dataclasses.replace(observed, function=fn))
    assert ops(p) == ["ensure_job_bucket", "stamp"]


def test_an_adopted_bucket_is_updated_not_created() -> None:
    d = desired(job=dataclasses.replace(JOB, adopted=True, bucket="team"))
    (step,) = [s for s in planner.plan(d, Observed()).steps if s.op == "ensure_job_bucket"]
    assert (step.action, step.name) == ("update", "team")
    assert step.detail.startswith("job state: adopt it")


def test_the_env_and_policy_of_a_job_function() -> None:
    d = desired(job=dataclasses.replace(JOB, max_hops=50, max_cost=1.5, margin_ms=800))
    assert d.env[protocol.JOB_BUCKET_ENV] == "recursectl-demo-abc"
    assert d.env[protocol.JOB_BOUNDS_ENV] == '{"max_hops":50,"max_seconds":21600,"max_cost":1.5}'
    assert d.env[protocol.JOB_MARGIN_ENV] == "800"
    sids = {s.get("Sid"): s for s in d.policy["Statement"]}
    assert sids["JobState"]["Resource"] == ["arn:aws:s3:::recursectl-demo-abc/recursectl/demo/*"]
    assert sids["KeepOwnJobs"]["Action"] == ["dynamodb:GetItem", "dynamodb:PutItem"]
    plain = desired()
    assert protocol.JOB_BUCKET_ENV not in plain.env
    assert "JobState" not in {s.get("Sid") for s in plain.policy["Statement"]}


def _package() -> Package:
    return Package(
        zip_bytes=b"",
        code_sha256="SHA",
        handler="handler.handler",
        files=(),
        entry_point=protocol.ENTRY_POINT,
    )


def test_desired_state_names_the_bucket_from_the_account_region_and_name() -> None:
    d = desired_state(Settings(name="demo", job=True), _package(), ARN)
    assert d.job is not None
    assert d.job.bucket == job_bucket_for("demo", "123456789012", "us-east-1")
    assert not d.job.adopted
    assert json.loads(d.env[protocol.JOB_BOUNDS_ENV]) == {"max_hops": 1000, "max_seconds": 21600}
    adopted = desired_state(Settings(name="demo", job=True, job_bucket="team-b"), _package(), ARN)
    assert adopted.job is not None
    assert (adopted.job.bucket, adopted.job.adopted) == ("team-b", True)
    assert desired_state(Settings(name="demo"), _package(), ARN).job is None


def test_a_margin_at_or_above_the_timeout_is_refused() -> None:
    settings = Settings(name="demo", job=True, timeout=3, job_margin_ms=3000)
    with pytest.raises(UsageError, match=r"job.margin_ms \(3000\) must be below the timeout"):
        desired_state(settings, _package(), ARN)


def test_a_job_without_the_guard_is_refused() -> None:
    pkg = dataclasses.replace(_package(), entry_point=None)
    with pytest.raises(UsageError, match="A job function needs recursectl's guard"):
        desired_state(Settings(name="demo", job=True), pkg, ARN)


def test_a_bucket_gone_since_the_stamp_is_created_again() -> None:
    d = desired(job=JOB)
    observed = converged(d)
    fn = dataclasses.replace(observed.function, on_failure=ARN)  # type: ignore[arg-type]
    gone = dataclasses.replace(observed, function=fn, job_bucket_gone=True)
    (step,) = planner.plan(d, gone).steps
    assert (step.op, step.action, step.name) == ("ensure_job_bucket", "create", JOB.bucket)
    assert "the bucket is gone" in step.detail
    adopted = desired(job=dataclasses.replace(JOB, adopted=True))
    (step,) = planner.plan(adopted, gone).steps
    assert (step.op, step.action) == ("ensure_job_bucket", "update")  # apply says it is gone
