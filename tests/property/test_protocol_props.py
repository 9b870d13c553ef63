"""Property tests of the chain-context protocol: the packaged helper shares budget exactly as
recursectl.protocol does, and budget sharing keeps its promises over whole simulated chains
(`simulate`, and the fixed cases, are in tests/unit/test_protocol.py)."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recursectl import protocol
from tests.support.budget import simulate
from tests.support.helper_copy import helper_copy


@pytest.fixture(scope="module")
def helper() -> Iterator[ModuleType]:
    with helper_copy("recursectl_chain_protocol") as module:
        yield module


@settings(max_examples=150, deadline=None)
@given(
    pool=st.integers(-2, 5000),
    left=st.integers(-2, 5000),
    split=st.one_of(st.none(), st.integers(-1, 50)),
    max_calls=st.integers(0, 60),
    child_depth=st.integers(0, 70),
)
def test_the_helpers_child_share_is_the_protocols(
    helper: ModuleType, pool: int, left: int, split: int | None, max_calls: int, child_depth: int
) -> None:
    args = (pool, left, split, max_calls, child_depth)
    assert helper.child_share(*args) == protocol.child_share(*args)


@settings(max_examples=100, deadline=None)
@given(
    budget=st.integers(1, 300),
    max_calls=st.integers(0, 12),
    split=st.one_of(st.none(), st.integers(1, 6)),
    fanout=st.lists(st.integers(0, 6), max_size=14),
)
def test_no_tree_ever_makes_more_invocations_than_the_budget(
    budget: int, max_calls: int, split: int | None, fanout: list[int]
) -> None:
    total, _ = simulate(budget, max_calls, split, fanout)
    assert total <= budget


@settings(max_examples=100, deadline=None)
@given(
    calls=st.integers(0, 12),
    fanout=st.integers(1, 5),
    max_calls=st.integers(0, 25),
    slack=st.integers(0, 500),
)
def test_a_regular_tree_that_fits_is_never_cut_when_its_split_is_known(
    calls: int, fanout: int, max_calls: int, slack: int
) -> None:
    size = protocol.tree_size(calls, fanout)
    if calls > max_calls or size > 20_000:
        return
    total, refused = simulate(size + slack, max_calls, fanout, [fanout] * calls)
    assert (total, refused) == (size, 0)


@settings(max_examples=100, deadline=None)
@given(calls=st.integers(0, 60), max_calls=st.integers(0, 60), slack=st.integers(0, 2000))
def test_a_linear_chain_up_to_the_cap_is_never_cut(calls: int, max_calls: int, slack: int) -> None:
    calls = min(calls, max_calls)
    total, refused = simulate(calls + 1 + slack, max_calls, None, [1] * calls)
    assert (total, refused) == (calls + 1, 0)
