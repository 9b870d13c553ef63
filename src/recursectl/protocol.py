"""The chain-context protocol, in one dependency-free place.

The packaged helpers (`templates/python/recursectl_chain.py`, `templates/node/recursectl_chain.cjs`)
cannot import recursectl, so they repeat these values; `tests/unit/test_protocol.py` checks that
they do, to the letter.

How it works:

- `deploy` points the function's Handler at the helper's entry point (ENTRY_POINT) and puts the
  user's own handler, in Lambda's `module.function` form, into HANDLER_ENV (handler redirection).
- Every invocation reads the chain context from the event's CONTEXT_KEY (a root invocation has
  none: its own request id becomes the chain id), prints one `hop` marker, and calls the user's
  handler with the event minus CONTEXT_KEY.
- Every Lambda Invoke the handler makes of its own function (through botocore or the AWS SDK for
  JavaScript v3) gets the child's context added to its payload, after the depth cap
  (MAX_CALLS_ENV), the budget (MAX_INVOCATIONS_ENV) and the kill-switch generation
  (GENERATION_ENV) have allowed it; the accepted call prints a `child` marker with the child's
  request id.

Context (`event["_recursectl"]`), every field optional on a root event:
    chain   the chain id (the root's request id)
    parent  the parent's request id
    depth   this invocation's depth (root 0)
    gen     the function's generation when the chain started (missing: 0)
    budget  invocations this subtree may still make, this one included (missing: MAX_INVOCATIONS)
    split   the fan-out the budget is shared by; `recursectl invoke --fanout K` sets it to K
            at the root and every child inherits it (missing: unhinted, see below)
    max_cost  the chain's cost cap in USD (`recursectl invoke --max-cost`; missing: none)

The exact budget (COUNTER_TABLE_ENV set, as deploy sets it): every child is counted on the
chain's item of the function's DynamoDB table before its Invoke, with one conditional
UpdateItem (`n` below MAX_INVOCATIONS - 1, the root not counted), so a chain makes at most
MAX_INVOCATIONS invocations whatever its shape; `budget` in the markers is then what the whole
chain could still make. An unreachable counter refuses the child (reason "counter"). With a
cost cap (`max_cost` in the context, USD for the whole chain, inherited), every invocation adds
its cost to the item's `spend` at its end, and a child is refused (reason "cost") once that
spend plus the parent's own cost so far reaches the cap.

Without the counter (a function deployed by an older recursectl), the split rule below.

Budget sharing, with no shared state: a node with budget B has a pool of P = B - 1 for its whole
subtree, and each child's share comes out of what the pool still holds (`left`), so a chain can
never make more than MAX_INVOCATIONS invocations in total.
- With a split K, every child receives min(left, max(1, floor(P / K))): a regular tree of fan-out
  K whose size fits the budget is never cut (P >= K * size(subtree), so each of the K shares is
  at least size(subtree); ceil would starve the last sibling when K does not divide P), so
  `invoke`'s up-front check of the tree size is the whole truth.
- Without one (a chain started by anything but `recursectl invoke --fanout`), a child receives
  min(left, max(ceil(P / 2), linear)), where linear = MAX_CALLS - child_depth + 1 is what an
  unbranched chain below it can use before the depth cap ends it: linear chains up to the cap
  are never cut, and binary trees that fit the budget are not while every pool is at least twice
  `linear` (with the defaults, binary trees up to depth 6); deeper or wider trees may be, with a
  `capped` marker (reason "budget") at the node where it happened.

Markers: one stdout line each, MARKER + " " + compact JSON, always with "v": VERSION.
    hop           chain, req, parent (null at the root), depth, max, budget
    child         chain, req (the parent), child (its request id), depth (the child's), budget
    capped        chain, req, depth, max, reason ("depth", "budget", "cost", "counter"), budget
    stopped       chain, req, depth, gen (the chain was started before the last `stop`)
    child_failed  chain, req, depth (the child's), error
    dropped       req, reason, optional chain and parent (written by the local cloud only)
    checkpoint    chain, req, job, seq, progress, bytes, spilled (long jobs: docs/jobs.md)
    job           chain, req, job, seq, status, optional error
    duplicate     chain, req, job, seq, owner
A job's `hop` and `child` markers add job, seq, attempt.
A reader ignores unknown events and unknown fields, so the protocol can grow.
"""

from __future__ import annotations

VERSION = 1
MARKER = "RECURSECTL_CHAIN"
CONTEXT_KEY = "_recursectl"

# Marker events.
EV_HOP = "hop"
EV_CHILD = "child"
EV_CAPPED = "capped"
EV_STOPPED = "stopped"
EV_CHILD_FAILED = "child_failed"
EV_DROPPED = "dropped"
# Long jobs (docs/jobs.md): a hop's checkpoint, a job's status change, an ignored duplicate.
EV_CHECKPOINT = "checkpoint"
EV_JOB = "job"
EV_DUPLICATE = "duplicate"
EVENTS = frozenset(
    {
        EV_HOP,
        EV_CHILD,
        EV_CAPPED,
        EV_STOPPED,
        EV_CHILD_FAILED,
        EV_DROPPED,
        EV_CHECKPOINT,
        EV_JOB,
        EV_DUPLICATE,
    }
)

