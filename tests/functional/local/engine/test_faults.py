"""The local cloud's one-shot faults for long jobs (docs/jobs.md, "Local cloud faults"):
a duplicate delivery of an Event invoke, and a crash right after a checkpoint marker; with the
function itself as its on-failure destination, as deploy sets it for a job function."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support.localcloud import (
    TOKENS,
    Deploy,
    control,
    flush,
    inject_fault,
    wait_for_events,
)

ECHO = """\
import json

def handler(event, context):
    print("RAN " + context.aws_request_id + " " + json.dumps(event, sort_keys=True))
    return {}
"""

CHECKPOINTS = """\
import json
import time

def handler(event, context):
    if "requestContext" in event:  # the on-failure destination's record: the retry path
        print("RETRY " + json.dumps(event["requestPayload"], sort_keys=True))
        return {}
    marker = {"v": 1, "ev": "checkpoint", "chain": context.aws_request_id,
              "req": context.aws_request_id, "job": "j", "seq": 0}
    print("RECURSECTL_CHAIN " + json.dumps(marker, separators=(",", ":")), flush=True)
    time.sleep(1.5)
    print("AFTER " + json.dumps(event, sort_keys=True), flush=True)
    return {}
"""


def _lines(events: list[dict[str, Any]], prefix: str) -> list[str]:
    return [e["message"] for e in events if e["message"].startswith(prefix)]


def test_a_duplicate_delivers_the_next_event_twice_then_once(
    endpoint: str, deploy: Deploy, lam: Any, logs: Any
) -> None:
    deploy("dup", {"handler.py": ECHO})
    armed = inject_fault(endpoint, "dup", "duplicate")
    assert armed == {"faults": [{"function": "dup", "fault": "duplicate", "count": 1}]}
    lam.invoke(FunctionName="dup", InvocationType="Event", Payload=b'{"n": 1}')
    events = wait_for_events(
        endpoint, logs, "/aws/lambda/dup", lambda evs: len(_lines(evs, "RAN ")) >= 2
    )
    ran = _lines(events, "RAN ")
    assert [r.split(" ", 2)[2] for r in ran] == ['{"n": 1}', '{"n": 1}']
    assert len({r.split(" ")[1] for r in ran}) == 2  # two deliveries, two executions
    assert control(endpoint, "/_recursectl/faults") == {"faults": []}  # one-shot
    lam.invoke(FunctionName="dup", InvocationType="Event", Payload=b'{"n": 2}')
    events = wait_for_events(
        endpoint,
        logs,
        "/aws/lambda/dup",
        lambda evs: any('{"n": 2}' in m for m in _lines(evs, "RAN ")),
    )
    flush(endpoint)
    assert len([m for m in _lines(events, "RAN ") if '{"n": 2}' in m]) == 1


def test_a_crash_kills_the_invocation_after_its_checkpoint_and_the_destination_retries(
    endpoint: str, deploy: Deploy, lam: Any, logs: Any
) -> None:
    arn = deploy("crashy", {"handler.py": CHECKPOINTS})
    lam.put_function_event_invoke_config(
        FunctionName="crashy",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arn}},
    )
    inject_fault(endpoint, "crashy", "crash")
    lam.invoke(FunctionName="crashy", InvocationType="Event", Payload=b'{"job": 1}')
    events = wait_for_events(
        endpoint, logs, "/aws/lambda/crashy", lambda evs: bool(_lines(evs, "RETRY "))
    )
    assert _lines(events, "RETRY ") == ['RETRY {"job": 1}']
    assert not _lines(events, "AFTER ")  # killed right after the checkpoint
    assert any("Runtime.ExitError" in e["message"] for e in events)
    # one-shot: the next invocation that checkpoints runs to its end
    lam.invoke(FunctionName="crashy", InvocationType="Event", Payload=b'{"job": 2}')
    events = wait_for_events(
        endpoint, logs, "/aws/lambda/crashy", lambda evs: bool(_lines(evs, "AFTER "))
    )
    assert _lines(events, "AFTER ") == ['AFTER {"job": 2}']


def test_a_crash_waits_for_a_checkpoint(endpoint: str, deploy: Deploy, lam: Any, logs: Any) -> None:
    deploy("plain", {"handler.py": ECHO})
    inject_fault(endpoint, "plain", "crash")
    out = lam.invoke(FunctionName="plain", Payload=b'{"a": 1}')
    assert "FunctionError" not in out  # no checkpoint: not this invocation
    assert control(endpoint, "/_recursectl/faults")["faults"] == [
        {"function": "plain", "fault": "crash", "count": 1}
    ]
    control(endpoint, "/_recursectl/faults", method="DELETE")
    assert control(endpoint, "/_recursectl/faults") == {"faults": []}


@pytest.mark.parametrize(
    "body",
    [
        {"function": "f", "fault": "explode"},
        {"fault": "crash"},
        {"function": "f", "fault": "crash", "count": 0},
    ],
)
def test_a_bad_fault_is_refused(endpoint: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{endpoint}/_recursectl/faults",
        method="POST",
        data=json.dumps(body).encode(),
        headers={"X-Recursectl-Token": TOKENS[endpoint]},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 400
