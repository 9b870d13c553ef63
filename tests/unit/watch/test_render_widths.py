"""Narrow terminals: at 60, 80 and 120 columns nothing a user needs is cut off (the live view of
a 341-invocation tree: tests/property/watch/test_render_sizes.py; the local status table:
tests/cli/test_cli_local_status.py)."""

from __future__ import annotations

import re

import pytest

from recursectl.watch.live_view import LiveView
from recursectl.watch.render import render_chain
from tests.support.chain_factory import chain_of, fanout_spec, linear_spec
from tests.support.rendering import WIDTHS, printed


def flat(out: str) -> str:
    """The text with tree guides and line breaks gone: what wrapped reads as one line."""
    return re.sub(r"[\s│├└─•]+", " ", out)


@pytest.mark.parametrize("width", WIDTHS)
def test_error_text_wraps_under_its_row_never_cut(width: int) -> None:
    spec = fanout_spec(8, 1, app_lines=0)  # a root and 8 children, every child failing
    for node in spec.nodes[1:]:
        node.outcome = "error"
    chain = chain_of(spec.events())
    out = printed(render_chain(chain), width)
    assert all(len(line) <= width for line in out.splitlines())
    for node in spec.nodes[1:]:
        rid = node.request_id[:8]
        # The row and its whole error message, however it wrapped.
        assert re.search(rf"{rid} d1 error .*?ValueError: boom", flat(out)), out


@pytest.mark.parametrize("width", WIDTHS)
def test_summary_wraps_between_fields(width: int) -> None:
    chain = chain_of(linear_spec(3, app_lines=0, outcomes={1: "timeout"}).events())
    out = printed(render_chain(chain), width)
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("3 invocations"))
    summary = lines[start:]
    assert all(len(line) <= width for line in summary)
    fields = [f.strip() for line in summary for f in line.split(" · ")]
    assert "1 timeout" in fields  # not "1 timeouts"
    assert any(re.fullmatch(r"\d+\.\d{4} GB-s", f) for f in fields), summary
    assert any(re.fullmatch(r"≈ \$\d\.\d{7} \(estimate, x86 list price\)", f) for f in fields)
    assert any(f.startswith("billed ") and f.endswith(" ms") for f in fields)


def test_live_view_that_fits_is_the_whole_tree() -> None:
    chain = chain_of(linear_spec(6, app_lines=0).events())
    assert (
        printed(LiveView(chain), 120, height=24).rstrip()
        == printed(render_chain(chain), 120).rstrip()
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_deep_rows_drop_columns_before_splitting_a_field(width: int) -> None:
    """A row wider than the terminal (deep in a tree) leaves out memory, then billed, and
    wraps only between fields: never `cold 106` on one line and `ms` on the next (issue 21)."""
    chain = chain_of(fanout_spec(2, 5, app_lines=0).events())
    out = printed(render_chain(chain), width)
    lines = out.splitlines()
    assert all(len(line) <= width for line in lines)
    assert "cold" in out
    for line in lines:
        body = re.sub(r"^[\s│├└─]+", "", line)
        # a unit never starts a line, and a field never ends one half-written
        assert not re.match(r"^(ms|s|MB)\b", body), out
        assert not re.search(r"\b(cold|billed)\s*$", line), out
        for field in re.findall(r"cold (?!start)\S+(?: \S+)?", line):
            assert re.fullmatch(r"cold [\d.]+ (ms|s)", field), (field, out)
    if width >= 120:
        assert "/128 MB" in out  # wide enough: nothing left out


def test_a_long_error_keeps_the_rows_columns() -> None:
    spec = fanout_spec(2, 1, app_lines=0)
    spec.nodes[1].outcome = "error"
    out = printed(render_chain(chain_of(spec.events())), 80)
    row = next(line for line in out.splitlines() if " d1 error " in line)
    assert "billed" in row  # the message wraps below; the columns stay
    assert "/128 MB" in row


@pytest.mark.parametrize("height", [8, 24])
def test_live_view_under_a_cost_cap_shows_the_spend_against_it_and_still_fits(height: int) -> None:
    chain = chain_of(linear_spec(30, app_lines=0).events())
    spent = chain.summary().estimated_cost_usd
    out = printed(LiveView(chain, cost_cap=0.001), 120, height=height).rstrip()
    lines = out.splitlines()
    assert len(lines) <= height - 1  # the frame still fits (one row left free)
    assert lines[-1] == (
        f"cost cap $0.001: ≈ ${spent:.7f} spent so far ({spent / 0.001:.0%}, from the REPORT lines)"
    )
    assert "(estimate, x86 list price)" in lines[-2]  # the summary, right above
