"""plan(): what deploy would do for each observed state (pure, no AWS)."""

from __future__ import annotations

import dataclasses

import pytest

from recursectl import plan as planner
from recursectl.errors import NotOursError
from recursectl.plan import Desired, FunctionState, LogGroupState, Observed, RoleState

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
        function=FunctionState(
            name=d.name,
            arn=d.function_arn,
            role=d.role_arn,
            runtime=d.runtime,
            handler=d.handler,
            memory=d.memory,
            timeout=d.timeout,
            env=d.env,
            code_sha256=d.code_sha256,
            code_size=d.code_size,
            tags={**OURS, planner.APPLIED_TAG: d.applied_stamp},
            concurrency=d.concurrency,
            state="Active",
            last_update_status="Successful",
            retries=0,
        ),
        role=RoleState(
            name=d.role_name,
            arn=d.role_arn,
            tags=dict(OURS),
            trust=planner.trust_document(),
            policy=d.policy,
        ),
        log_group=LogGroupState(name=d.log_group, retention=d.log_retention_days),
    )


def ops(p: planner.Plan) -> list[str]:
    return [s.op for s in p.steps]


def test_create_all() -> None:
    p = planner.plan(desired(), Observed())
    assert ops(p) == [
        "create_role",
        "put_policy",
        "create_log_group",
        "create_function",
        "put_invoke_config",
        "put_recursion",
        "stamp",
    ]


def test_unchanged_plans_nothing() -> None:
    d = desired()
    p = planner.plan(d, converged(d))
    assert p.steps == []
    assert p.unchanged
    assert p.warnings == []  # no recursion warning on a no-op deploy


def test_code_only_change() -> None:
    d = desired()
    p = planner.plan(dataclasses.replace(d, code_sha256="SHA-B"), converged(d))
    assert ops(p) == ["update_code"]


def test_config_only_change() -> None:
    d = desired()
    p = planner.plan(dataclasses.replace(d, memory=256, timeout=60), converged(d))
    assert ops(p) == ["update_config"]
    assert "memory 128 -> 256" in p.steps[0].detail
    assert "timeout 30 -> 60" in p.steps[0].detail


def test_code_then_config_in_that_order() -> None:
    d = desired()
    p = planner.plan(dataclasses.replace(d, code_sha256="SHA-B", memory=512), converged(d))
    assert ops(p) == ["update_code", "update_config"]


def test_cap_change_updates_env_and_recursion_config() -> None:
    d = desired(max_calls=25)
    p = planner.plan(dataclasses.replace(d, max_calls=10), converged(d))
    assert ops(p) == ["update_config", "put_recursion", "stamp"]
    assert "RECURSECTL_MAX_CALLS" in p.steps[0].detail
    assert p.steps[1].detail == "recursive loop Terminate"


def test_foreign_env_var_is_removed() -> None:
    d = desired()
    obs = converged(d)
    assert obs.function is not None
    fn = dataclasses.replace(obs.function, env={**d.env, "EXTRA": "1"})
    p = planner.plan(d, dataclasses.replace(obs, function=fn))
    assert ops(p) == ["update_config"]


@pytest.mark.parametrize(("max_calls", "mode"), [(15, "Terminate"), (16, "Allow")])
def test_recursion_config_threshold(max_calls: int, mode: str) -> None:
    p = planner.plan(desired(max_calls=max_calls), Observed())
    step = next(s for s in p.steps if s.op == "put_recursion")
    assert step.detail == f"recursive loop {mode}"
    warned = any("cap of" in w for w in p.warnings)
    assert warned is (mode == "Allow")


def test_not_ours_function_is_refused_and_adopt_takes_it_over() -> None:
    d = desired()
    obs = converged(d)
    assert obs.function is not None
    foreign = dataclasses.replace(
        obs, function=dataclasses.replace(obs.function, tags={"team": "x"})
    )
    with pytest.raises(NotOursError, match="Function demo exists but is not managed") as info:
        planner.plan(d, foreign)
    assert "--adopt" in (info.value.hint or "")
    p = planner.plan(dataclasses.replace(d, adopt=True), foreign)
    assert ops(p)[0] == "tag_function"
    assert "put_recursion" in ops(p)  # no stamp: re-apply the safety settings


def test_not_ours_role_is_refused() -> None:
    d = desired()
    obs = converged(d)
    assert obs.role is not None
    foreign = dataclasses.replace(obs, role=dataclasses.replace(obs.role, tags={}))
    with pytest.raises(NotOursError, match="IAM role demo-role"):
        planner.plan(d, foreign)
    assert ops(planner.plan(dataclasses.replace(d, adopt=True), foreign)) == ["tag_role"]


def test_retries_turned_back_on_elsewhere_are_switched_off_again() -> None:
    d = desired()
    obs = converged(d)
    assert obs.function is not None
    for retries in (None, 2):  # no config (AWS default: 2 retries), or set by hand
        drifted = dataclasses.replace(
            obs, function=dataclasses.replace(obs.function, retries=retries)
        )
        assert ops(planner.plan(d, drifted)) == ["put_invoke_config"]


def test_role_known_only_by_its_policy_is_ours_and_its_trust_is_not_checked() -> None:
    d = desired()
    obs = converged(d)
    assert obs.role is not None
    light = dataclasses.replace(obs, role=dataclasses.replace(obs.role, tags=None, trust=None))
    assert ops(planner.plan(d, light)) == []


def test_policy_drift_is_repaired() -> None:
    d = desired()
    obs = converged(d)
    assert obs.role is not None
    wide = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]}
    p = planner.plan(d, dataclasses.replace(obs, role=dataclasses.replace(obs.role, policy=wide)))
    assert [(s.op, s.action) for s in p.steps] == [("put_policy", "update")]


def test_retention_change() -> None:
    d = desired()
    p = planner.plan(dataclasses.replace(d, log_retention_days=30), converged(d))
    assert ops(p) == ["put_retention"]


def test_stopped_function_stays_stopped() -> None:
    d = desired(concurrency=5)
    obs = converged(d)
    assert obs.function is not None
    stopped = dataclasses.replace(obs, function=dataclasses.replace(obs.function, concurrency=0))
    p = planner.plan(d, stopped)
    assert "put_concurrency" not in ops(p)
    assert any("recursectl resume" in w for w in p.warnings)


def test_concurrency_is_set_when_configured() -> None:
    d = desired()
    p = planner.plan(dataclasses.replace(d, concurrency=3), converged(d))
    assert ops(p) == ["put_concurrency"]


def test_least_privilege_policy_document() -> None:
    doc = planner.policy_document(ARN, "/aws/lambda/demo")
    resources = [r for s in doc["Statement"] for r in s["Resource"]]
    assert resources == [
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/demo:*",
        ARN,
        f"{ARN}:*",
    ]
    actions = sorted(a for s in doc["Statement"] for a in s["Action"])
    assert actions == ["lambda:InvokeFunction", "logs:CreateLogStream", "logs:PutLogEvents"]


def test_same_document_ignores_string_vs_list() -> None:
    a = {"Statement": [{"Action": "x:Y", "Resource": "r"}]}
    b = {"Statement": [{"Action": ["x:Y"], "Resource": ["r"]}]}
    assert planner.same_document(a, b)
    assert not planner.same_document(a, {"Statement": [{"Action": ["x:Z"], "Resource": ["r"]}]})


def test_role_name_fits_iam_limit() -> None:
    assert planner.role_name_for("demo") == "demo-role"
    long = planner.role_name_for("f" * 64)
    assert len(long) <= 64
    assert long != planner.role_name_for("f" * 63 + "g")
