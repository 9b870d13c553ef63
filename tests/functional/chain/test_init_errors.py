"""An import error, as the local cloud logs it, read back into the chain: the invocation's
error names the missing module and its lines show the init phase (issue 13, item 6)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from recursectl.chain import ChainCollector
from tests.support.localcloud import Deploy, wait_for_events, wait_updated

MODULE = "module_that_does_not_exist"


# The platform records of each LogFormat: START, INIT_REPORT, REPORT.
PLATFORM = {
    "Text": ("START RequestId: ", "INIT_REPORT", "REPORT RequestId: "),
    "JSON": ('"type":"platform.start"', '"type":"platform.initReport"', '"type":"platform.report"'),
}


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_import_error_shows_the_missing_module(
    endpoint: str, lam: Any, logs: Any, deploy: Deploy, log_format: str
) -> None:
    # LogFormat JSON: platform records and awslambdaric's error record are JSON, as on AWS.
    deploy("broken", {"handler.py": f"import {MODULE}\n"})
    if log_format == "JSON":
        lam.update_function_configuration(
            FunctionName="broken", LoggingConfig={"LogFormat": "JSON"}
        )
        wait_updated(lam, "broken")
    start, init_report, report = PLATFORM[log_format]
    response = lam.invoke(FunctionName="broken", Payload=b"{}")
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert response["FunctionError"] == "Unhandled"
    events = wait_for_events(
        endpoint, logs, "/aws/lambda/broken", lambda ev: any(report in e["message"] for e in ev)
    )
    starts = [e for e in events if start in e["message"]]
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
    assert any(init_report in line.text for line in inv.lines)
    doc = json.loads(json.dumps(chain.to_dict()))
    assert MODULE in doc["invocations"][0]["error"]["message"]
