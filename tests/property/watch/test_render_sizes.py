"""Rendering chains of hundreds to thousands of invocations: healthy runs and subtrees collapse,
what failed stays in view, and the live view of a tall tree fits the terminal (the small cases
are in tests/unit/watch/test_render.py and tests/unit/watch/test_render_widths.py)."""

from __future__ import annotations

import pytest

from recursectl.watch.live_view import LiveView
from tests.support.chain_factory import chain_of, fanout_spec, linear_spec
from tests.support.rendering import WIDTHS, printed, rows_with_ids, text


def test_thousand_hop_chain_collapses_healthy_runs_and_keeps_failures() -> None:
    spec = linear_spec(1000, outcomes={400: "timeout"}, app_lines=0)
    spec.nodes[700].retried = True
    chain = chain_of(spec.events())
    assert len(chain) == 1000
    out = text(chain)
    shown = rows_with_ids(out)
    ids = [n.request_id[:8] for n in spec.nodes]
    assert shown == [*ids[:5], ids[400], ids[700], *ids[995:]]
    assert "… 395 more ok hops, depth 5..399, median" in out
    assert "… 299 more ok hops, depth 401..699" in out
    assert "… 294 more ok hops, depth 701..994" in out
    assert "timeout" in out
    assert "2 attempts (retried)" in out
    assert len(out.splitlines()) < 25
    assert "1000 invocations" in out


def test_big_tree_expands_only_the_path_to_an_error() -> None:
    spec = fanout_spec(4, 5)  # 1,365 invocations
    bad = spec.nodes[-1]
    bad.outcome = "error"
    chain = chain_of(spec.events())
    out = text(chain)
    assert bad.request_id[:8] in out
    assert "ValueError" in out
    assert "ok below, collapsed" in out
    assert len(out.splitlines()) < 40
    assert "1365 invocations · 1 error" in out


@pytest.mark.parametrize("width", WIDTHS)
def test_live_view_of_a_tall_tree_fits_and_keeps_what_matters(width: int) -> None:
    spec = fanout_spec(4, 4, app_lines=0)  # 341 invocations
    failing = [spec.nodes[i] for i in (100, 200, 300)]  # leaves (85 on): nothing below is cut
    for node, outcome in zip(failing, ("error", "error", "timeout"), strict=True):
        node.outcome = outcome
    chain = chain_of(spec.events())
    out = printed(LiveView(chain), width, height=24)
    lines = out.splitlines()
    assert len(lines) <= 23  # one row free: a full-height frame would scroll
    assert lines[0].startswith("chain ")
    assert "341 invocations" in lines[-3] + lines[-2] + lines[-1]  # the summary, at the bottom
    for node in failing:
        assert node.request_id[:8] in out
