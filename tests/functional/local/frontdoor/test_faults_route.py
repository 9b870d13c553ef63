"""The control plane's faults route (docs/jobs.md, "Local cloud faults"): armed with the
control token, listed, refused when malformed, cleared with moto's reset."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support.localcloud import TOKENS, control


def _post(endpoint: str, doc: Any, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{endpoint}/_recursectl/faults",
        method="POST",
        data=json.dumps(doc).encode(),
        headers={"X-Recursectl-Token": token or TOKENS[endpoint]},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_faults_are_armed_listed_and_cleared_by_a_reset(endpoint: str) -> None:
    assert _post(endpoint, {"function": "f", "fault": "crash"}) == (
        200, {"armed": [{"function": "f", "fault": "crash", "count": 1}]}
    )  # fmt: skip
    status, body = _post(endpoint, {"function": "f", "fault": "duplicate", "count": 2})
    assert status == 200
    assert control(endpoint, "/_recursectl/faults") == body
    assert len(body["armed"]) == 2
    control(endpoint, "/moto-api/reset", method="POST")
    assert control(endpoint, "/_recursectl/faults") == {"armed": []}


@pytest.mark.parametrize(
    ("doc", "why"),
    [({"function": "f", "fault": "slow"}, "unknown fault"), ({"fault": "crash"}, "function"),
     ([1], "JSON object"), ({"function": "f", "fault": "crash", "count": "x"}, "invalid")],
)  # fmt: skip
def test_a_malformed_fault_is_refused_with_the_reason(endpoint: str, doc: Any, why: str) -> None:
    status, body = _post(endpoint, doc)
    assert status == 400
    assert why in json.dumps(body)
    assert control(endpoint, "/_recursectl/faults") == {"armed": []}


def test_arming_a_fault_needs_the_control_token(endpoint: str) -> None:
    status, _ = _post(endpoint, {"function": "f", "fault": "crash"}, token="wrong")
    assert status == 403
    assert control(endpoint, "/_recursectl/faults") == {"armed": []}
