"""A function's desired state and what exists once it is deployed, for the plan tests."""

from __future__ import annotations

import dataclasses

from recursectl.aws.view import FunctionView, LogGroupView, RoleView
from recursectl.deploy import plan as planner
from recursectl.deploy.plan import Desired, Observed
from recursectl.names import APPLIED_TAG

ARN = "arn:aws:lambda:us-east-1:123456789012:function:demo"


ROLE_ARN = "arn:aws:iam::123456789012:role/demo-role"


OURS = {"managed-by": "recursectl"}


def desired(**kw: object) -> Desired:
    base = Desired(
        name="demo",
        function_arn=ARN,
        role_name="demo-role",
        role_arn=ROLE_ARN,
        log_group="/aws/lambda/demo",
        runtime="python3.13",
        handler="handler.handler",
        memory=128,
        timeout=30,
        max_calls=25,
        concurrency=None,
        log_retention_days=14,
        code_sha256="SHA-A",
        code_size=100,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def converged(d: Desired) -> Observed:
    """What exists after a successful deploy of `d`."""
    return Observed(
        function=FunctionView(
            name=d.name,
            arn=d.function_arn,
            role=d.role_arn,
            runtime=d.runtime,
            lambda_handler=d.lambda_handler,
            memory_mb=d.memory,
            timeout=d.timeout,
            env=d.env,
            code_sha256=d.code_sha256,
            code_size=d.code_size,
            log_group=d.log_group,
            tags={**d.tags, APPLIED_TAG: d.applied_stamp},
            concurrency=d.concurrency,
            state="Active",
            last_update_status="Successful",
            retries=0,
            architecture=d.architecture,
            layers=d.layers,
        ),
        role=RoleView(
            name=d.role_name,
            arn=d.role_arn,
            tags=dict(d.tags),
            trust=d.trust,
            policy=d.policy,
        ),
        log_group=LogGroupView(name=d.log_group, retention=d.log_retention_days, tags=d.tags),
    )


def ops(p: planner.Plan) -> list[str]:
    return [s.op for s in p.steps]
