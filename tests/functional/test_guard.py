"""The guard on the local cloud (real workers under awslambdaric), with handlers that know
nothing of recursectl: the function's Handler is the helper's entry point and the user's
handler is named in RECURSECTL_HANDLER, as `recursectl deploy` sets them up."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.localcloud import TEMPLATES, Deploy, chain_records, wait_for_events

# A bound, not a speed check: on a loaded 2-core machine a cold start alone can take 6 s.
CHAIN_TIMEOUT_S = 120.0
ACCOUNT = "123456789012"
HELPER = (TEMPLATES / "recursectl_chain.py").read_text(encoding="utf-8")

# Invokes itself once per hop, each hop naming the function in the next of event["forms"].
PLAIN = """
import json
import boto3

client = boto3.client("lambda")  # the local cloud's AWS_ENDPOINT_URL, Lambda's credentials

def handler(event, context):
    print("ran", json.dumps(event, sort_keys=True))
    forms = event.get("forms", [])
    if forms:
        name, qualifier = forms[0]
        name = name.replace("{name}", context.function_name)
        name = name.replace("{arn}", context.invoked_function_arn)
        extra = {"Qualifier": qualifier} if qualifier else {}
        client.invoke(FunctionName=name, InvocationType="Event",
                      Payload=json.dumps({"forms": forms[1:]}), **extra)
    if "other" in event:
        client.invoke(FunctionName=event["other"], InvocationType="Event", Payload=b'{"x": 1}')
    return {"ok": True}
"""

# A self-invoker with no end condition at all: `fanout` children per hop, forever.
RUNAWAY = """
import json, os
import boto3

client = boto3.client("lambda")

def handler(event, context):
    for _ in range(int(os.environ.get("FANOUT", "1"))):
        client.invoke(FunctionName=context.function_name, InvocationType="Event",
                      Payload=json.dumps(event))
"""

ECHO = """
import json

def handler(event, context):
    print("echo", json.dumps(event, sort_keys=True))
