"""The budget sharing of protocol.child_share, simulated over whole chains."""

from __future__ import annotations

from recursectl import protocol


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
