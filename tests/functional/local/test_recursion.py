"""Recursive loop detection as AWS does it, with the real template handler and chain helper."""

from __future__ import annotations

from typing import Any

import pytest

from recursectl.local.engine.executor import lineage_key
from tests.support.localcloud import (
    TEMPLATES,
    Deploy,
    chain_records,
    local_status,
    wait_for_events,
)


def _template() -> dict[str, str]:
    return {
        name: (TEMPLATES / name).read_text(encoding="utf-8")
        for name in ("handler.py", "recursectl_chain.py")
    }


def _deploy_chain(deploy: Deploy, lam: Any, name: str) -> None:
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    deploy(name, _template(), env={"RECURSECTL_SELF_ARN": arn, "RECURSECTL_MAX_CALLS": "30"})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)


def test_terminate_stops_the_chain_at_16_and_records_the_drop(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    _deploy_chain(deploy, lam, "loop")
    root = lam.invoke(FunctionName="loop", InvocationType="Event", Payload=b'{"numberOfCalls": 20}')
    root_id = root["ResponseMetadata"]["RequestId"]

    # The drop and the hops are written to different streams, each batched on its own, and
    # a hop's child marker can be flushed after its hop marker: wait for everything read below
    # (the drop, 16 hops, and the deepest hop's child).
    def complete(ev: list[dict[str, Any]]) -> bool:
        deepest = {h["req"] for h in chain_records(ev, "hop") if h["depth"] == 15}
        return (
            bool(chain_records(ev, "dropped"))
            and len(chain_records(ev, "hop")) >= 16
            and any(c["req"] in deepest for c in chain_records(ev, "child"))
        )

    events = wait_for_events(endpoint, logs, "/aws/lambda/loop", complete)
    (dropped,) = chain_records(events, "dropped")
    assert dropped["reason"] == "RecursiveInvocationException"
    assert dropped["chain"] == root_id
    hops = chain_records(events, "hop")
    assert sorted(h["depth"] for h in hops) == list(range(16))
    deepest = next(h for h in hops if h["depth"] == 15)
    assert dropped["parent"] == deepest["req"]
    # the 16th hop announced the child that was then dropped
    (child,) = [c for c in chain_records(events, "child") if c["req"] == deepest["req"]]
    assert child["child"] == dropped["req"]
    drop_streams = {e["logStreamName"] for e in events if "dropped" in e["message"]}
    assert drop_streams == {"recursectl-local/drops"}
    (function,) = local_status(endpoint)["functions"]
    assert function["drops"] == {"RecursiveInvocationException": 1}


def test_allow_lets_the_chain_run_to_the_end(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    _deploy_chain(deploy, lam, "loop")
    lam.put_function_recursion_config(FunctionName="loop", RecursiveLoop="Allow")
    lam.invoke(FunctionName="loop", InvocationType="Event", Payload=b'{"numberOfCalls": 17}')
    events = wait_for_events(
        endpoint, logs, "/aws/lambda/loop", lambda ev: len(chain_records(ev, "hop")) >= 18
    )
    assert sorted(h["depth"] for h in chain_records(events, "hop")) == list(range(18))
    assert not chain_records(events, "dropped")


def test_sync_caller_gets_recursive_invocation_exception(lam: Any, deploy: Deploy) -> None:
    deploy("f", {"handler.py": "def handler(e, c):\n    return 1\n"})
    deep = "Root=1-5e34a614-10bd2b7a3f1e4c1b2a3d4e5f;Parent=53995c3f42cd8ad8;Sampled=0"
    arn_key = lineage_key("arn:aws:lambda:us-east-1:123456789012:function:f")

    def with_trace(lineage: int) -> Any:
        def add(request: Any, **_: Any) -> None:
            request.headers["X-Amzn-Trace-Id"] = f"{deep};Lineage={arn_key}:{lineage}"

        lam.meta.events.register_first("before-sign.lambda.Invoke", add)
        try:
            return lam.invoke(FunctionName="f", Payload=b"{}")
        finally:
            lam.meta.events.unregister("before-sign.lambda.Invoke", add)

    assert with_trace(15)["StatusCode"] == 200  # the 16th invocation still runs
    with pytest.raises(lam.exceptions.RecursiveInvocationException):
        with_trace(16)
