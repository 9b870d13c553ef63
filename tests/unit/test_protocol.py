"""The packaged helper speaks recursectl's protocol to the letter, and the budget sharing keeps
its promises on whole simulated chains (fixed cases here; the property tests are in
tests/property/test_protocol_props.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from recursectl import protocol
from tests.support.budget import simulate
from tests.support.helper_copy import helper_copy


@pytest.fixture(scope="module")
def helper() -> Iterator[ModuleType]:
    # By path, under a name of its own: the protocol check needs only its values.
    with helper_copy("recursectl_chain_protocol") as module:
        yield module


SHARED = [
    "VERSION", "MARKER", "CONTEXT_KEY",
    "EV_HOP", "EV_CHILD", "EV_CAPPED", "EV_STOPPED", "EV_CHILD_FAILED",
    "REASON_DEPTH", "REASON_BUDGET",
    "SELF_ARN_ENV", "MAX_CALLS_ENV", "MAX_INVOCATIONS_ENV", "GENERATION_ENV", "HANDLER_ENV",
    "HELPER_MODULE", "ENTRY_POINT", "DEFAULT_MAX_CALLS", "DEFAULT_MAX_INVOCATIONS", "JOB_MODULE",
    "EV_CHECKPOINT", "EV_JOB", "EV_DUPLICATE", "COUNTER_TABLE_ENV",
    "JOB_KEY", "JOB_BUCKET_ENV", "JOB_BOUNDS_ENV", "JOB_MARGIN_ENV", "DEFAULT_JOB_MAX_HOPS",
    "DEFAULT_JOB_MAX_SECONDS", "JOB_RECORD_PREFIX", "JOB_INLINE_PAYLOAD",
    "JOB_INLINE_CHECKPOINT", "JOB_MAX_ATTEMPTS", "JOB_STATE_PREFIX", "JOB_STATE_TTL_DAYS",
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


def test_the_job_module_is_packaged_next_to_the_helper_and_takes_the_helpers_values(
    helper: ModuleType,
) -> None:
    templates = Path(__file__).parents[2] / "templates"
    for name in protocol.PYTHON_HELPER_FILES:
        assert (templates / "python" / name).is_file()
    for name in protocol.NODE_HELPER_FILES:
        assert (templates / "node" / name).is_file()
    jobs = helper._jobs()  # loaded by path from next to the helper, as on Lambda
    assert Path(jobs.__file__).name == protocol.PYTHON_JOB_FILE
    assert jobs._c is helper
    shared = [name for name in SHARED if hasattr(jobs, name)]
    assert len(shared) > 15
    for name in shared:  # no value of its own: the helper's, which the test above checks
        assert getattr(jobs, name) == getattr(protocol, name), name


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
