"""The timeline page: escaping of hostile log text, no network references, the row plan (any
link structure, and trees of 364 to 10,000 invocations:
tests/property/watch/test_timeline_props.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from recursectl.watch.timeline import PlanOptions, embed_json, flatten, row_plan, timeline_html
from tests.support.chain_factory import fanout_spec, linear_spec
from tests.support.timeline_docs import HOSTILE, Page, chain_doc, hostile


def fanout_doc() -> dict[str, Any]:
    return chain_doc(fanout_spec(2, 2))


def test_json_block_round_trips_the_document_exactly() -> None:
    doc = hostile(fanout_doc())
    page = Page(timeline_html(doc))
    assert page.json_block("chain-data") == doc
    assert flatten(page.json_block("row-plan")) == list(range(len(doc["invocations"])))


def test_hostile_log_text_stays_data() -> None:
    doc = hostile(fanout_doc())
    html = timeline_html(doc)
    page = Page(html)
    # The parser sees exactly the page's own elements: the hostile text opened nothing.
    assert [t for t, _ in page.tags if t in ("img", "script", "iframe", "object")] == ["script"] * 4
    assert len(page.scripts) == 4  # three JSON blocks and the code: none cut short
    assert "<img" not in html
    assert "</script><img" not in html
    assert "<!--" not in html
    assert HOSTILE not in html
    # ... and it is all there, as data.
    data = page.json_block("chain-data")
    assert data["invocations"][1]["lines"][-1]["text"] == HOSTILE
    assert data["invocations"][1]["reason"] == HOSTILE


def test_embed_json_escapes_markup_characters() -> None:
    text = embed_json({"a": "</script><!--&\u2028\ud800"})
    assert not set("<>&") & set(text)
    assert text.isascii()
    assert json.loads(text) == {"a": "</script><!--&\u2028\ud800"}


def test_non_finite_numbers_become_null() -> None:
    doc = {"invocations": [{"request_id": "a", "duration_ms": float("nan"), "end": float("inf")}]}
    data = Page(timeline_html(doc)).json_block("chain-data")
    assert data == {"invocations": [{"request_id": "a", "duration_ms": None, "end": None}]}


def test_no_network_references_outside_data() -> None:
    page = Page(timeline_html(hostile(fanout_doc())))
    for _tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not re.search(r"(?i)\b(https?:|//)", value or ""), (name, value)
            assert name not in ("src", "href", "srcset", "action", "poster")
    code = page.code()
    for source in (code, *page.styles, *page.text):
        assert "http://" not in source
        assert "https://" not in source
        assert "url(" not in source
        assert "@import" not in source
    # The code makes no requests of any kind.
    for api in ("fetch(", "XMLHttpRequest", "WebSocket", "EventSource", "sendBeacon", "import("):
        assert api not in code
    assert ".innerHTML" not in code
    assert "insertAdjacentHTML" not in code
    assert "document.write" not in code
    assert "eval(" not in code


def test_content_security_policy_allows_only_the_pages_own_code() -> None:
    page = Page(timeline_html(fanout_doc()))
    metas = [a for t, a in page.tags if t == "meta" and a.get("http-equiv")]
    assert metas[0]["http-equiv"] == "Content-Security-Policy"
    policy = {
        part.split()[0]: part.split()[1:]
        for part in (metas[0]["content"] or "").split(";")
        if part.strip()
    }
    assert policy["default-src"] == ["'none'"]
    assert "'unsafe-inline'" not in str(policy)
    assert "'unsafe-eval'" not in str(policy)

    def sha(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert policy["script-src"] == [sha(page.code())]
    assert policy["style-src"] == [sha(page.styles[0])]
    # The policy comes before anything it governs.
    names = [t for t, _ in page.tags]
    assert names.index("meta") < names.index("style") < names.index("script")


def test_short_runs_and_collapse_off_show_every_row() -> None:
    invs = chain_doc(linear_spec(11), keep_lines=False)["invocations"]
    assert row_plan(invs) == [[i, 0] for i in range(11)]
    invs = chain_doc(linear_spec(40), keep_lines=False)["invocations"]
    assert row_plan(invs, options=PlanOptions(collapse=False)) == [[i, 0] for i in range(40)]


def test_wide_fanout_collapses_healthy_siblings_in_place() -> None:
    spec = fanout_spec(20, 1)
    spec.nodes[8].outcome = "error"
    invs = chain_doc(spec, keep_lines=False)["invocations"]
    plan = row_plan(invs)
    assert plan[0] == [0, 0]
    kinds = ["g" if isinstance(item, dict) else item[0] for item in plan[1:]]
    # Children 1..5 and 16..20 show, the error (child 8) shows, the healthy rest collapse.
    assert kinds == [1, 2, 3, 4, 5, "g", 8, "g", 16, 17, 18, 19, 20]
    assert [g["label"] for g in plan[1:] if isinstance(g, dict)] == [
        "2 more ok subtrees (2 invocations)",
        "7 more ok subtrees (7 invocations)",
    ]
    assert all(item[1] == 1 for item in plan[1:] if isinstance(item, list))
    assert flatten(plan) == list(range(len(invs)))


def test_unlinked_documents_are_one_flat_run() -> None:
    doc = chain_doc(linear_spec(30, markers=False), keep_lines=False)
    assert doc["linked"] is False
    plan = row_plan(doc["invocations"], linked=False)
    assert all(item["l"] == 0 if isinstance(item, dict) else item[1] == 0 for item in plan)
    assert flatten(plan) == list(range(30))
    Page(timeline_html(doc))  # renders


def test_tolerates_missing_extra_and_malformed_fields() -> None:
    docs: list[dict[str, Any]] = [
        {},
        {"chain_id": None, "invocations": None},
        {"invocations": [None, 3, "x", {}]},
        {
            "chain_id": "c",
            "invocations": [
                {"request_id": "c", "status": "ok", "budget": {"calls": 3}, "start": 5},
                {"request_id": "d", "parent_id": "c", "status": "brand-new", "depth": "1"},
                {"request_id": "e", "parent_id": "nowhere", "children": ["c", 7, None]},
            ],
            "summary": {"count": 3, "new_field": [1]},
        },
    ]
    for doc in docs:
        page = Page(timeline_html(doc))
        assert page.json_block("chain-data") == doc
        plan = page.json_block("row-plan")
        assert sorted(flatten(plan)) == list(range(len(doc.get("invocations") or [])))


def test_forged_cycles_and_duplicates_still_show_each_invocation_once() -> None:
    invs = [
        {"request_id": "a", "parent_id": None, "children": ["b"]},
        {"request_id": "b", "parent_id": "a", "children": ["a", "b"]},
        {"request_id": "x", "parent_id": "y", "children": ["y"]},  # x <-> y, no root
        {"request_id": "y", "parent_id": "x", "children": ["x"]},
        {"request_id": "b", "parent_id": "a"},  # the same id twice
        {"request_id": "z", "parent_id": "z", "children": ["z"]},  # its own parent
    ]
    assert sorted(flatten(row_plan(invs))) == list(range(len(invs)))
