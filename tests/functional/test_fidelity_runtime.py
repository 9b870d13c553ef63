"""Fails locally, works on AWS (issue 23, items 9-10): Node callback handlers on nodejs20.x and
22.x, callbackWaitsForEmptyEventLoop, one warm environment per function version. Real boto3
against a real local cloud, functions made by plain CreateFunction."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.localcloud import Deploy, wait_for_events

CALLBACK = """
exports.handler = function (event, context, callback) {
  const waits = context.callbackWaitsForEmptyEventLoop;
  if (event.fail) return callback(new Error('called back with an error'));
  if (event.nowait) {
    context.callbackWaitsForEmptyEventLoop = false;
    setTimeout(() => {}, 3000);  // not waited for
    return callback(null, { waits: context.callbackWaitsForEmptyEventLoop });
  }
  callback(null, { waits, sum: event.a + event.b });
};
"""
ASYNC = """
exports.handler = async (event, context) => ({
  waits: context.callbackWaitsForEmptyEventLoop,
});
"""
AFTER_TIMER = """
exports.handler = function (event, context, callback) {
  if (event.nowait) context.callbackWaitsForEmptyEventLoop = false;
  const result = { timer: 'not yet' };
  setTimeout(() => { result.timer = 'ran'; }, 200);
  callback(null, result);
};
"""


def _call(lam: Any, name: str, event: dict[str, Any]) -> tuple[str | None, Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return response.get("FunctionError"), json.loads(response["Payload"].read())


@pytest.mark.parametrize("runtime", ["nodejs20.x", "nodejs22.x"])
def test_callback_handlers_work_on_nodejs20_and_22(
    lam: Any, deploy: Deploy, node_ready: None, runtime: str
) -> None:
    name = f"cb{runtime[6:8]}"
    deploy(name, {"index.js": CALLBACK}, handler="index.handler", runtime=runtime)
    assert _call(lam, name, {"a": 2, "b": 3}) == (None, {"waits": True, "sum": 5})
    error, payload = _call(lam, name, {"fail": True})
    assert error == "Unhandled"
    assert payload["errorMessage"] == "called back with an error"
    assert _call(lam, name, {"nowait": True}) == (None, {"waits": False})

    deploy(f"{name}a", {"index.js": ASYNC}, handler="index.handler", runtime=runtime)
    assert _call(lam, f"{name}a", {}) == (None, {"waits": True})


def test_the_callbacks_result_waits_for_the_event_loop(
    lam: Any, deploy: Deploy, node_ready: None
) -> None:
    # The result is sent once the event loop is empty: after the timer changed it.
    deploy("cbloop", {"index.js": AFTER_TIMER}, handler="index.handler", runtime="nodejs20.x")
    assert _call(lam, "cbloop", {}) == (None, {"timer": "ran"})
    assert _call(lam, "cbloop", {"nowait": True}) == (None, {"timer": "not yet"})


def test_nodejs24_refuses_callback_handlers(lam: Any, deploy: Deploy, node_ready: None) -> None:
    deploy("cb24", {"index.js": CALLBACK}, handler="index.handler", runtime="nodejs24.x")
    error, payload = _call(lam, "cb24", {"a": 1, "b": 1})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.CallbackHandlerDeprecated"


COLD = """
import os
cold = True

def handler(event, context):
    global cold
    was, cold = cold, False
    return {"cold": was, "version": context.function_version, "pid": os.getpid()}
"""


def test_each_version_keeps_its_own_warm_environment(lam: Any, deploy: Deploy) -> None:
    deploy("warmver", {"handler.py": COLD})
    lam.publish_version(FunctionName="warmver")
    calls = ["warmver", "warmver:1"] * 3
    seen = [_call(lam, name, {})[1] for name in calls]
    assert [s["cold"] for s in seen] == [True, True, False, False, False, False]
    assert [s["version"] for s in seen] == ["$LATEST", "1"] * 3
    assert len({s["pid"] for s in seen[0::2]}) == 1  # $LATEST: one environment
    assert len({s["pid"] for s in seen[1::2]}) == 1  # version 1: another one
    assert seen[0]["pid"] != seen[1]["pid"]


ENV_PY = """
import os
KEYS = ("LANG", "AWS_XRAY_DAEMON_ADDRESS", "AWS_XRAY_CONTEXT_MISSING", "TZ")
def handler(event, context):
    return {k: os.environ.get(k) for k in KEYS}
"""
ENV_NODE = """
const KEYS = ['LANG', 'AWS_XRAY_DAEMON_ADDRESS', 'AWS_XRAY_CONTEXT_MISSING', 'TZ'];
exports.handler = async () => Object.fromEntries(KEYS.map((k) => [k, process.env[k] ?? null]));
"""
LAMBDAS_ENV = {
    "LANG": "en_US.UTF-8",
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",  # AWS: a link-local address (see fidelity.md)
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "TZ": ":UTC",
}


def test_the_handler_environment_has_lambdas_locale_and_xray_settings(
    lam: Any, deploy: Deploy, node_ready: None
) -> None:
    deploy("envpy", {"handler.py": ENV_PY})
    assert _call(lam, "envpy", {}) == (None, LAMBDAS_ENV)
    deploy("envnode", {"index.js": ENV_NODE}, handler="index.handler", runtime="nodejs22.x")
    assert _call(lam, "envnode", {}) == (None, LAMBDAS_ENV)
    # not reserved: a function's own value wins, as on AWS
    deploy("envmine", {"handler.py": ENV_PY}, env={"LANG": "de_DE.UTF-8"})
    assert _call(lam, "envmine", {})[1]["LANG"] == "de_DE.UTF-8"


SLEEPY = """
import time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return context.log_stream_name
"""


def test_after_a_timeout_the_environment_is_reset_in_its_own_log_stream(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy
) -> None:
    deploy("resets", {"handler.py": SLEEPY}, timeout=1)
    stream = _call(lam, "resets", {})[1]
    error, payload = _call(lam, "resets", {"sleep": 5})
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert _call(lam, "resets", {}) == (None, stream)  # AWS keeps the stream
    events = wait_for_events(
        endpoint,
        logs,
        "/aws/lambda/resets",
        lambda ev: sum(e["message"].startswith("REPORT") for e in ev) >= 3,
    )
    assert {e["logStreamName"] for e in events} == {stream}
    reports = [e["message"] for e in events if e["message"].startswith("REPORT")]
    # the reset re-ran init: the call after the timeout is a cold start again
    assert ["Init Duration" in r for r in reports] == [True, False, True]
    assert "Status: timeout" in reports[1]


ESM_CALLBACK = """
export const handler = (event, context, callback) => {
  callback(null, { waits: context.callbackWaitsForEmptyEventLoop, esm: true });
};
export const other = 1;
"""


def test_an_es_module_callback_handler_works_on_nodejs22(
    lam: Any, deploy: Deploy, node_ready: None
) -> None:
    deploy("cbesm", {"index.mjs": ESM_CALLBACK}, handler="index.handler", runtime="nodejs22.x")
    assert _call(lam, "cbesm", {}) == (None, {"waits": True, "esm": True})