# Why a child was refused (the `reason` of a `capped` marker).
REASON_DEPTH = "depth"
REASON_BUDGET = "budget"
REASON_COST = "cost"  # the chain's recorded spend reached its cost cap (invoke --max-cost)
REASON_COUNTER = "counter"  # the chain counter could not be reached: refused (fail safe)

# The function's environment, as deploy writes it.
SELF_ARN_ENV = "RECURSECTL_SELF_ARN"
# In recursectl.toml's [environment] values and iam_statements: the function's own ARN.
SELF_ARN_PLACEHOLDER = "${function_arn}"
MAX_CALLS_ENV = "RECURSECTL_MAX_CALLS"
MAX_INVOCATIONS_ENV = "RECURSECTL_MAX_INVOCATIONS"
GENERATION_ENV = "RECURSECTL_GENERATION"
HANDLER_ENV = "RECURSECTL_HANDLER"
# The chain counter's DynamoDB table (deploy creates it, one per function): with it the budget
# is exact (one conditional UpdateItem per child); without it the split rule below.
COUNTER_TABLE_ENV = "RECURSECTL_COUNTER_TABLE"
COUNTER_TTL_S = 2 * 24 * 3600  # a chain's item expires two days after its last write
# Long jobs (docs/jobs.md). The job's context is CONTEXT_KEY's JOB_KEY.
JOB_KEY = "job"
JOB_BUCKET_ENV = "RECURSECTL_JOB_BUCKET"
JOB_BOUNDS_ENV = "RECURSECTL_JOB_BOUNDS"  # compact JSON: max_hops, max_seconds, max_cost
JOB_MARGIN_ENV = "RECURSECTL_JOB_MARGIN_MS"
DEFAULT_JOB_MAX_HOPS = 1000
DEFAULT_JOB_MAX_SECONDS = 6 * 3600
JOB_STATUSES = ("running", "paused", "done", "failed", "cancelled")
JOB_RECORD_PREFIX = "job#"  # the counter table's `chain` key of a job's record: job#<id>
JOB_INLINE_PAYLOAD = 256 * 1024  # bytes of compact JSON an Event payload carries inline
JOB_INLINE_CHECKPOINT = 64 * 1024  # bytes of state the job record holds inline
JOB_MAX_ATTEMPTS = 3  # deliveries of one hop (the first and two retries)
JOB_STATE_PREFIX = "recursectl/"  # the job bucket's prefix: recursectl/<function>/state/
JOB_STATE_TTL_DAYS = 14
OWN_ENV = frozenset(
    {
        SELF_ARN_ENV,
        MAX_CALLS_ENV,
        MAX_INVOCATIONS_ENV,
        GENERATION_ENV,
        HANDLER_ENV,
        COUNTER_TABLE_ENV,
        JOB_BUCKET_ENV,
        JOB_BOUNDS_ENV,
        JOB_MARGIN_ENV,
    }
)

# The helper's file and entry point, per language (the function's Handler after redirection).
HELPER_MODULE = "recursectl_chain"
ENTRY_POINT = f"{HELPER_MODULE}.handler"
PYTHON_HELPER_FILE = f"{HELPER_MODULE}.py"
NODE_HELPER_FILE = f"{HELPER_MODULE}.cjs"
NODE_GUARD_FILE = f"{HELPER_MODULE}.guard.cjs"
# The job API (docs/jobs.md), packaged next to the helper and loaded only when a job runs, so
# a plain guarded function never compiles it (Lambda's read-only task root keeps no .pyc).
JOB_MODULE = "recursectl_job"
PYTHON_JOB_FILE = f"{JOB_MODULE}.py"
NODE_JOB_FILE = f"{HELPER_MODULE}.job.cjs"
# The Python helper's own DynamoDB client, loaded on its first call (the counter, a job).
DYNAMO_MODULE = "recursectl_dynamo"
PYTHON_DYNAMO_FILE = f"{DYNAMO_MODULE}.py"
# Every file a package gets from recursectl, per language.
PYTHON_HELPER_FILES = (PYTHON_HELPER_FILE, PYTHON_JOB_FILE, PYTHON_DYNAMO_FILE)
NODE_HELPER_FILES = (NODE_HELPER_FILE, NODE_GUARD_FILE, NODE_JOB_FILE)

DEFAULT_MAX_CALLS = 25
DEFAULT_MAX_INVOCATIONS = 1000


def child_share(pool: int, left: int, split: int | None, max_calls: int, child_depth: int) -> int:
    """The budget handed to the next child (see the module docstring); 0 means refuse.

    `pool` is the parent's budget minus itself, `left` what the pool still holds, `split` the
    context's split (None when the chain carries none).
    """
    if left <= 0 or child_depth > max_calls:
        return 0
    if split is not None and split >= 1:
        return min(left, max(1, pool // split))
    linear = max_calls - child_depth + 1
    return min(left, max(-(-pool // 2), linear))


def tree_size(calls: int, fanout: int) -> int:
    """Invocations in a full tree of depth `calls` (root 0) and fan-out `fanout`."""
    if fanout <= 1:
        return calls + 1
    total: int = (fanout ** (calls + 1) - 1) // (fanout - 1)
    return total
