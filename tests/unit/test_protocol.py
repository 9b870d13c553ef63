"""The packaged helper speaks recursectl's protocol to the letter, and the budget sharing keeps
its promises (property tests over whole simulated chains)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recursectl import protocol
from tests.unit.fake_lambda import HELPER, unload_helper


@pytest.fixture(scope="module")
def helper() -> ModuleType:
    # By path, under a name of its own: the protocol check needs only its values.
    spec = importlib.util.spec_from_file_location("recursectl_chain_protocol", HELPER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    unload_helper("recursectl_chain_protocol")


SHARED = [
    "VERSION", "MARKER", "CONTEXT_KEY",
    "EV_HOP", "EV_CHILD", "EV_CAPPED", "EV_STOPPED", "EV_CHILD_FAILED",
    "REASON_DEPTH", "REASON_BUDGET",
    "SELF_ARN_ENV", "MAX_CALLS_ENV", "MAX_INVOCATIONS_ENV", "GENERATION_ENV", "HANDLER_ENV",
    "HELPER_MODULE", "ENTRY_POINT", "DEFAULT_MAX_CALLS", "DEFAULT_MAX_INVOCATIONS",
]  # fmt: skip


@pytest.mark.parametrize("name", SHARED)
def test_the_helper_repeats_the_protocols_values(helper: ModuleType, name: str) -> None:
    assert getattr(helper, name) == getattr(protocol, name)


def test_the_helper_writes_only_protocol_events_and_is_the_packaged_file(
    helper: ModuleType,
) -> None:
    written = {v for k, v in vars(helper).items() if k.startswith("EV_")}
    assert written == protocol.EVENTS - {protocol.EV_DROPPED}  # `dropped`: the local cloud's
    assert Path(helper.__file__).name == protocol.PYTHON_HELPER_FILE
    assert f"{Path(helper.__file__).stem}.handler" == protocol.ENTRY_POINT


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


# budget sharing, simulated over whole chains ------------------------------------------------------
def simulate(
    budget: int, max_calls: int, split: int | None, fanout: list[int], depth: int = 0
) -> tuple[int, int]:
    """(invocations, refused children) of a chain whose nodes at depth d want fanout[d] children."""
    pool = left = budget - 1
    want = fanout[depth] if depth < len(fanout) else 0
    total, refused = 1, 0
    for _ in range(want):
        share = protocol.child_share(pool, left, split, max_calls, depth + 1)
        assert 0 <= share <= left or share == 0
        if share == 0:
            refused += 1
            continue
        left -= share
        size, cut = simulate(share, max_calls, split, fanout, depth + 1)
        assert size <= share  # a subtree never outgrows what it was handed
        total, refused = total + size, refused + cut
    return total, refused


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


def test_a_linear_chain_stops_at_the_cap_with_budget_to_spare() -> None:
    total, refused = simulate(1000, 25, None, [1] * 40)
    assert (total, refused) == (26, 1)


def test_an_unhinted_binary_tree_fits_while_halves_cover_the_linear_reserve() -> None:
    # Without a split, a node hands its first child max(half the pool, what a linear chain
    # below it can still use): with the defaults a binary tree fits down to depth 6; deeper,
    # the nodes near the leaves have pools below twice the linear reserve and are cut.
    assert simulate(1000, 25, None, [2] * 6) == (127, 0)
    total, refused = simulate(1000, 25, None, [2] * 7)
    assert (total, refused) == (191, 64)
    assert total < protocol.tree_size(7, 2) <= 1000