"""


def _arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


def _guarded(
    deploy: Deploy,
    lam: Any,
    name: str,
    source: str,
    *,
    handler: str = "handler.handler",
    env: dict[str, str] | None = None,
    allow: bool = False,
) -> None:
    """Deploy `source` as handler.py behind the entry point, as `recursectl deploy` does."""
    variables = {
        "RECURSECTL_HANDLER": handler,
        "RECURSECTL_SELF_ARN": _arn(name),
        "RECURSECTL_MAX_CALLS": "25",
        "RECURSECTL_GENERATION": "0",
        **(env or {}),
    }
    files = {"handler.py": source, "recursectl_chain.py": HELPER}
    deploy(name, files, handler="recursectl_chain.handler", env=variables)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    if allow:  # AWS's loop detection off: our guard is the only one
        lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")


def _lines(events: list[dict[str, Any]], prefix: str) -> list[str]:
    return [e["message"].rstrip("\n") for e in events if e["message"].startswith(prefix)]


# Every form Lambda accepts for "this function" (hop i uses form i).
SELF_FORMS: list[tuple[str, str | None]] = [
    ("{name}", None),  # context.function_name
    ("guarded", "live"),  # name + Qualifier (an alias)
    ("guarded:live", None),
    ("guarded:1", None),  # a version
    ("guarded:$LATEST", None),
    (f"{ACCOUNT}:function:guarded", None),  # partial ARN
    (f"{ACCOUNT}:function:guarded:live", None),
    (_arn("guarded"), None),
    (f"{_arn('guarded')}:live", None),
    (f"{_arn('guarded')}:$LATEST", "$LATEST"),
    ("{arn}", None),  # context.invoked_function_arn (qualified when invoked by alias)
]


def test_every_name_form_of_this_function_carries_the_chain(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    _guarded(deploy, lam, "guarded", PLAIN)
    lam.publish_version(FunctionName="guarded")
    lam.create_alias(FunctionName="guarded", Name="live", FunctionVersion="1")
    root = lam.invoke(
        FunctionName="guarded", InvocationType="Event", Payload=json.dumps({"forms": SELF_FORMS})
    )["ResponseMetadata"]["RequestId"]
    n = len(SELF_FORMS)
    events = wait_for_events(
        endpoint,
        logs,
        "/aws/lambda/guarded",
        lambda ev: len(chain_records(ev, "hop")) > n,
        timeout=CHAIN_TIMEOUT_S,
    )
    hops = {h["depth"]: h for h in chain_records(events, "hop")}
    children = {c["req"]: c for c in chain_records(events, "child")}
    assert sorted(hops) == list(range(n + 1))
    assert hops[0]["chain"] == root
    for depth, form in enumerate(SELF_FORMS):
        parent, child = hops[depth], hops[depth + 1]
        assert (child["chain"], child["parent"]) == (root, parent["req"]), form
        announced = children[parent["req"]]
        assert (announced["child"], announced["depth"]) == (child["req"], depth + 1), form
    # The user's handler never sees the context key.
    assert all("_recursectl" not in line for line in _lines(events, "ran "))


def test_invokes_of_other_functions_pass_untouched(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    deploy("other", {"handler.py": ECHO})
    _guarded(deploy, lam, "guarded", PLAIN)
    lam.invoke(FunctionName="guarded", InvocationType="Event", Payload=b'{"other": "other"}')
    events = wait_for_events(
        endpoint,
        logs,
        "/aws/lambda/other",
        lambda ev: bool(_lines(ev, "echo ")),
        timeout=CHAIN_TIMEOUT_S,
    )
    assert _lines(events, "echo ") == ['echo {"x": 1}']
    mine = wait_for_events(
        endpoint, logs, "/aws/lambda/guarded", lambda ev: bool(_lines(ev, "REPORT"))
    )
    assert len(chain_records(mine, "hop")) == 1
    assert not chain_records(mine, "child")


def test_a_self_invoker_that_never_stops_is_stopped_at_the_cap(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    _guarded(deploy, lam, "runaway", RUNAWAY, env={"RECURSECTL_MAX_CALLS": "20"}, allow=True)
    lam.invoke(FunctionName="runaway", InvocationType="Event", Payload=b"{}")
    events = wait_for_events(
        endpoint,
        logs,
        "/aws/lambda/runaway",
        lambda ev: bool(chain_records(ev, "capped")) and len(_lines(ev, "REPORT")) >= 21,
        timeout=CHAIN_TIMEOUT_S,
    )
    assert sorted(h["depth"] for h in chain_records(events, "hop")) == list(range(21))
    (capped,) = chain_records(events, "capped")
    assert (capped["reason"], capped["depth"], capped["max"]) == ("depth", 20, 20)
    (error,) = [line for line in _lines(events, "[ERROR]") if "DepthCapReached" in line]
    assert "depth 21" in error
    assert "RECURSECTL_MAX_CALLS" in error


def test_a_fanning_out_self_invoker_is_stopped_at_the_budget(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    env = {"RECURSECTL_MAX_INVOCATIONS": "20", "FANOUT": "2"}
    _guarded(deploy, lam, "runaway", RUNAWAY, env=env, allow=True)
    lam.invoke(FunctionName="runaway", InvocationType="Event", Payload=b"{}")
    events = wait_for_events(
        endpoint,
        logs,
        "/aws/lambda/runaway",
        # Every hop ends refused (its budget spent): 20 hops, each with its REPORT.
        lambda ev: len(chain_records(ev, "capped")) >= 20 and len(_lines(ev, "REPORT")) >= 20,
        timeout=CHAIN_TIMEOUT_S,
    )
    assert len(chain_records(events, "hop")) == 20  # the whole budget, not one more
    assert {c["reason"] for c in chain_records(events, "capped")} == {"budget"}
    assert any("BudgetExhausted" in line for line in _lines(events, "[ERROR]"))


def test_a_chain_from_before_stop_never_goes_a_hop_deeper(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    _guarded(deploy, lam, "guarded", PLAIN)
    # `recursectl stop` then `resume`: the generation is raised, the function runs again.
    variables = lam.get_function_configuration(FunctionName="guarded")["Environment"]["Variables"]
    lam.update_function_configuration(
        FunctionName="guarded",
        Environment={"Variables": {**variables, "RECURSECTL_GENERATION": "1"}},
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName="guarded")
    # An event of a chain that started before the stop, as Lambda kept it queued.
    old = {"forms": [["{name}", None]], "_recursectl": {"chain": "old", "parent": "p", "depth": 4}}
    result = lam.invoke(FunctionName="guarded", Payload=json.dumps(old).encode())
    assert "FunctionError" not in result
    assert json.loads(result["Payload"].read()) is None
    events = wait_for_events(
        endpoint, logs, "/aws/lambda/guarded", lambda ev: bool(_lines(ev, "REPORT"))
    )
    (stopped,) = chain_records(events, "stopped")
    assert (stopped["chain"], stopped["depth"], stopped["gen"]) == ("old", 4, 0)
    assert not _lines(events, "ran ")  # the user's handler never ran
    assert not chain_records(events, "child")
    # A chain started now runs.
    lam.invoke(FunctionName="guarded", Payload=b'{"forms": []}')
    events = wait_for_events(
        endpoint, logs, "/aws/lambda/guarded", lambda ev: bool(_lines(ev, "ran "))
    )
    assert _lines(events, "ran ") == ['ran {"forms": []}']


BROKEN = {
    "missing module": ({"other.py": "x = 1\n"}, "handler.handler"),
    "missing dependency": ({"handler.py": "import nosuchdependency\n"}, "handler.handler"),
    "syntax error": ({"handler.py": "def handler(:\n    pass\n"}, "handler.handler"),
    "missing function": ({"handler.py": "x = 1\n"}, "handler.main"),
    "raises at import": ({"handler.py": "raise ValueError('no config')\n"}, "handler.handler"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_an_init_failure_looks_exactly_as_without_the_wrapper(
    lam: Any, deploy: Deploy, case: str
) -> None:
    files, handler = BROKEN[case]
    deploy("plain", files, handler=handler)
    deploy(
        "wrapped",
        {**files, "recursectl_chain.py": HELPER},
        handler="recursectl_chain.handler",
        env={"RECURSECTL_HANDLER": handler, "RECURSECTL_SELF_ARN": _arn("wrapped")},
    )
    results = {}
    for name in ("plain", "wrapped"):
        response = lam.invoke(FunctionName=name, Payload=b"{}")
        assert response["FunctionError"] == "Unhandled"
        # The two zips differ (one has the helper), so their code directories do: on AWS
        # both are /var/task.
        text = re.sub(r"/code/[0-9a-f]{16,}/", "/var/task/", response["Payload"].read().decode())
        error = json.loads(text)
        results[name] = {k: error.get(k) for k in ("errorType", "errorMessage", "stackTrace")}
    assert results["wrapped"] == results["plain"]
    assert results["plain"]["errorType"] in (
        "Runtime.ImportModuleError",
        "Runtime.UserCodeSyntaxError",
        "Runtime.HandlerNotFound",
        "ValueError",
    )
