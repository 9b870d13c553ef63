"""The timeline page of a long job: its hops in the plan (retries and duplicates always show,
healthy hops collapse by number), and the job's data in the page."""

from __future__ import annotations

import json
import re

from recursectl.watch.timeline import flatten, row_plan, timeline_html
from tests.support.chain_factory import chain_of
from tests.support.job_factory import JobSpec, job_events


def doc_of(spec: JobSpec) -> dict:  # type: ignore[type-arg]
    return json.loads(json.dumps(chain_of(job_events(spec)).to_dict()))


def shown_rows(plan: list) -> list[int]:  # type: ignore[type-arg]
    return [item[0] for item in plan if isinstance(item, list)]


def test_retries_and_duplicates_always_have_a_row_and_hops_collapse_by_number() -> None:
    doc = doc_of(JobSpec(hops=40, total=4000, retry=frozenset({20}), duplicate=frozenset({30})))
    invs = doc["invocations"]
    plan = row_plan(invs)
    assert sorted(flatten(plan)) == list(range(len(invs)))  # every hop once, when expanded
    shown = [invs[i] for i in shown_rows(plan)]
    assert any(inv["job"]["attempt"] == 2 for inv in shown)
    assert any(inv["job"]["duplicate_of"] for inv in shown)
    assert any(inv["job"]["statuses"] for inv in shown)  # the hop that said "done"
    labels = [item["label"] for item in plan if isinstance(item, dict)]
    assert any(re.match(r"\d+ more ok hops, #5\.\.#\d+", label) for label in labels), labels


def test_the_page_carries_the_job_and_each_hops_checkpoints() -> None:
    doc = doc_of(JobSpec(hops=3, spilled=frozenset({1}), end="paused"))
    page = timeline_html(doc)
    data = page.split('id="chain-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data) == doc
    assert doc["job"]["status"] == "paused"
    assert '<div id="job" hidden></div>' in page
    assert all(len(inv["job"]["checkpoints"]) == 2 for inv in doc["invocations"])


def test_malformed_job_fields_still_make_a_page() -> None:
    doc = doc_of(JobSpec(hops=3))
    doc["job"] = "not an object"
    invs = doc["invocations"]
    invs[0]["job"] = 5
    invs[1]["job"] = {"seq": "x", "attempt": True, "statuses": "done", "checkpoints": {}}
    invs[2]["job"] = {"duplicate_of": ["a"], "checkpoints": [None, {"ts": "t"}]}
    plan = row_plan(invs)
    assert sorted(flatten(plan)) == [0, 1, 2]
    assert "<!DOCTYPE html>" in timeline_html(doc)
