"""An import error, as the local cloud logs it, read back into the chain: the invocation's
error names the missing module and its lines show the init phase (issue 13, item 6)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from recursectl.chain import ChainCollector
from tests.functional.conftest import Deploy, wait_for_events

MODULE = "module_that_does_not_exist"


def _reported(events: list[dict[str, Any]]) -> bool:
    return any(e["message"].startswith("REPORT RequestId: ") for e in events)


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_import_error_shows_the_missing_module(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy, log_format: str
) -> None:
    # AWS_LAMBDA_LOG_FORMAT makes awslambdaric write its error record as JSON, as it does on
    # AWS with LoggingConfig.LogFormat = JSON (the local cloud's platform lines stay Text).
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON"} if log_format == "JSON" else {}
    deploy("broken", {"handler.py": f"import {MODULE}\n"}, env=env)
    response = lam.invoke(FunctionName="broken", Payload=b"{}")
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert response["FunctionError"] == "Unhandled"
    events = wait_for_events(endpoint, logs, "/aws/lambda/broken", _reported)
    starts = [e for e in events if e["message"].startswith("START RequestId: ")]
    errors = [e for e in events if MODULE in e["message"]]
    assert errors, "the worker logged no error line"
    assert errors[0]["timestamp"] <= starts[0]["timestamp"]  # logged before START (init)

    collector = ChainCollector(keep_lines=True)
    collector.add_events(events)
    chain = collector.latest(now_ms=max(e["timestamp"] for e in events) + 60_000)
    assert chain is not None
    inv = chain.get(request_id)
    assert inv is not None, [i.request_id for i in chain.invocations]
    assert inv.status == "error"
    assert inv.error is not None
    assert inv.error.type == "Runtime.ImportModuleError"
    assert inv.error.message is not None
    assert MODULE in inv.error.message
    assert any(MODULE in line.text for line in inv.lines)
    assert any(line.text.startswith("INIT_REPORT") for line in inv.lines)
    doc = json.loads(json.dumps(chain.to_dict()))
    assert MODULE in doc["invocations"][0]["error"]["message"]
