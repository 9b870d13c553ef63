"""plan(): what deploy would do for each observed state (pure, no AWS)."""

from __future__ import annotations

import dataclasses

import pytest

from recursectl import protocol
from recursectl.aws.view import LogGroupView
from recursectl.deploy import apply
from recursectl.deploy import plan as planner
from recursectl.deploy.plan import Observed, Op
from recursectl.errors import NotOursError
from recursectl.names import APPLIED_TAG, PROJECT_TAG, trust_document
from tests.support.plans import ARN, OURS, converged, desired, ops


def test_create_all() -> None:
    p = planner.plan(desired(), Observed())
    assert ops(p) == [
        "create_role",
        "put_policy",
        "create_log_group",
        "ensure_counter",  # before the function: its first invocation finds its counter
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


def test_log_format_is_a_config_change_only_when_asked_for() -> None:
    d = desired()
    observed = converged(d)  # a function in Lambda's default format, Text
    assert planner.plan(d, observed).steps == []  # log_format unset: left as it is
    p = planner.plan(dataclasses.replace(d, log_format="JSON"), observed)
    assert ops(p) == ["update_config"]
    assert "log format Text -> JSON" in p.steps[0].detail
    assert observed.function is not None
    json_fn = dataclasses.replace(observed.function, log_format="JSON")
    now_json = dataclasses.replace(observed, function=json_fn)
    assert planner.plan(dataclasses.replace(d, log_format="JSON"), now_json).steps == []
    # Back to Text only when asked: a function switched to JSON outside recursectl stays so.
    assert planner.plan(d, now_json).steps == []
    p = planner.plan(dataclasses.replace(d, log_format="Text"), now_json)
    assert "log format JSON -> Text" in p.steps[0].detail


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
    warned = any("is now what stops a loop" in w for w in p.warnings)
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
    assert ops(p)[:2] == ["ensure_counter", "tag_function"]
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


@pytest.mark.parametrize("retention", [None, 7])
def test_a_log_group_we_do_not_own_keeps_its_retention(retention: int | None) -> None:
    d = desired()
    obs = converged(d)
    foreign = LogGroupView(name=d.log_group, retention=retention, tags={})
    p = planner.plan(d, dataclasses.replace(obs, log_group=foreign))
    assert ops(p) == []
    (warning,) = p.warnings
    before = "never expire" if retention is None else "7 days"
    assert f"retention ({before}) is left as it is" in warning


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


def test_the_guard_redirects_the_handler_and_names_the_users_in_the_env() -> None:
    d = desired(handler="app.main", max_invocations=500, generation=3)
    assert d.lambda_handler == protocol.ENTRY_POINT == "recursectl_chain.handler"
    assert d.env == {
        protocol.SELF_ARN_ENV: ARN,
        protocol.MAX_CALLS_ENV: "25",
        protocol.MAX_INVOCATIONS_ENV: "500",
        protocol.HANDLER_ENV: "app.main",
        protocol.COUNTER_TABLE_ENV: "demo-recursectl-chains",
        protocol.GENERATION_ENV: "3",
    }
    (create,) = [s for s in planner.plan(d, Observed()).steps if s.op == Op.CREATE_FUNCTION]
    assert "handler app.main" in create.detail
    assert "guard recursectl_chain.handler" in create.detail
    assert "budget 500" in create.detail


def test_without_the_guard_the_handler_is_the_users_and_loop_detection_stays_on() -> None:
    d = desired(guarded=False, max_calls=25)
    assert d.lambda_handler == "handler.handler"
    assert protocol.HANDLER_ENV not in d.env
    p = planner.plan(d, Observed())
    assert next(s for s in p.steps if s.op == Op.PUT_RECURSION).detail == (
        "recursive loop Terminate"
    )
    (warning,) = p.warnings
    assert "max_calls 25 cannot be honoured" in warning
    assert "16" in warning


def test_switching_the_guard_on_is_a_config_change_that_names_it() -> None:
    old = desired(guarded=False, max_calls=10)
    new = dataclasses.replace(old, guarded=True)
    p = planner.plan(new, converged(old))
    # 10 < 16: Terminate either way; the guard brings its counter (table, permission, stamp)
    assert ops(p) == ["put_policy", "ensure_counter", "update_config", "stamp"]
    assert "CountOwnChains" in str(new.policy)
    assert "guard off -> on" in p.steps[2].detail
    assert "handler" not in p.steps[2].detail.split(";")[0].split()[0:1]


def test_a_function_of_another_project_is_refused_and_adopt_takes_it() -> None:
    mine = desired(project="alpha")
    theirs = converged(desired(project="beta"))
    with pytest.raises(NotOursError, match="belongs to recursectl project 'beta'") as info:
        planner.plan(mine, theirs)
    assert "--adopt" in (info.value.hint or "")
    p = planner.plan(dataclasses.replace(mine, adopt=True), theirs)
    assert "tag_function" in ops(p)
    assert "tag_role" in ops(p)


def test_a_deploy_without_a_project_cannot_take_a_projects_function() -> None:
    with pytest.raises(NotOursError, match="not to a deploy without a project"):
        planner.plan(desired(project=None), converged(desired(project="beta")))


def test_an_unclaimed_function_of_ours_is_claimed_for_the_project() -> None:
    p = planner.plan(desired(project="alpha"), converged(desired(project=None)))
    assert ops(p) == ["tag_role", "tag_function"]
    assert all(s.detail == "project alpha" for s in p.steps)
    assert desired(project="alpha").tags == {**OURS, PROJECT_TAG: "alpha"}


def test_an_older_trust_policy_gets_the_source_account_condition() -> None:
    d = desired()
    obs = converged(d)
    assert obs.role is not None
    assert obs.function is not None
    old_trust = trust_document("123456789012")
    del old_trust["Statement"][0]["Condition"]
    stale = dataclasses.replace(
        obs,
        role=dataclasses.replace(obs.role, trust=old_trust),
        function=dataclasses.replace(obs.function, tags={**OURS, APPLIED_TAG: "recursion:Allow"}),
    )
    assert ops(planner.plan(d, stale)) == ["update_trust", "ensure_counter", "stamp"]
    assert planner.trust_is_current(converged(d).function)
    assert not planner.trust_is_current(stale.function)


def test_the_stamp_records_recursion_and_trust_revision() -> None:
    assert desired().applied_stamp == "recursion:Allow/trust:2/counter:demo-recursectl-chains"
    assert desired(guarded=False).applied_stamp == "recursion:Terminate/trust:2"
    assert planner.stamp_parts("recursion:Allow/trust:2") == {"recursion": "Allow", "trust": "2"}
    assert planner.stamp_parts(None) == {}


def test_every_op_has_exactly_one_apply_function() -> None:
    assert set(apply.APPLY) == set(Op)
    assert len(set(apply.APPLY.values())) == len(Op)


def test_steps_serialise_their_op_by_name() -> None:
    step = planner.plan(desired(), Observed()).steps[0]
    assert step.to_json()["op"] == "create_role"
    assert step.op == "create_role"  # a str enum: comparable to its name


# issue 9: environment, architecture, layers, IAM additions -------------------------------------
def test_converged_with_environment_layers_arm64_and_iam_is_unchanged() -> None:
    d = desired(
        environment={"LOG_LEVEL": "info"},
        architecture="arm64",
        layers=("arn:aws:lambda:us-east-1:123456789012:layer:x:1",),
        extra_statements=({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},),
    )
    assert planner.plan(d, converged(d)).steps == []
    assert d.env["LOG_LEVEL"] == "info"
    assert d.env["RECURSECTL_ENV_NAMES"] == "LOG_LEVEL"
    assert d.policy["Statement"][-1]["Action"] == "s3:GetObject"


def test_variables_set_outside_are_kept_and_named_or_pruned() -> None:
    before = desired()
    kept = desired(kept_env={"THEIRS": "x"})
    p = planner.plan(kept, converged(before))
    assert kept.env["THEIRS"] == "x"
    assert any("THEIRS" in w and "--prune-env" in w for w in p.warnings)
    pruned = desired(pruned_env=("THEIRS",))
    observed = converged(kept)
    (step,) = [s for s in planner.plan(pruned, observed).steps if s.op == "update_config"]
    assert "removes THEIRS" in step.detail


def test_architecture_changes_with_the_code_and_layers_with_the_config() -> None:
    d = desired()
    arm = desired(architecture="arm64")
    (step,) = planner.plan(arm, converged(d)).steps
    assert step.op == "update_code"
    assert "architecture x86_64 -> arm64" in step.detail
    layered = desired(layers=("arn:aws:lambda:us-east-1:123456789012:layer:x:1",))
    (step,) = planner.plan(layered, converged(d)).steps
    assert (step.op, step.detail) == ("update_config", "layers 0 -> 1")


def test_managed_policies_are_attached_when_missing() -> None:
    arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    d = desired(managed_policies=(arn,))
    observed = converged(d)
    role = dataclasses.replace(observed.role, attached=())  # type: ignore[arg-type]
    steps = planner.plan(d, dataclasses.replace(observed, role=role)).steps
    assert [(s.op, s.detail) for s in steps] == [("attach_policy", f"attach {arn}")]
    role = dataclasses.replace(role, attached=(arn,))
    assert planner.plan(d, dataclasses.replace(observed, role=role)).steps == []
