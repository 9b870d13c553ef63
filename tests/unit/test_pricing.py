"""The cost estimate follows the function's architecture, in the tree, JSON and timeline."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console

from recursectl import pricing
from recursectl.chain import Chain, ChainCollector
from recursectl.watch import render
from recursectl.watch.timeline import timeline_html
from tests.support.chain_factory import linear_spec


def _chain(architecture: str | None) -> Chain:
    spec = linear_spec(5)
    collector = ChainCollector(architecture=architecture)
    collector.add_events(spec.events())
    chain = collector.get(spec.chain_id)
    assert chain is not None
    return chain


@pytest.mark.parametrize(
    ("architecture", "label"),
    [(None, "x86 list price"), ("x86_64", "x86 list price"), ("arm64", "arm64 list price")],
)
def test_the_estimate_is_at_the_architectures_list_price(
    architecture: str | None, label: str
) -> None:
    summary = _chain(architecture).summary()
    expected = summary.gb_seconds * pricing.GB_SECOND_USD[architecture or "x86_64"]
    expected += summary.requests * 0.20 / 1e6
    assert summary.estimated_cost_usd == pytest.approx(expected)
    assert summary.to_dict()["cost_basis"] == label
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(render.render_chain(_chain(architecture)))
    assert f"(estimate, {label})" in buf.getvalue()


def test_arm64_is_cheaper_and_the_timeline_prices_invocations_the_same_way() -> None:
    x86, arm = _chain(None).summary(), _chain("arm64").summary()
    assert arm.gb_seconds == x86.gb_seconds
    assert arm.estimated_cost_usd < x86.estimated_cost_usd
    page = timeline_html(render.chain_json(_chain("arm64")))
    found = re.search(r'<script type="application/json" id="page-config">(.*?)</script>', page)
    assert found is not None
    config = json.loads(found.group(1))
    assert config["cost_basis"] == "arm64 list price"
    assert config["price_gb_s"] == pricing.GB_SECOND_USD["arm64"]
