"""A long job: 10,000 items in batches, across as many 3-second hops as it takes.

recursectl's job API carries the work from hop to hop (see "Long jobs" in recursectl's
README): each hop processes batches while it has time left, checkpoints after each batch,
then hands what is left to the next hop. A hop that fails or times out is retried from its
last checkpoint; `recursectl stop` pauses the job at its next hop and `recursectl resume`
continues it from there.

Event (all optional): {"total": 10000, "batch": 100, "work_ms": 50}

    recursectl deploy && recursectl invoke --follow
    recursectl job list
"""

from __future__ import annotations

import time
from typing import Any

import recursectl_chain

TOTAL = 10_000  # items in the job
BATCH = 100  # items per batch: one checkpoint (one DynamoDB write) per batch
WORK_MS = 50  # how long a batch's work takes here; stands for yours


def process(item: int) -> int:
    """One item's work: replace it with yours (a row to copy, a file to convert, ...)."""
    return item * item


def handler(event: dict[str, Any], context: Any) -> Any:
    job = recursectl_chain.job(event, context)
    settings = job.input if isinstance(job.input, dict) else {}
    total = int(settings.get("total", TOTAL))
    batch = max(1, int(settings.get("batch", BATCH)))
    work_s = float(settings.get("work_ms", WORK_MS)) / 1000
    # What the previous hop handed over; the first hop starts from the beginning.
    state = job.state or {"next": 0, "sum": 0}
    while state["next"] < total and job.should_continue():
        end = min(state["next"] + batch, total)
        state["sum"] += sum(process(item) for item in range(state["next"], end))
        time.sleep(work_s)
        state["next"] = end
        # Saved before the next batch: a retry of this hop starts from here, not from 0.
        job.checkpoint(state, progress={"done": end, "total": total})
    if state["next"] >= total:
        print(f"processed {total} items in {job.seq + 1} hops")
        return job.done({"processed": total, "sum": state["sum"]})
    print(f"hop {job.seq}: {state['next']} of {total} done, handing over")
    return job.continue_with(state)
