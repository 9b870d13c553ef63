"""The local cloud's one-shot faults: armed per function and kind, each taken once."""

from __future__ import annotations

import pytest

from recursectl.local.engine.faults import Faults


def test_a_fault_is_taken_once_per_arming_and_only_by_its_function_and_kind() -> None:
    faults = Faults()
    faults.arm("f", "duplicate")
    faults.arm("f", "crash", count=2)
    assert faults.armed() == [
        {"function": "f", "fault": "crash", "count": 2},
        {"function": "f", "fault": "duplicate", "count": 1},
    ]
    assert not faults.take("g", "duplicate")
    assert faults.take("f", "duplicate")
    assert not faults.take("f", "duplicate")
    assert [faults.take("f", "crash") for _ in range(3)] == [True, True, False]
    faults.arm("f", "crash")
    faults.reset()
    assert faults.armed() == []


@pytest.mark.parametrize(
    ("function", "kind", "count", "why"),
    [("f", "slow", 1, "unknown fault"), ("", "crash", 1, "function name"),
     ("f", "crash", 0, "count of at least 1")],
)  # fmt: skip
def test_an_unknown_fault_or_an_empty_arming_is_refused(
    function: str, kind: str, count: int, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        Faults().arm(function, kind, count)
