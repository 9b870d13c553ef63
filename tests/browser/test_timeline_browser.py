"""The timeline page in a real headless Chromium: what it draws, what it logs, what it loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recursectl.watch.timeline import timeline_html
from tests.browser.cdp import Browser
from tests.support.chain_factory import fanout_spec, linear_spec
from tests.support.timeline_docs import HOSTILE, chain_doc, hostile

BARS = """(content => Array.from(document.querySelectorAll('.bar:not(.init)')).map(b => ({
  rid: b.dataset.rid, status: b.dataset.status,
  start: b.dataset.start === undefined ? null : Number(b.dataset.start),
  left: b.getBoundingClientRect().left - content.getBoundingClientRect().left,
  width: b.getBoundingClientRect().width,
  row: Number(b.parentElement.dataset.row)})))(document.getElementById('content'))"""
LINKS = """Array.from(document.querySelectorAll('#links path.link')).map(p =>
  [p.dataset.parent, p.dataset.child])"""
GEOMETRY = """(c => ({t0: Number(c.t0), scale: Number(c.scale), label: Number(c.labelWidth),
  rows: Number(c.rows)}))(document.getElementById('content').dataset)"""


def open_page(browser: Browser, doc: dict[str, Any], path: Path) -> None:
    path.write_text(timeline_html(doc), encoding="utf-8")
    browser.navigate(path.as_uri())
    assert browser.evaluate("document.body.dataset.ready") == "true"


def assert_clean(browser: Browser, path: Path) -> None:
    assert browser.problems() == []
    assert browser.requests() == [path.as_uri()]  # the page itself, nothing else


def test_page_draws_one_bar_per_invocation_and_one_link_per_edge(
    browser: Browser, tmp_path: Path
) -> None:
    spec = fanout_spec(2, 2)  # 7 invocations, 6 edges
    spec.latency_ms = 160  # a cold child starts after its init, as on AWS
    doc = hostile(chain_doc(spec))
    page = tmp_path / "timeline.html"
    open_page(browser, doc, page)
    invs = doc["invocations"]

    bars = browser.evaluate(BARS)
    assert sorted(b["rid"] for b in bars) == sorted(inv["request_id"] for inv in invs)
    # Rows in tree pre-order: bar k is invocation k; colours follow the status.
    assert [b["rid"] for b in sorted(bars, key=lambda b: b["row"])] == [
        inv["request_id"] for inv in invs
    ]
    assert {b["rid"]: b["status"] for b in bars} == {
        inv["request_id"]: inv["status"] for inv in invs
    }
    # A bar starts where its START is on the time axis, and is as long as START..REPORT.
    geo = browser.evaluate(GEOMETRY)
    assert geo["rows"] == 7
    for bar, inv in zip(sorted(bars, key=lambda b: b["row"]), invs, strict=True):
        assert bar["start"] == inv["start"]
        assert abs(bar["left"] - (geo["label"] + (inv["start"] - geo["t0"]) * geo["scale"])) < 1
        assert abs(bar["width"] - max(2, (inv["end"] - inv["start"]) * geo["scale"])) < 1
    lefts = [b["left"] for b in sorted(bars, key=lambda b: b["start"])]
    assert lefts == sorted(lefts)
    assert lefts[-1] - lefts[0] > 100
    # The init phase of each cold start is its own segment, ending where the bar starts.
    inits = browser.evaluate(
        "Array.from(document.querySelectorAll('.bar.init')).map(b => Number(b.dataset.init))"
    )
    assert sorted(inits) == sorted(inv["init_ms"] for inv in invs if inv["init_ms"])

    edges = {(inv["parent_id"], inv["request_id"]) for inv in invs if inv["parent_id"]}
    assert len(edges) == 6
    links = browser.evaluate(LINKS)
    assert len(links) == 6
    assert {tuple(link) for link in links} == edges

    # The summary is on top, with the numbers of the document.
    summary = browser.evaluate("document.getElementById('summary').textContent")
    assert "7 invocations" in summary
    assert "billed " in summary
    assert "GB-s" in summary

    # Click the invocation with hostile lines: its details show them, as text.
    browser.evaluate("document.querySelector('.row[data-row=\"1\"]').click()")
    details = browser.evaluate("document.getElementById('details').textContent")
    assert invs[1]["request_id"] in details
    assert HOSTILE in details
    assert "billed" in details
    assert "memory" in details
    assert "cost" in details
    assert "received" in details  # the handler's own line from the factory
    assert browser.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert browser.evaluate("document.scripts.length") == 4  # nothing was injected

    browser.screenshot(tmp_path / "timeline.png")
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_clean(browser, page)


def test_ten_thousand_invocations_collapse_and_expand_virtualised(
    browser: Browser, tmp_path: Path
) -> None:
    doc = chain_doc(linear_spec(10_000, outcomes={7_000: "timeout"}), keep_lines=False)
    page = tmp_path / "big.html"
    open_page(browser, doc, page)
    geo = browser.evaluate(GEOMETRY)
    assert geo["rows"] == 13  # 5 + group + the timeout + group + 5
    statuses = [b["status"] for b in browser.evaluate(BARS)]
    assert statuses.count("timeout") == 1
    assert len(statuses) == 11

    # Expand everything: 10,002 rows, yet only the ones in view are in the DOM.
    browser.evaluate("document.getElementById('expand-all').click()")
    assert browser.evaluate(GEOMETRY)["rows"] == 10_002
    assert browser.evaluate("document.querySelectorAll('.row').length") < 100
    # Scroll to the end: the last hops are drawn, linked to their parents.
    browser.evaluate(
        "new Promise(r => { const v = document.getElementById('view');"
        " v.scrollTop = v.scrollHeight; requestAnimationFrame(() => requestAnimationFrame(r)); })"
    )
    last = doc["invocations"][-1]["request_id"]
    assert last in [b["rid"] for b in browser.evaluate(BARS)]
    assert [doc["invocations"][-2]["request_id"], last] in browser.evaluate(LINKS)

    # Finding a request id reveals it and shows its details.
    target = doc["invocations"][4321]["request_id"]
    browser.evaluate("document.getElementById('collapse-all').click()")
    browser.evaluate(
        f"(() => {{ const f = document.getElementById('find'); f.value = '{target[:13]}';"
        " f.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'})); })()"
    )
    assert target in browser.evaluate("document.getElementById('details').textContent")
    assert target in [b["rid"] for b in browser.evaluate(BARS)]
    browser.screenshot(tmp_path / "big.png")
    assert_clean(browser, page)


def test_every_status_gets_a_bar_where_it_happened(browser: Browser, tmp_path: Path) -> None:
    spec = fanout_spec(6, 1)
    for k, outcome in ((1, "dropped"), (2, "missing"), (3, "timeout")):
        spec.nodes[k].outcome = outcome
    doc = chain_doc(spec)
    invs = doc["invocations"]
    invs[6].update(status="running", end=None, duration_ms=None)  # no REPORT yet
    doc["complete"] = False
    invs[5]["capped"] = 25
    invs[4]["stopped"] = True
    page = tmp_path / "statuses.html"
    open_page(browser, doc, page)

    bars = {b["rid"]: b for b in browser.evaluate(BARS)}
    shown = [bars[inv["request_id"]]["status"] for inv in invs]
    assert shown == ["ok", "dropped", "missing", "timeout", "stopped", "capped", "running"]
    geo = browser.evaluate(GEOMETRY)

    def px(ms: float) -> float:
        return geo["label"] + (ms - geo["t0"]) * geo["scale"]

    # Never started: a marker where the parent was when it asked (its REPORT).
    for inv in invs[1:3]:
        assert abs(bars[inv["request_id"]]["left"] - px(invs[0]["end"])) < 1
    # Still running: the bar runs to the last event of the chain.
    last = max(inv["end"] for inv in invs if inv["end"] is not None)
    running = bars[invs[6]["request_id"]]
    assert abs(running["left"] + running["width"] - px(last)) < 1
    # Hovering a bar shows its numbers.
    tip = browser.evaluate(
        "(() => { const b = document.querySelector('.bar.s-timeout');"
        " const r = b.getBoundingClientRect();"
        " b.dispatchEvent(new MouseEvent('mousemove',"
        " {bubbles: true, clientX: r.left + 5, clientY: r.top + 5}));"
        " const tip = document.getElementById('tip');"
        " return tip.hidden ? null : tip.textContent; })()"
    )
    assert tip is not None
    assert invs[3]["request_id"] in tip
    assert "Task timed out" in tip
    assert browser.evaluate("document.getElementById('state').textContent") == "in progress"
    browser.screenshot(tmp_path / "statuses.png")
    assert_clean(browser, page)


def test_the_policy_blocks_what_escaping_would_have_let_through(
    browser: Browser, tmp_path: Path
) -> None:
    # A negative control for the checks above: markup injected into the page (as a careless
    # page would let log text through) neither loads nor runs, and the test sees the refusal.
    html = timeline_html(chain_doc(fanout_spec(2, 1)))
    injected = '<img src="http://127.0.0.1:9/x.png"><script>document.title = "pwned"</script>'
    page = tmp_path / "injected.html"
    page.write_text(html.replace("<body>", "<body>" + injected, 1), encoding="utf-8")
    browser.navigate(page.as_uri())
    assert browser.evaluate("document.body.dataset.ready") == "true"  # the page's own code ran
    assert browser.evaluate("document.title") != "pwned"
    problems = browser.problems()
    assert any("Content Security Policy" in p and "img-src" in p for p in problems), problems
    assert any("Content Security Policy" in p and "script-src" in p for p in problems), problems
    # The browser created the image request (so the other tests would see one) and refused it.
    assert browser.requests() == [page.as_uri(), "http://127.0.0.1:9/x.png"]
    assert browser.blocked() == {"http://127.0.0.1:9/x.png": "csp"}


def test_a_jobs_hops_carry_their_checkpoints_as_ticks_and_the_job_heads_the_page(
    browser: Browser, tmp_path: Path
) -> None:
    from tests.support.chain_factory import chain_of
    from tests.support.job_factory import JobSpec, job_events

    spec = JobSpec(
        hops=4, total=400, checkpoints=3, retry=frozenset({1}), duplicate=frozenset({2}),
        spilled=frozenset({3}), end=None, extra_progress={"cursor": "<img src=x>"},
    )  # fmt: skip
    doc = chain_of(job_events(spec)).to_dict()
    page = tmp_path / "job.html"
    open_page(browser, doc, page)
    ticks = browser.evaluate(
        "Array.from(document.querySelectorAll('.ckpt')).map(t => ({rid: t.dataset.rid,"
        " ts: Number(t.dataset.ts), spilled: t.classList.contains('spilled'),"
        " left: t.getBoundingClientRect().left"
        " - document.getElementById('content').getBoundingClientRect().left}))"
    )
    want = sorted(
        (inv["request_id"], c["ts"], c["spilled"])
        for inv in doc["invocations"]
        for c in inv["job"]["checkpoints"]
    )
    assert sorted((t["rid"], t["ts"], t["spilled"]) for t in ticks) == want
    assert sum(t["spilled"] for t in ticks) == 3
    geo = browser.evaluate(GEOMETRY)
    for t in ticks:  # each tick where its checkpoint is on the time axis
        assert abs(t["left"] + 1 - (geo["label"] + (t["ts"] - geo["t0"]) * geo["scale"])) < 1
    head = browser.evaluate("document.getElementById('job').textContent")
    job = doc["job"]
    assert f"job {job['id'][:8]}" in head
    assert "running" in head
    assert f"{job['done']:g}/{job['total']:g}" in head or f"{job['done']}/{job['total']}" in head
    assert "1 retry" in head
    assert "1 duplicate ignored" in head
    assert "cursor=<img src=x>" in head  # the handler's text, as text
    labels = browser.evaluate(
        "Array.from(document.querySelectorAll('.row .label')).map(l => l.textContent)"
    )
    assert any(" #1 " in lab and "attempt 2" in lab for lab in labels)
    assert any("duplicate, ignored" in lab for lab in labels)
    browser.screenshot(tmp_path / "job.png")
    assert_clean(browser, page)


def test_malformed_job_fields_draw_without_errors(browser: Browser, tmp_path: Path) -> None:
    from tests.support.chain_factory import chain_of
    from tests.support.job_factory import JobSpec, job_events

    doc = chain_of(job_events(JobSpec(hops=4))).to_dict()
    doc["job"] = {"id": 7, "status": "<b>x</b>", "fraction": "half", "progress": [1],
                  "retries": "many", "eta_ms": 1e308}  # fmt: skip
    invs = doc["invocations"]
    invs[0]["job"] = 5
    invs[1]["job"] = {"seq": "x", "attempt": True, "statuses": "done", "checkpoints": {}}
    invs[2]["job"] = {"duplicate_of": ["a"], "checkpoints": [None, {"ts": "t"}, {"ts": 1e308}]}
    page = tmp_path / "bad-job.html"
    open_page(browser, doc, page)
    head = browser.evaluate("document.getElementById('job').textContent")
    assert "<b>x</b>" in head  # as text
    assert browser.evaluate("document.querySelectorAll('#job b').length") == 0
    assert len(browser.evaluate(BARS)) == 4
    assert_clean(browser, page)
