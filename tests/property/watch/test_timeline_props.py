"""The timeline's row plan over any link structure and over chains of 364 to 1,000 invocations,
and the size of a 10,000-invocation page (the small cases are in
tests/unit/watch/test_timeline.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from recursectl.watch.timeline import PlanOptions, flatten, row_plan, timeline_html
from tests.support.chain_factory import ChainSpec, Node, fanout_spec, linear_spec
from tests.support.timeline_docs import Page, chain_doc


def test_linear_thousand_collapses_healthy_hops_and_keeps_problems() -> None:
    doc = chain_doc(linear_spec(1000, outcomes={400: "timeout", 999: "error"}), keep_lines=False)
    invs = doc["invocations"]
    plan = row_plan(invs)
    shown = [item[0] for item in plan if isinstance(item, list)]
    groups = [item for item in plan if isinstance(item, dict)]
    depth_of = {i: inv["depth"] for i, inv in enumerate(invs)}
    assert [depth_of[i] for i in shown] == [0, 1, 2, 3, 4, 400, *range(995, 1000)]
    assert [g["n"] for g in groups] == [395, 594]
    assert groups[0]["label"].startswith("395 more ok hops, depth 5..399, median ")
    assert groups[0]["s"] == invs[5]["start"]
    assert groups[0]["e"] == invs[399]["end"]
    assert all(item[1] == 0 for item in plan if isinstance(item, list))  # a run is flat
    assert flatten(plan) == list(range(1000))


def test_big_tree_collapses_healthy_subtrees_and_expands_the_path_to_an_error() -> None:
    spec = fanout_spec(3, 5)  # 364 invocations, over the 200-row budget
    bad = spec.nodes[-1]
    bad.outcome = "error"
    invs = chain_doc(spec, keep_lines=False)["invocations"]
    plan = row_plan(invs)
    top = [item for item in plan if isinstance(item, list)]
    assert len(top) < 30
    # The error and every ancestor of it are top-level rows, each at its tree level.
    by_id = {inv["request_id"]: i for i, inv in enumerate(invs)}
    path, rid = [], bad.request_id
    while rid is not None:
        path.append(by_id[rid])
        rid = invs[by_id[rid]]["parent_id"]
    levels = {item[0]: item[1] for item in top}
    assert all(levels[i] == invs[i]["depth"] for i in path)
    collapsed = [g for g in plan if isinstance(g, dict) and g["label"].endswith("collapsed")]
    # Beside each hop of the path, two healthy siblings with 120, 39, 12, 3 below them.
    assert sorted(g["n"] for g in collapsed) == [3, 3, 12, 12, 39, 39, 120, 120]
    assert flatten(plan) == list(range(len(invs)))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.lists(st.integers(0, 30), max_size=4)), max_size=30)
)
def test_any_link_structure_shows_every_invocation_exactly_once(
    links: list[tuple[int, list[int]]],
) -> None:
    invs = [
        {
            "request_id": f"r{i}",
            "parent_id": f"r{parent}" if parent != i else None,
            "children": [f"r{c}" for c in children],
            "status": "ok" if i % 3 else "error",
        }
        for i, (parent, children) in enumerate(links)
    ]
    plan = row_plan(invs, options=PlanOptions(head=1, tail=1, max_rows=5))
    assert sorted(flatten(plan)) == list(range(len(invs)))


def test_ten_thousand_invocations_stay_a_reasonable_size() -> None:
    doc = chain_doc(linear_spec(10_000, outcomes={9_000: "timeout"}), keep_lines=False)
    html = timeline_html(doc)
    plan = Page(html).json_block("row-plan")
    assert len(plan) <= 15
    # The document itself is most of it (about 420 bytes an invocation without --lines).
    assert len(html.encode()) < 600 * len(doc["invocations"])


def test_long_healthy_branches_of_a_big_tree_fold_once() -> None:
    # A root with two children, each the head of a 300-hop linear chain: the branches fold
    # into one group each, and inside a group a branch is a run that collapses as usual.
    nodes = [Node("root", None, 0)]
    for b in range(2):
        prev = nodes[0]
        for d in range(1, 301):
            node = Node(f"b{b}-{d:03d}", prev.request_id, d)
            prev.children.append(node.request_id)
            nodes.append(node)
            prev = node
    invs = chain_doc(ChainSpec(nodes), keep_lines=False)["invocations"]
    plan = row_plan(invs)
    assert [item if isinstance(item, list) else item["n"] for item in plan] == [
        [0, 0],
        [1, 1],
        299,
        [301, 1],
        299,
    ]
    inner = plan[2]["rows"]
    assert len(inner) == 11  # 5 + one run group + 5, not 299 nested groups
    assert flatten(plan) == list(range(len(invs)))
