"""Linking records into chains: any order of a chain's events gives the same tree (the fixed
cases are in tests/unit/chain/test_model.py)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.chain_factory import fanout_spec, latest, shape


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.sampled_from(["text", "json", "mixed"]))
def test_any_permutation_gives_the_same_tree(rnd: random.Random, fmt: str) -> None:
    spec = fanout_spec(2, 2, fmt=fmt)
    spec.nodes[3].outcome = "error"
    spec.nodes[5].outcome = "timeout"
    events = spec.events()
    expected = latest(events)
    shuffled = list(events)
    rnd.shuffle(shuffled)
    chain = latest(shuffled)
    assert shape(chain) == shape(expected)
    assert [i.error for i in chain.invocations] == [i.error for i in expected.invocations]
    assert chain.summary() == expected.summary()
