"""No log text crashes the parser, and the hot loop and the tolerant parser agree on every line.

The hot loop (chain/fold.py) reads the exact layouts AWS and the guard write with one regex;
everything else goes through the tolerant parser (chain/parse.py). Both are fed garbled
versions of real lines here: the result must never be an exception, and the chains built
through the hot loop must equal those built record by record through the tolerant parser.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from recursectl.chain import ChainCollector, parse_message
from recursectl.watch.render import render_chain

RID = "8f507cfc-4fe0-4697-b07a-ac58fc914c95"
KID = "2c1b7e20-9f2e-4c1d-8a55-0d3c6e7f8a90"
STREAM = "2026/05/01/[$LATEST]3893a5b07fac4485b47bb75b671a283c"
NOW_LATE = 10**13

# A few seconds in the property tier; RECURSECTL_FUZZ_EXAMPLES=5000 for a long run.
EXAMPLES = int(os.environ.get("RECURSECTL_FUZZ_EXAMPLES", "100"))

# Real lines of every kind, as AWS and the guard write them.
REAL = [
    f"START RequestId: {RID} Version: $LATEST\n",
    f"END RequestId: {RID}\n",
    f"REPORT RequestId: {RID}\tDuration: 3.01 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\t"
    "Max Memory Used: 36 MB\tInit Duration: 110.10 ms\t\n",
    f"REPORT RequestId: {RID}\tDuration: 3.01 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\t"
    "Max Memory Used: 36 MB\tStatus: error\tError Type: Runtime.ExitError\n",
    "INIT_START Runtime Version: python:3.12.v27\tRuntime Version ARN: arn:aws:lambda:x\n",
    "INIT_REPORT Init Duration: 87.28 ms\tPhase: invoke\tStatus: error\tError Type: X\n",
    f'RECURSECTL_CHAIN {{"v":1,"ev":"hop","chain":"{RID}","req":"{RID}","parent":null,'
    '"depth":0,"max":25,"budget":1000}\n',
    f'RECURSECTL_CHAIN {{"v":1,"ev":"child","chain":"{RID}","req":"{RID}","child":"{KID}",'
    '"depth":1,"budget":999}\n',
    f'RECURSECTL_CHAIN {{"v":1,"ev":"capped","chain":"{RID}","req":"{RID}","depth":0,"max":25,'
    '"reason":"budget","budget":1}\n',
    f'{{"time":"2026-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":'
    f'"{RID}","version":"$LATEST"}}}}',
    f'{{"time":"2026-05-01T12:00:00.100Z","type":"platform.report","record":{{"requestId":'
    f'"{RID}","status":"success","metrics":{{"durationMs":3.01,"billedDurationMs":4,'
    '"memorySizeMB":128,"maxMemoryUsedMB":36,"initDurationMs":110.1}}}',
    # Long jobs (docs/jobs.md): a job's hop, its continuation, checkpoint, status, duplicate.
    f'RECURSECTL_CHAIN {{"v":1,"ev":"hop","chain":"{RID}","req":"{RID}","parent":null,'
    f'"depth":0,"max":25,"budget":1000,"job":"{RID}","seq":4,"attempt":2}}\n',
    f'RECURSECTL_CHAIN {{"v":1,"ev":"child","chain":"{RID}","req":"{RID}","child":"{KID}",'
    f'"depth":0,"budget":999,"job":"{RID}","seq":5}}\n',
    f'RECURSECTL_CHAIN {{"v":1,"ev":"checkpoint","chain":"{RID}","req":"{RID}","job":"{RID}",'
    '"seq":4,"attempt":2,"progress":{"done":300,"total":1000,"cursor":"k-9"},"bytes":52,'
    '"spilled":false}\n',
    f'RECURSECTL_CHAIN {{"v":1,"ev":"job","chain":"{RID}","req":"{RID}","job":"{RID}",'
    '"seq":4,"status":"failed","error":"state could not be serialized"}\n',
    f'RECURSECTL_CHAIN {{"v":1,"ev":"duplicate","chain":"{RID}","req":"{RID}","job":"{RID}",'
    f'"seq":4,"owner":"{KID}"}}\n',
    f"[INFO]\t2026-05-01T12:00:00.123Z\t{RID}\tprocessing item 3\n",
    "[ERROR] ValueError: boom\nTraceback (most recent call last):\n",
    json.dumps(
        {
            "timestamp": "t",
            "level": "ERROR",
            "message": "x",
            "requestId": RID,
            "errorType": "ValueError",
            "errorMessage": "boom",
        }
    ),
    f"2026-05-01T12:00:03.123Z {RID} Task timed out after 3.00 seconds\n",
    "received {'numberOfCalls': 5}\n",
]

# Characters that garble a line in the ways that matter: JSON syntax, digits, separators,
# escapes and control characters.
_PIECES = [*'{}[]":,. \t\n\\0123456789e-+Eanul\x1b\x00\u202e', "1e999", "null", '"x"']
NOISE = st.lists(st.sampled_from(_PIECES), max_size=4).map("".join)


@st.composite
def garbled(draw: Any) -> str:
    line = draw(st.sampled_from(REAL))
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(line)))
        j = draw(st.integers(i, min(len(line), i + draw(st.integers(0, 6)))))
        line = line[:i] + draw(NOISE) + line[j:]
    return line


def _event(message: str, ts: int, eid: str, stream: str = STREAM) -> dict[str, Any]:
    return {"message": message, "timestamp": ts, "logStreamName": stream, "eventId": eid}


def _docs(c: ChainCollector) -> list[dict[str, Any]]:
    return [chain.to_dict() for chain in c.chains(now_ms=NOW_LATE)]


def _both(events: list[dict[str, Any]], lines: bool) -> tuple[ChainCollector, ChainCollector]:
    fast = ChainCollector(keep_lines=lines)
    fast.add_events(events)
    tolerant = ChainCollector(keep_lines=lines)
    for event in events:
        tolerant.add_event(event)
    return fast, tolerant


# Garbled layouts the two paths used to read differently, and the line that crashed `logs`.
KNOWN = [
    # A marker whose JSON is broken after the fields the regex read.
    f'RECURSECTL_CHAIN {{"v":1,"ev":"hop","chain":"{RID}","req":"{RID}","parent":null,'
    '"depth":0,"max":25,GARBAGE',
    # A REPORT whose request id has a space in it.
    f"REPORT RequestId: {RID} x\tDuration: 3.01 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB"
    "\tMax Memory Used: 36 MB\t\n",
    # OverflowError, exit 70, before.
    f'RECURSECTL_CHAIN {{"v":1,"ev":"hop","chain":"{RID}","req":"{RID}","depth":1e999}}',
    # Numbers JSON does not allow, or no float can hold.
    f'RECURSECTL_CHAIN {{"v":1,"ev":"hop","chain":"{RID}","req":"{RID}","parent":null,'
    '"depth":01,"max":25}',
    f"REPORT RequestId: {RID}\tDuration: {'9' * 400} ms\tBilled Duration: 4 ms\t"
    "Memory Size: 128 MB\tMax Memory Used: 36 MB\t",
    f'{{"time":"t","type":"platform.report","record":{{"requestId":"{RID}","metrics":'
    f'{{"durationMs":{"9" * 400},"billedDurationMs":4,"memorySizeMB":128,'
    '"maxMemoryUsedMB":36}}}',
    # Fields after the fixed head that the two readings used to split differently.
    f"REPORT RequestId: {RID}\tDuration: 3.01 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\t"
    "Max Memory Used: 36 MB\tInit Duration: 5 ms Status: timeout",
    f"REPORT RequestId: {RID}\tDuration: 3.01 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\t"
    "Max Memory Used: 36 MBInit Duration: 5 ms",
    # Request ids with whitespace other than the separator in them, or at their end (the hot
    # loop reads START's id up to a space, REPORT's up to a tab).
    f"START RequestId: {RID}\t Version: $LATEST\n",
    f"START RequestId: {RID}\u00a0 Version: $LATEST\n",
    f"START RequestId: {RID[:8]}\n{RID[8:]} Version: $LATEST\n",
    f"START RequestId: {RID[:8]}\x0b{RID[8:]} Version: $LATEST\n",
    *(
        f"REPORT RequestId: {RID[:8]}{ws}{RID[8:]}\tDuration: 3.01 ms\tBilled Duration: 4 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 36 MB\t\n"
        for ws in ("\n", "\r", "\x0b", "\u00a0", " ")
    ),
    f"REPORT RequestId: {RID} \tDuration: 3.01 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB"
    "\tMax Memory Used: 36 MB\t\n",
    # A raw control character inside a JSON string.
    f'RECURSECTL_CHAIN {{"v":1,"ev":"hop","chain":"{RID}\t","req":"{RID}","parent":null,'
    '"depth":0,"max":25}',
]


@pytest.mark.parametrize("line", KNOWN)
def test_known_garbled_layouts_agree_and_do_not_crash(line: str) -> None:
    for lines in (False, True):
        parse_message(line, 1, STREAM, "x", lines=lines)
        events = [_event(REAL[0], 1000, "1"), _event(line, 1001, "2")]
        fast, tolerant = _both(events, lines)
        assert _docs(fast) == _docs(tolerant), line


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(garbled(), min_size=1, max_size=6), st.booleans())
@example([KNOWN[0]], False)
def test_garbled_lines_never_crash_and_both_paths_agree(lines_in: list[str], keep: bool) -> None:
    # A real START first, so that markers of this request can be trusted and linked.
    events = [_event(REAL[0], 1000, "0")]
    events += [_event(m, 1001 + k, str(k + 1)) for k, m in enumerate(lines_in)]
    for message in lines_in:
        parse_message(message, 1, STREAM, "x", lines=keep)
    fast, tolerant = _both(events, keep)
    assert _docs(fast) == _docs(tolerant)
    for chain in fast.chains(now_ms=NOW_LATE):
        json.dumps(chain.to_dict(), allow_nan=False)  # no Infinity/NaN in the --json document
        render_chain(chain, lines=keep)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(max_size=300))
def test_any_text_at_all_never_crashes(message: str) -> None:
    for lines in (False, True):
        parse_message(message, 1, STREAM, "x", lines=lines)
    fast, tolerant = _both([_event(REAL[0], 1000, "0"), _event(message, 1001, "1")], True)
    assert _docs(fast) == _docs(tolerant)
