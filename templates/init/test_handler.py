"""A sample test of the handler, written by `recursectl init`: run it with `pytest`."""

from __future__ import annotations

from types import SimpleNamespace

import handler


def context(request_id: str = "req-1") -> SimpleNamespace:
    return SimpleNamespace(
        aws_request_id=request_id,
        function_name="demo",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:demo",
        get_remaining_time_in_millis=lambda: 30_000,
    )


def test_the_last_call_of_a_chain_invokes_no_one() -> None:
    result = handler.handler({"numberOfCalls": 0}, context())
    assert result == {"numberOfCalls": 0, "depth": 0, "children": []}
