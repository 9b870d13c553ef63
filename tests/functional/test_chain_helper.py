"""The helper packaged into every zip: entry point, interception, cap, budget, generation.

It runs inside Lambda, so it is tested as Lambda runs it: imported from templates/ with
Lambda's environment variables, the user's handler a real module on sys.path, and every
Invoke a real botocore call to a scripted Invoke endpoint on loopback
(tests/functional/fake_lambda.py).
The same behaviour on the local cloud, with real workers: tests/functional/test_guard.py.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import botocore.client
import botocore.endpoint
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from tests.functional.fake_lambda import (
    DROP,
    ORIGINAL_MAKE_API_CALL,
    FakeLambda,
    fake_lambda,
    load_helper,
    markers,
    unload_helper,
)
from tests.support.helper_copy import HELPER

ACCOUNT = "123456789012"
SELF_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f"

# A handler that knows nothing of recursectl: it invokes whatever the event names.
PLAIN = """
import json, os
import boto3

client = boto3.client("lambda", endpoint_url=os.environ["FAKE_LAMBDA"])

def handler(event, context):
    kwargs = {"FunctionName": event["target"], "InvocationType": "Event"}
    if "qualifier" in event:
        kwargs["Qualifier"] = event["qualifier"]
    payload = event.get("payload", json.dumps({"n": 1}))
    if payload is not None:
        kwargs["Payload"] = payload
    client.invoke(**kwargs)
    return {"seen": event}
