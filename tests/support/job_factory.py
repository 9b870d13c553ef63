"""CloudWatch Logs events of a long job (docs/jobs.md), as the helpers write its markers.

Each hop is one invocation in the Text (or JSON) log format: START, its `hop` marker with
job/seq/attempt, checkpoints, the `child` marker of its continuation, a `job` marker when
the job ends, REPORT. Faults as the contract describes them: a hop that fails and is retried
(a new request id, attempt 2, the same parent: the guard turns the on-failure destination
record into the retry hop), a duplicate delivery (another request id that finds the claim
taken), a job that is paused or fails.

    events = job_events(JobSpec(hops=5, total=100))
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from recursectl.protocol import MARKER
from tests.support.chain_factory import request_id

Event = dict[str, Any]


@dataclass
class JobSpec:
    hops: int = 4
    total: int = 100  # items; each hop processes total / hops of them in `checkpoints` steps
    checkpoints: int = 2  # per hop
    retry: frozenset[int] = frozenset()  # hop numbers whose first attempt fails (then retried)
    duplicate: frozenset[int] = frozenset()  # hop numbers delivered twice
    end: str | None = "done"  # the last hop's job status: done, failed, paused, cancelled; None
    spilled: frozenset[int] = frozenset()  # hop numbers whose checkpoints spill the state
    fmt: str = "text"  # text | json
    hop_ms: int = 1000
    start_ms: int = 1_777_636_800_000
    seed: int = 7
    job_id: str = ""
    extra_progress: dict[str, Any] = field(default_factory=dict)
    markers: bool = True  # False: the same handler without recursectl (plain lines)
    # Duplicates under the hop's own request id (as Lambda and the local cloud deliver them),
    # not another one.
    same_id: bool = False
    # A hop whose every attempt fails (JOB_MAX_ATTEMPTS): the delivery of the last failure
    # record writes `job failed` (no hop marker: it runs no handler) and the job ends there.
    exhausted: int | None = None
    # continue_with() checkpoints the state it hands on, with no progress (as the helpers do)
    handoff: bool = False
    first_seq: int = 0  # above 0: a resumed job's run (a new chain from that hop on)


def _marker(record: dict[str, Any]) -> str:
    return f"{MARKER} {json.dumps({'v': 1, **record}, separators=(',', ':'))}\n"


class _Log:
    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self.events: list[tuple[int, int, str, str]] = []
        self.n = 0

    def emit(self, ts: int, stream: str, message: str) -> None:
        self.events.append((ts, self.n, stream, message))
        self.n += 1

    def line(self, ts: int, stream: str, rid: str, text: str) -> None:
        if self.spec.fmt == "json":
            record = {"timestamp": "t", "level": "INFO", "message": text.rstrip("\n")}
            self.emit(ts, stream, json.dumps({**record, "requestId": rid}))
        else:
            self.emit(ts, stream, text)

    def start(self, ts: int, stream: str, rid: str) -> None:
        if self.spec.fmt == "json":
            rec = {"requestId": rid, "version": "$LATEST"}
            self.emit(
                ts, stream, json.dumps({"time": "t", "type": "platform.start", "record": rec})
            )
        else:
            self.emit(ts, stream, f"START RequestId: {rid} Version: $LATEST\n")

    def report(self, ts: int, stream: str, rid: str, dur: int, ok: bool) -> None:
        if self.spec.fmt == "json":
            rec: dict[str, Any] = {
                "requestId": rid,
                "status": "success" if ok else "error",
                "metrics": {
                    "durationMs": float(dur),
                    "billedDurationMs": float(dur),
                    "memorySizeMB": 128.0,
                    "maxMemoryUsedMB": 40.0,
                },
            }
            if not ok:
                rec["errorType"] = "Runtime.ExitError"
            self.emit(
                ts, stream, json.dumps({"time": "t", "type": "platform.report", "record": rec})
            )
            return
        status = "" if ok else "Status: error\tError Type: Runtime.ExitError"
        self.emit(ts, stream, f"END RequestId: {rid}\n")
        self.emit(
            ts,
            stream,
            f"REPORT RequestId: {rid}\tDuration: {dur}.00 ms\tBilled Duration: {dur} ms\t"
            f"Memory Size: 128 MB\tMax Memory Used: 40 MB\t{status}\n",
        )


def job_events(spec: JobSpec) -> list[Event]:  # noqa: C901 (one branch per fault)
    """The events of one job run as one chain (the first hop's request id is the chain id)."""
    rng = random.Random(spec.seed)
    log = _Log(spec)
    chain = request_id(rng)
    job = spec.job_id or chain
    per_hop = spec.total // (spec.first_seq + spec.hops)
    done = per_hop * spec.first_seq
    ts = spec.start_ms
    parent: str | None = None
    rid = chain
    for seq in range(spec.first_seq, spec.first_seq + spec.hops):
        attempts = [1, 2] if seq in spec.retry else [1]
        if seq == spec.exhausted:
            attempts = [1, 2, 3, 4]  # the fourth is the failure record's delivery
        for attempt in attempts:
            if attempt > 1:
                rid = request_id(rng)
            stream = f"2026/05/01/[$LATEST]{rng.getrandbits(128):032x}"
            failing = attempt < attempts[-1]
            log.start(ts, stream, rid)
            ctx = {"job": job, "seq": seq, "attempt": attempt}
            if attempt > 1 and spec.markers:  # a failure record's delivery says what it does
                word = "failed" if attempt > 3 else "retry"
                log.emit(ts, stream, _marker({
                    "ev": "job", "chain": chain, "req": rid, "job": job, "seq": seq,
                    "status": word, "error": "Runtime.ExitError",
                }))  # fmt: skip
                if word == "failed":
                    log.report(ts + 5, stream, rid, 5, ok=True)
                    break
            if spec.markers:
                hop = {"ev": "hop", "chain": chain, "req": rid, "parent": parent, "depth": 0}
                log.emit(ts, stream, _marker({**hop, "max": 25, "budget": 1000, **ctx}))
            step = per_hop // spec.checkpoints
            at = done
            for k in range(spec.checkpoints):
                at = done + step * (k + 1)
                t = ts + (k + 1) * spec.hop_ms // (spec.checkpoints + 1)
                if not spec.markers:
                    log.line(t, stream, rid, f"processed {at} of {spec.total}\n")
                    continue
                progress = {"done": at, "total": spec.total, **spec.extra_progress}
                log.emit(t, stream, _marker({
                    "ev": "checkpoint", "chain": chain, "req": rid, **ctx,
                    "progress": progress, "bytes": 40 + seq,
                    "spilled": seq in spec.spilled,
                }))  # fmt: skip
                if failing:
                    break  # the crash after the first checkpoint
            end = ts + spec.hop_ms
            if failing:
                log.report(end, stream, rid, spec.hop_ms, ok=False)
                ts = end + 50
                continue
            done = at
            last = seq == spec.first_seq + spec.hops - 1
            nxt = request_id(rng)
            if not last and spec.markers and spec.handoff:
                log.emit(end - 6, stream, _marker({
                    "ev": "checkpoint", "chain": chain, "req": rid, "job": job, "seq": seq,
                    "progress": None, "bytes": 40, "spilled": False,
                }))  # fmt: skip
            if not last and spec.markers:
                child = {"ev": "child", "chain": chain, "req": rid, "child": nxt, "depth": 0}
                cont = {**child, "budget": 999, "job": job, "seq": seq + 1}
                log.emit(end - 5, stream, _marker(cont))
            elif last and spec.end and spec.markers:
                status: dict[str, Any] = {"status": spec.end}
                if spec.end == "failed":
                    status["error"] = "state could not be serialized: TypeError"
                log.emit(end - 5, stream, _marker({
                    "ev": "job", "chain": chain, "req": rid, **ctx, **status,
                }))  # fmt: skip
            log.report(end, stream, rid, spec.hop_ms, ok=True)
            if seq in spec.duplicate:
                # The same event delivered again (under its own request id, or another one):
                # it finds the claim taken.
                dup = rid if spec.same_id else request_id(rng)
                dstream = f"2026/05/01/[$LATEST]{rng.getrandbits(128):032x}"
                log.start(end + 10, dstream, dup)
                hop = {"ev": "hop", "chain": chain, "req": dup, "parent": parent, "depth": 0}
                log.emit(end + 10, dstream, _marker({**hop, "max": 25, **ctx}))
                log.emit(end + 11, dstream, _marker({
                    "ev": "duplicate", "chain": chain, "req": dup, **ctx, "owner": rid,
                }))  # fmt: skip
                log.report(end + 12, dstream, dup, 2, ok=True)
            parent, rid = rid, nxt
            ts = end + 20
        if seq == spec.exhausted:
            break
    log.events.sort(key=lambda e: (e[0], e[1]))
    return [
        {"message": m, "timestamp": t, "logStreamName": s, "eventId": f"{i:056d}"}
        for i, (t, _n, s, m) in enumerate(log.events)
    ]
