"""Validation before state: a StartLiveTail boto3 would refuse on the client, sent raw, is
refused by the front door as the model says; and no bad record costs the log writer other
functions' lines."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support.localcloud import Deploy, wait_for_events

GROUP = "/aws/lambda/{}"
HANDLER = "def handler(event, context):\n    print('line', event['i'])\n    return event['i']\n"


def _raw(endpoint: str, operation: str, body: Any) -> tuple[int, dict[str, Any], str]:
    """A JSON request as another SDK would send it, with no client-side validation."""
    request = urllib.request.Request(
        endpoint + "/",
        method="POST",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"Logs_20140328.{operation}",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/logs/"
            "aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {}, response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read())
        return exc.code, answer, str(answer.get("__type", "")).rpartition("#")[2]


@pytest.mark.parametrize(
    ("body", "kind", "says"),
    [
        ({"logGroupIdentifiers": ["{group}"], "logStreamNamePrefixes": [1]},
         "SerializationException", "logStreamNamePrefixes.1"),
        ({"logGroupIdentifiers": "{group}"}, "SerializationException", "logGroupIdentifiers"),
        ({"logGroupIdentifiers": ["{group}"], "logStreamNamePrefixes": [""]},
         "InvalidParameterException", "length greater than or equal to 1"),
        ({"logGroupIdentifiers": ["{group}"], "logStreamNames": ["a:b"]},
         "InvalidParameterException", "regular expression pattern"),
        ({"logGroupIdentifiers": ["g"] * 11}, "InvalidParameterException",
         "length less than or equal to 10"),
        ({"logGroupIdentifiers": ["{group}"], "logEventFilterPattern": "x" * 1025},
         "InvalidParameterException", "logEventFilterPattern"),
        ({}, "InvalidParameterException", "Member must not be null"),
    ],
)  # fmt: skip
def test_start_live_tail_is_validated_as_the_model_says(
    endpoint: str, deploy: Deploy, lam: Any, body: dict[str, Any], kind: str, says: str
) -> None:
    deploy("tailed", {"handler.py": HANDLER})
    lam.invoke(FunctionName="tailed", Payload=b'{"i": 0}')
    doc = json.loads(json.dumps(body).replace("{group}", GROUP.format("tailed")))
    status, answer, error_type = _raw(endpoint, "StartLiveTail", doc)
    assert status == 400
    assert error_type == kind
    assert says in answer["message"]


def test_filter_log_events_is_validated_too(endpoint: str) -> None:
    status, answer, kind = _raw(endpoint, "FilterLogEvents", {"logGroupName": "g", "limit": 0})
    assert (status, kind) == (400, "InvalidParameterException")
    assert "limit" in answer["message"]


def test_a_refused_live_tail_costs_no_function_its_logs(
    endpoint: str, deploy: Deploy, lam: Any, logs: Any
) -> None:
    names = [f"writer{i}" for i in range(4)]
    for name in names:
        deploy(name, {"handler.py": HANDLER})
    first = GROUP.format(names[0])
    lam.invoke(FunctionName=names[0], Payload=b'{"i": -1}')  # its group exists
    status, _, _ = _raw(
        endpoint,
        "StartLiveTail",
        {"logGroupIdentifiers": [first], "logStreamNamePrefixes": [1]},
    )
    assert status == 400  # before: accepted, and every later write to the group failed
    runs = 40
    for i in range(runs):
        for name in names:
            lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"i": i}))
    for name in names:
        extra = 1 if name == names[0] else 0

        def complete(events: list[dict[str, Any]], n: int = runs + extra) -> bool:
            reports = [e for e in events if e["message"].startswith("REPORT")]
            return len(reports) >= n

        events = wait_for_events(endpoint, logs, GROUP.format(name), complete, timeout=120)
        starts = [e for e in events if e["message"].startswith("START")]
        reports = [e for e in events if e["message"].startswith("REPORT")]
        lines = {e["message"].strip() for e in events if e["message"].startswith("line")}
        assert (len(starts), len(reports)) == (runs + extra, runs + extra), name
        assert {f"line {i}" for i in range(runs)} <= lines, name