"""


@pytest.fixture
def lam(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLambda]:
    with fake_lambda() as fake:
        monkeypatch.setenv("FAKE_LAMBDA", fake.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL", fake.url)  # every client, ours too: loopback only
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "f")
        monkeypatch.setenv("RECURSECTL_SELF_ARN", SELF_ARN)
        monkeypatch.setenv("RECURSECTL_MAX_CALLS", "3")
        yield fake


Load = Callable[..., ModuleType]


@pytest.fixture
def load(lam: FakeLambda, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Load]:
    """load(user_source=None) -> the helper, as the entry point of that user module."""
    names: list[str] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def _load(source: str | None = None, handler: str | None = None) -> ModuleType:
        if source is not None:
            name = f"user_{uuid.uuid4().hex[:8]}"
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
            names.append(name)
            monkeypatch.setenv("RECURSECTL_HANDLER", handler or f"{name}.handler")
        return load_helper()

    yield _load
    unload_helper()
    for name in names:
        sys.modules.pop(name, None)


def _ctx(request_id: str, function_name: str = "f") -> SimpleNamespace:
    return SimpleNamespace(aws_request_id=request_id, function_name=function_name)


def _child_event(depth: int = 1, **extra: Any) -> dict[str, Any]:
    return {"_recursectl": {"chain": "c", "parent": "p", "depth": depth, "gen": 0, **extra}}


# the entry point ----------------------------------------------------------------------------------
def test_the_entry_point_runs_the_users_handler_with_the_event_minus_the_context(
    load: Load, capsys: pytest.CaptureFixture[str]
) -> None:
    helper = load("def handler(event, context):\n    return {'got': event}\n")
    result = helper.handler({"a": 1, **_child_event(depth=2)}, _ctx("r"))
    assert result == {"got": {"a": 1}}
    (hop,) = markers(capsys.readouterr().out)
    assert hop == {
        "v": 1, "ev": "hop", "chain": "c", "req": "r", "parent": "p", "depth": 2, "max": 3,
        "budget": 1000,
    }  # fmt: skip


def test_a_root_starts_a_chain_named_by_its_request_id(
    load: Load, capsys: pytest.CaptureFixture[str]
) -> None:
    helper = load("def handler(event, context):\n    return 7\n")
    assert helper.handler([1, 2], _ctx("root")) == 7  # a non-object event runs as a root
    (hop,) = markers(capsys.readouterr().out)
    assert (hop["chain"], hop["req"], hop["parent"], hop["depth"]) == ("root", "root", None, 0)


def test_the_users_exception_propagates_unchanged(load: Load) -> None:
    helper = load("class Boom(Exception):\n    pass\ndef handler(e, c):\n    raise Boom('x')\n")
    with pytest.raises(Exception, match=r"^x$") as info:
        helper.handler({}, _ctx("r"))
    assert type(info.value).__name__ == "Boom"


def test_a_stale_chain_never_runs_the_handler(
    load: Load, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECURSECTL_GENERATION", "2")  # `recursectl stop` ran twice
    helper = load("def handler(event, context):\n    raise AssertionError('ran')\n")
    assert helper.handler(_child_event(gen=1), _ctx("r")) is None
    out = capsys.readouterr().out
    assert [m["ev"] for m in markers(out)] == ["hop", "stopped"]
    assert markers(out)[1]["gen"] == 1
    assert "recursectl stop" in out
    # A chain that started after the stop runs normally.
    with pytest.raises(AssertionError, match="ran"):
        helper.handler({}, _ctx("fresh"))


def test_begin_under_the_entry_point_returns_its_chain_without_a_second_hop(
    load: Load, lam: FakeLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    template = (HELPER.parent / "handler.py").read_text()
    helper = load(template)
    result = helper.handler({"numberOfCalls": 1, **_child_event(depth=1)}, _ctx("r"))
    assert result == {"numberOfCalls": 1, "depth": 1, "children": ["child-1"]}
    assert [m["ev"] for m in markers(capsys.readouterr().out)] == ["hop", "child"]
    assert lam.requests[0].event["_recursectl"]["depth"] == 2


# interception -------------------------------------------------------------------------------------
SELF_FORMS = [
    ("f", None),
    ("f:live", None),
    ("f:1", None),
    ("f:$LATEST", None),
    ("f", "live"),
    (f"{ACCOUNT}:function:f", None),
    (f"{ACCOUNT}:function:f:live", None),
    (SELF_ARN, None),
    (f"{SELF_ARN}:live", None),
    (f"{SELF_ARN}:$LATEST", "$LATEST"),
]


@pytest.mark.parametrize(("target", "qualifier"), SELF_FORMS)
def test_every_name_form_of_this_function_carries_the_context(
    load: Load,
    lam: FakeLambda,
    capsys: pytest.CaptureFixture[str],
    target: str,
    qualifier: str | None,
) -> None:
    helper = load(PLAIN)
    event = {"target": target, **({"qualifier": qualifier} if qualifier else {})}
    helper.handler({**event, **_child_event(depth=1)}, _ctx("r"))
    (request,) = lam.requests
    assert request.function == target
    sent = request.event
    assert sent["n"] == 1
    assert sent["_recursectl"] == {
        "chain": "c", "parent": "r", "depth": 2, "gen": 0, "budget": 500,
    }  # fmt: skip
    _hop, child = markers(capsys.readouterr().out)
    assert (child["ev"], child["req"], child["child"], child["depth"]) == (
        "child", "r", "child-1", 2,
    )  # fmt: skip
    assert child["budget"] == 500  # no split hint: half the pool of 999


OTHER_FORMS = [
    "g",
    "g:live",
    "ff",
    f"{ACCOUNT}:function:g",
    "999999999999:function:f",  # another account's f
    "arn:aws:lambda:us-east-1:123456789012:function:g",
    "arn:aws:lambda:eu-west-1:123456789012:function:f",  # another region's f
    "arn:aws:lambda:us-east-1:999999999999:function:f",
]


@pytest.mark.parametrize("target", OTHER_FORMS)
def test_invokes_of_other_functions_pass_untouched(
    load: Load, lam: FakeLambda, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    helper = load(PLAIN)
    helper.handler({"target": target, "payload": '{"n": 1}', **_child_event()}, _ctx("r"))
    assert lam.requests[0].body == b'{"n": 1}'
    assert [m["ev"] for m in markers(capsys.readouterr().out)] == ["hop"]


def test_the_same_name_in_another_region_is_another_function(
    load: Load, lam: FakeLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    helper = load(PLAIN.replace('os.environ["FAKE_LAMBDA"]', 'os.environ["FAKE_LAMBDA"], '
                                'region_name="eu-west-1"'))  # fmt: skip
    helper.handler({"target": "f", **_child_event()}, _ctx("r"))
    assert "_recursectl" not in lam.requests[0].event
    assert [m["ev"] for m in markers(capsys.readouterr().out)] == ["hop"]


@pytest.mark.parametrize(
    "payload",
    [b'{"n": 1}', '{"n": 1}', bytearray(b'{"n": 1}'), io.BytesIO(b'{"n": 1}'), None, b""],
    ids=["bytes", "str", "bytearray", "file", "none", "empty"],
)
def test_every_payload_type_carries_the_context(load: Load, lam: FakeLambda, payload: Any) -> None:
    helper = load(PLAIN)
    helper.handler({"target": "f", "payload": payload, **_child_event()}, _ctx("r"))
    sent = lam.requests[0].event
    assert sent["_recursectl"]["depth"] == 2
    assert sent.get("n", 1) == 1


@pytest.mark.parametrize("payload", ["[1]", "3", "not json", b"\xff"])
def test_a_payload_that_is_not_an_object_is_refused(
    load: Load, lam: FakeLambda, payload: Any
) -> None:
    helper = load(PLAIN)
    with pytest.raises(helper.PayloadNotObject, match="not a JSON object"):
        helper.handler({"target": "f", "payload": payload, **_child_event()}, _ctx("r"))
    assert lam.requests == []


def test_dry_runs_and_other_operations_pass_untouched(
    load: Load, lam: FakeLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    helper = load("def handler(event, context):\n    return None\n")
    helper.handler(_child_event(), _ctx("r"))
    client = boto3.client("lambda", endpoint_url=lam.url)
    client.invoke(FunctionName="f", InvocationType="DryRun", Payload=b'{"n": 1}')
    assert lam.requests[0].body == b'{"n": 1}'
    assert [m["ev"] for m in markers(capsys.readouterr().out)] == ["hop"]


def test_invoke_async_and_response_streams_are_guarded_too(
    load: Load, lam: FakeLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    helper = load("def handler(event, context):\n    return None\n")
    helper.handler(_child_event(), _ctx("r"))
    client = boto3.client("lambda", endpoint_url=lam.url)
    client.invoke_async(FunctionName="f", InvokeArgs=b'{"n": 1}')
    client.invoke_with_response_stream(FunctionName=SELF_ARN, Payload=b"{}")
    assert [r.event["_recursectl"]["depth"] for r in lam.requests] == [2, 2]
    assert "invoke-async" in lam.requests[0].path
    assert [m["ev"] for m in markers(capsys.readouterr().out)] == ["hop", "child", "child"]


# the cap, the budget, the generation --------------------------------------------------------------
def test_the_depth_cap_refuses_with_a_clear_exception_and_a_marker(
    load: Load, lam: FakeLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    helper = load(PLAIN)
    with pytest.raises(helper.DepthCapReached, match=r"depth 4.*RECURSECTL_MAX_CALLS.*--max-calls"):
        helper.handler({"target": "f", **_child_event(depth=3)}, _ctx("r"))
    assert lam.requests == []
    capped = markers(capsys.readouterr().out)[-1]
    assert (capped["ev"], capped["reason"], capped["depth"], capped["max"]) == (
        "capped", "depth", 3, 3,
    )  # fmt: skip


def test_the_budget_is_shared_among_children_and_then_refuses(
    load: Load, lam: FakeLambda, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECURSECTL_MAX_INVOCATIONS", "5")
    helper = load("def handler(event, context):\n    return None\n")
    chain = helper.begin({}, _ctx("root"))
    client = boto3.client("lambda", endpoint_url=lam.url)
    client.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    client.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    with pytest.raises(helper.BudgetExhausted, match=r"budget of 5.*--max-invocations"):
        client.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    # Pool 4: the first child gets max(ceil(4/2), the linear chain's 3) = 3, the second the 1 left.
    assert [r.event["_recursectl"]["budget"] for r in lam.requests] == [3, 1]
    assert chain.children == ["child-1", "child-2"]
    assert markers(capsys.readouterr().out)[-1]["reason"] == "budget"


def test_a_childs_budget_is_its_subtrees(
    load: Load, lam: FakeLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    helper = load("def handler(event, context):\n    return None\n")
    chain = helper.begin(_child_event(budget=2, split=2), _ctx("r"))
    assert chain.invoke_self({}) == "child-1"
    assert chain.invoke_self({}) is None  # pool 1: one child only
    assert "budget of 1000 invocations is spent" in capsys.readouterr().out
    assert lam.requests[0].event["_recursectl"] == {
        "chain": "c", "parent": "r", "depth": 2, "gen": 0, "budget": 1, "split": 2,
    }  # fmt: skip


def test_a_crafted_context_cannot_raise_the_limits(load: Load) -> None:
    helper = load("def handler(event, context):\n    return None\n")
    chain = helper.begin(_child_event(depth=-5, budget=10**9), _ctx("r"))
    assert (chain.depth, chain.budget) == (0, 1000)


def test_a_refused_invoke_gives_its_share_back(load: Load, lam: FakeLambda) -> None:
    helper = load("def handler(event, context):\n    return None\n")
    chain = helper.begin({}, _ctx("root"))
    lam.script = [(404, "ResourceNotFoundException")]
    client = boto3.client("lambda", endpoint_url=lam.url)
    with pytest.raises(ClientError):
        client.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    assert chain.left == 999


def test_invoke_self_refuses_a_chain_from_before_stop(
    load: Load, lam: FakeLambda, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the entry point (a handler deployed before it existed) the check is at invoke.
    monkeypatch.setenv("RECURSECTL_GENERATION", "1")
    helper = load()
    old = helper.begin(_child_event(), _ctx("r"))
    assert old.invoke_self({}) is None
    assert lam.requests == []
    stopped = markers(capsys.readouterr().out)[-1]
    assert (stopped["ev"], stopped["req"], stopped["gen"]) == ("stopped", "r", 0)
    new = helper.begin({}, _ctx("fresh"))
    assert new.invoke_self({}) == "child-1"
    assert lam.requests[0].event["_recursectl"]["gen"] == 1


# retries: throttles are retried, an invoke that may have reached Lambda never is ------------------
@pytest.fixture
def own_client(load: Load, lam: FakeLambda, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    helper = load()
    monkeypatch.setattr(helper.time, "sleep", lambda s: None)
    return helper


def test_throttling_is_retried_by_hand(
    own_client: ModuleType, lam: FakeLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    lam.script = [(429, "TooManyRequestsException"), (429, "ThrottlingException")]
    chain = own_client.begin({}, _ctx("root"))
    assert chain.invoke_self({}) == "child-3"
    assert len(lam.requests) == 3
    assert [m["ev"] for m in markers(capsys.readouterr().out)] == ["hop", "child"]


def test_an_ambiguous_failure_is_never_retried(
    own_client: ModuleType, lam: FakeLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    # A dropped connection may come after Lambda accepted the event: a retry would fork.
    lam.script = [DROP]
    chain = own_client.begin({}, _ctx("root"))
    with pytest.raises(ConnectionClosedError):
        chain.invoke_self({})
    assert len(lam.requests) == 1
    assert markers(capsys.readouterr().out)[-1]["ev"] == "child_failed"


def test_the_real_client_makes_one_attempt_per_call(own_client: ModuleType) -> None:
    client = own_client._lambda_client()
    assert client.meta.config.retries["total_max_attempts"] == 1


@pytest.mark.parametrize("mode", ["legacy", "standard"])
def test_a_handlers_own_retries_never_fork_the_chain(
    load: Load,
    lam: FakeLambda,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    # botocore's back-off between attempts, the one thing not worth waiting for.
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda s: None))
    helper = load("def handler(event, context):\n    return None\n")
    helper.begin({"_recursectl": {"split": 4}}, _ctx("root"))  # room for 4 children
    client = boto3.client(
        "lambda", endpoint_url=lam.url, config=Config(retries={"mode": mode, "max_attempts": 4})
    )
    lam.script = [DROP, (500, "ServiceException")]
    with pytest.raises(ConnectionClosedError):
        client.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    with pytest.raises(ClientError, match="ServiceException"):
        client.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    assert len(lam.requests) == 2  # one attempt each
    # A throttle did not reach the function: botocore's own retry goes ahead.
    lam.script = [(429, "TooManyRequestsException")]
    client.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    assert len(lam.requests) == 4
    evs = [m["ev"] for m in markers(capsys.readouterr().out)]
    assert evs == ["hop", "child_failed", "child_failed", "child"]
    # Another function's invoke keeps botocore's retries.
    lam.script = [DROP]
    client.invoke(FunctionName="g", InvocationType="Event", Payload=b"{}")
    assert len(lam.requests) == 6


# installation -------------------------------------------------------------------------------------
def test_loading_twice_leaves_one_guard_over_botocores_own_method(load: Load) -> None:
    load()
    second = load()
    assert botocore.client.BaseClient._make_api_call is second._guarded_make_api_call
    assert second._original is ORIGINAL_MAKE_API_CALL


def test_botocore_is_not_imported_until_the_handler_imports_it(tmp_path: Path) -> None:
    # A handler that never uses boto3 pays nothing for the guard at cold start; one that
    # imports it later (even inside the handler function) is guarded from that moment on.
    script = textwrap.dedent(
        """
        import sys
        import recursectl_chain
        assert "botocore" not in sys.modules, "imported botocore"
        import boto3, botocore.client
        guard = recursectl_chain._guarded_make_api_call
        assert botocore.client.BaseClient._make_api_call is guard
        print("ok")
        """
    )
    # No bytecode next to the template: the wheel takes templates/ whole.
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(HELPER.parent),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.stdout.strip() == "ok", out.stderr


# init errors: exactly the runtime's own -----------------------------------------------------------
BROKEN = {
    "missing module": (None, "nosuchmodule.handler"),
    "missing dependency": ("import nosuchdependency\n", None),
    "syntax error": ("def handler(:\n    pass\n", None),
    "missing function": ("x = 1\n", "{name}.nope"),
    "nested missing function": ("x = 1\n", "{name}/nope.handler"),
    "malformed name": (None, "nodots"),
    "built-in module": (None, "sys.handler"),
    "raises at import": ("def f():\n    raise ValueError('bad config')\nf()\n", None),
}


def _runtime_error(spec: str) -> dict[str, Any]:
    """The init error awslambdaric itself reports for `spec` (its bootstrap's own code)."""
    from awslambdaric import bootstrap
    from awslambdaric.lambda_runtime_exception import FaultException

    try:
        bootstrap._get_handler(spec)
    except FaultException as e:
        return bootstrap.make_error(e.msg, e.exception_type, e.trace)
    except Exception as e:
        # As run() reports it: the traceback from the first frame outside bootstrap.py (here
        # also outside this test, which stands where run() does).
        frames = [f for f in bootstrap.extract_traceback(e.__traceback__) if f[0] != __file__]
        while frames and "/bootstrap.py" in frames[0][0]:
            frames.pop(0)
        return bootstrap.make_error(str(e), type(e).__name__, traceback.format_list(frames))
    raise AssertionError(f"{spec} loaded")


@pytest.mark.parametrize("case", list(BROKEN))
def test_an_init_failure_is_reported_exactly_as_the_runtime_reports_it(
    load: Load, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    from awslambdaric import bootstrap
    from awslambdaric.lambda_runtime_exception import FaultException

    source, spec = BROKEN[case]
    name = f"broken_{uuid.uuid4().hex[:8]}"
    if source is not None:
        (tmp_path / f"{name}.py").write_text(source)
    spec = (spec or "{name}.handler").format(name=name)
    expected = _runtime_error(spec)
    sys.modules.pop(name, None)
    monkeypatch.setenv("RECURSECTL_HANDLER", spec)
    with pytest.raises(FaultException) as info:
        load()
    fault = info.value
    assert bootstrap.make_error(fault.msg, fault.exception_type, fault.trace) == expected
    assert expected["errorType"].startswith(("Runtime.", "ValueError"))


def test_the_entry_point_without_a_handler_to_run_fails_init_clearly(
    load: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    from awslambdaric.lambda_runtime_exception import FaultException

    monkeypatch.setenv("_HANDLER", "recursectl_chain.handler")
    with pytest.raises(FaultException, match="RECURSECTL_HANDLER") as info:
        load()
    assert info.value.exception_type == "Runtime.HandlerNotFound"


def test_a_handler_that_imports_the_helper_itself_is_not_loaded_twice(
    load: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Handler handler.handler (no redirection) with RECURSECTL_HANDLER left in the environment:
    # the helper, imported by the user's module, must not import that module again.
    monkeypatch.setenv("_HANDLER", "handler.handler")
    monkeypatch.setenv("RECURSECTL_HANDLER", "handler.handler")
    assert load()._user_handler is None
