"""Reading and following one chain: the poller, the collector, picking the chain, failure.

`logs`, `invoke --follow` and `info` all read a chain through here. The timing rules (when an
announced child counts as missing, when an unmarked chain counts as complete) are the chain
package's `DEFAULT_TIMING`; what makes a chain failed, and what to tell the user about it,
is decided here (`failure`). AWS is reached only through the poller (`logs.make_poller`)
and, when following, Live Tail (`livefeed`): the transport is chosen here (`open_reader`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recursectl import protocol
from recursectl.chain import AmbiguousChainId, Chain, ChainCollector
from recursectl.chain.snapshot import (
    CUT_BUDGET,
    CUT_COST,
    CUT_COUNTER,
    CUT_DEPTH,
    CUT_LOOP,
    CUT_MISSING,
    CUT_STOPPED,
)
from recursectl.errors import ChainFailedError, RecursectlError, StoppedError, UsageError
from recursectl.watch.livefeed import LiveFollower, LiveStream
from recursectl.watch.poller import make_poller
from recursectl.watch.render import visible

if TYPE_CHECKING:
    from recursectl.aws import Aws
    from recursectl.watch.poller import Poller

ANCHOR_AFTER_MS = 30_000  # a --since wider than this is worth one filtered call to narrow
LAST_CHAIN_WINDOW_MS = 3_600_000  # `info` looks for the last chain in the last hour


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Reader:
    """One log group read from `start_ms` on, collected into chains."""

    collector: ChainCollector
    poller: Poller | LiveFollower
    chain_id: str | None
    clock: Callable[[], int] = now_ms
    exclude: frozenset[str] = frozenset()  # chains seen before waiting began: not "the next"

    def pick(self) -> Chain | None:
        """The chain asked for (id, unique prefix or member request id), else the latest."""
        now = self.clock()
        try:
            if self.chain_id:
                return self.collector.get(self.chain_id, now)
            chain = self.collector.latest(now)
        except AmbiguousChainId as exc:
            raise UsageError(exc.message, hint=exc.hint) from None
        # The latest is by its root's start: a new chain starts after every excluded one.
        return None if chain is None or chain.chain_id in self.exclude else chain

    def wait_for_next(self) -> Chain | None:
        """Read once; if the latest chain is still running return it, else exclude it (and
        everything before it), so that following picks the next chain to start."""
        self.collector.add_events(self.poller.poll())
        chain = self.pick()
        if chain is not None and not chain.complete():
            self.chain_id = chain.chain_id
            return chain
        self.exclude = frozenset(c.chain_id for c in self.collector.chains(self.clock()))
        return None


def live_tail_wanted() -> bool:
    """Follow over Live Tail unless RECURSECTL_LIVE_TAIL=0 (then: FilterLogEvents only)."""
    return os.environ.get("RECURSECTL_LIVE_TAIL", "1").strip().lower() not in ("0", "off", "no")


def live_follower(aws: Aws, log_group: str, poller: Poller) -> LiveFollower:
    """The poller with Live Tail in front of it, on the group's ARN (one STS call, cached)."""

    def open_live() -> LiveStream:
        ident = aws.identity()
        arn = f"arn:{ident.partition}:logs:{ident.region}:{ident.account}:log-group:{log_group}"
        return aws.logs_api.live_tail([arn])

    return LiveFollower(poller, open_live)


def open_reader(
    aws: Aws,
    log_group: str,
    *,
    chain_id: str | None,
    start_ms: int,
    lines: bool,
    live: bool | None = None,
    architecture: str | None = None,
) -> Reader:
    """A reader of the group; `live` (default: `live_tail_wanted()`) follows over Live Tail."""
    poller = make_poller(aws, log_group, start_ms)
    if chain_id and now_ms() - start_ms > ANCHOR_AFTER_MS:
        poller.anchor(chain_id)  # a wide --since: start reading where the chain starts
    wanted = live_tail_wanted() if live is None else live
    feed = live_follower(aws, log_group, poller) if wanted else poller
    collector = ChainCollector(keep_lines=lines, architecture=architecture)
    return Reader(collector, feed, chain_id)


def read(
    aws: Aws,
    log_group: str,
    *,
    chain_id: str | None,
    start_ms: int,
    lines: bool,
    architecture: str | None = None,
) -> tuple[Chain | None, bool]:
    """One read of the log group: (the chain, or None; whether the log group exists)."""
    reader = open_reader(
        aws, log_group, chain_id=chain_id, start_ms=start_ms, lines=lines, live=False,
        architecture=architecture,
    )  # fmt: skip
    reader.collector.add_events(reader.poller.poll())
    return reader.pick(), reader.poller.group_exists is not False


@dataclass(frozen=True)
class Followed:
    chain: Chain | None
    interrupted: bool


def follow(
    reader: Reader,
    *,
    timeout: float,
    on_update: Callable[[Chain], None] | None = None,
) -> Followed:
    """Poll until the chain is complete, the timeout, or Ctrl-C (then: the chain so far)."""
    state: dict[str, Chain | None] = {"chain": None}

    def done() -> bool:
        chain = state["chain"]
        return chain is not None and chain.complete()

    def expecting() -> bool:
        # More events are due while an invocation runs or an announced child has not started;
        # a fragment of an old chain (its root before --since) expects nothing.
        chain = state["chain"]
        if chain is None:
            return reader.chain_id is not None  # just invoked: it will show up
        if chain.job is not None and chain.job.status == "running":
            return True  # a job's next hop (or a failed hop's retry) is due
        return chain.summary().running > 0

    interrupted = False
    try:
        for batch in reader.poller.follow(done=done, expecting=expecting, deadline_s=timeout):
            reader.collector.add_events(batch)
            state["chain"] = chain = reader.pick()
            if on_update is not None and chain is not None:
                on_update(chain)
    except KeyboardInterrupt:
        interrupted = True
        state["chain"] = _catch_up(reader) or state["chain"]
    return Followed(state["chain"], interrupted)


def _catch_up(reader: Reader) -> Chain | None:
    """After Ctrl-C, one more read: the tree so far is the logs as of the interrupt, not as of
    the last poll (up to a poll interval older, several seconds while backing off). A second
    Ctrl-C or a failed read gives up on it."""
    try:
        reader.collector.add_events(reader.poller.poll())
    except (KeyboardInterrupt, RecursectlError):
        return None
    return reader.pick()


def tail(
    reader: Reader,
    *,
    timeout: float | None,
    on_update: Callable[[Chain | None], None],
    on_complete: Callable[[Chain], None],
) -> Followed:
    """Follow every chain that starts from now on, until Ctrl-C (or `timeout`): each one is
    passed to `on_complete` once, when complete; `on_update` sees the newest one in progress.

    Chains complete before the start are not shown again; one running at the start is.
    """
    reader.collector.add_events(reader.poller.poll())
    now = reader.clock()
    emitted = {c.chain_id for c in reader.collector.chains(now) if c.complete()}
    current: Chain | None = None
    interrupted = False

    def expecting() -> bool:
        return current is not None and current.summary().running > 0

    try:
        batches = reader.poller.follow(done=lambda: False, expecting=expecting, deadline_s=timeout)
        for batch in batches:
            reader.collector.add_events(batch)
            current = None
            for chain in reader.collector.chains(reader.clock()):
                if chain.chain_id in emitted:
                    continue
                if chain.complete():
                    emitted.add(chain.chain_id)
                    on_complete(chain)
                else:
                    current = chain  # oldest first: the last one left is the newest
            on_update(current)
    except KeyboardInterrupt:
        interrupted = True
    return Followed(current, interrupted)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def failure_text(chain: Chain) -> str:
    """'2 errors, 1 capped invocation' for a chain that failed; '' for one that did not."""
    s = chain.summary()
    parts = [
        _plural(n, word)
        for n, word in (
            (s.errors, "error"),
            (s.timeouts, "timeout"),
            (s.dropped, "dropped invocation"),
            (s.missing, "missing invocation"),
            (s.capped, "capped invocation"),
            (s.stopped, "stopped invocation"),
            (s.child_failed, "failed child invoke"),
        )
        if n
    ]
    return ", ".join(parts)


def failure_hint(chain: Chain, name: str) -> str:
    """What to do next, for the most telling failure in the chain: which limit, which setting."""
    cuts = {inv.cut for inv in chain.cuts()}
    invs = chain.invocations
    if CUT_LOOP in cuts:
        return (
            "AWS's recursive loop detection stopped the chain after 16 invocations: deploy "
            "with --max-calls 16 or more to allow longer chains (RecursiveLoop=Allow; "
            "recursectl's guard limits them instead); "
            f"`recursectl info --name {name}` shows the current setting"
        )
    if CUT_DEPTH in cuts:
        cap = next((i.capped for i in invs if i.cut == CUT_DEPTH and i.capped is not None), None)
        at = f" ({cap})" if cap is not None else ""
        return (
            f"recursectl's depth cap max_calls{at} refused a deeper child: "
            f"`recursectl deploy --name {name} --max-calls N` raises it"
        )
    if CUT_BUDGET in cuts:
        root = chain.root
        total = f" ({root.budget})" if root is not None and root.budget is not None else ""
        return (
            f"the chain used up its invocation budget max_invocations{total}: "
            f"`recursectl deploy --name {name} --max-invocations N` raises it"
        )
    if CUT_COST in cuts:
        return "the chain reached its cost cap: `recursectl invoke --max-cost USD` sets it"
    if CUT_COUNTER in cuts:
        return (
            "the guard could not reach the chain counter (a DynamoDB table) and refused "
            "children rather than run unchecked: the invocation's log says why; "
            f"`recursectl deploy --name {name}` re-creates the table and its permission"
        )
    if CUT_STOPPED in cuts:
        return (
            "the chain began before `recursectl stop`, so the guard ended it; chains started "
            f"after `recursectl resume --name {name}` run normally"
        )
    if any(i.status == "timeout" for i in invs):
        return (
            "an invocation hit the function's timeout: "
            f"`recursectl deploy --name {name} --timeout N` raises it"
        )
    empty = _empty_function_name(chain)
    if empty:
        return empty
    if CUT_MISSING in cuts:
        return (
            "an announced child never started: on AWS that is how loop detection shows after "
            "16 invocations (deploy with --max-calls 16 or more), or it was throttled or is "
            "still queued "
            f"(`recursectl info --name {name}` shows a stopped function)"
        )
    return (
        "the handler's own output says why: "
        f"recursectl logs --name {name} --chain {visible(chain.chain_id[:8])} --lines"
    )


# What the SDKs say when an Invoke's FunctionName is empty (a variable that is not set):
# botocore "Invalid length for parameter FunctionName, value: 0" / "Invalid type for parameter
# FunctionName, value: None", the SDK for JavaScript v3 "No value provided for input HTTP
# label: FunctionName".
_EMPTY_NAME = re.compile(
    r"(?:Invalid (?:length|type) for parameter FunctionName|"
    r"No value provided for input HTTP label: FunctionName)"
)


def _empty_function_name(chain: Chain) -> str | None:
    """The hint for a self-invoke whose FunctionName came from a variable that is not set."""
    for inv in chain.invocations:
        texts = [inv.error.message or "", inv.error.type or ""] if inv.error else []
        texts += [ln.text for ln in inv.lines]
        if any(_EMPTY_NAME.search(t) for t in texts):
            return (
                "the handler invoked a function with an empty FunctionName: the environment "
                f"variable it reads its own ARN from is not set. recursectl sets "
                f'{protocol.SELF_ARN_ENV}; name yours with `self_arn_env = ["NAME"]` in '
                "recursectl.toml (deploy also finds os.environ / process.env reads used as "
                "FunctionName) and deploy again"
            )
    return None


def job_failure(chain: Chain, name: str) -> RecursectlError | None:
    """A job's verdict is the job's status, not its hops': a hop that failed and was retried,
    or a duplicate delivery that was ignored, is the job working as designed."""
    job = chain.job
    assert job is not None
    jid = visible(job.job_id)
    at = f" at hop {job.seq}" if job.seq is not None else ""
    if job.status == "done":
        return None
    if job.status == "failed":
        why = f": {visible(job.error)}" if job.error else ""
        return ChainFailedError(
            f"Job {jid} failed{at}{why}.",
            hint=f"its last checkpoint is kept: `recursectl job resume {jid} --name {name}` "
            f"restarts it from there; the hop's own lines: `recursectl logs --name {name} "
            f"--chain {visible(chain.chain_id[:8])} --lines`",
        )
    if job.status == "paused":
        return StoppedError(
            f"Job {jid} is paused{at} (`recursectl stop`); its state is kept.",
            hint=f"`recursectl resume --name {name}` continues every paused job, "
            f"`recursectl job resume {jid} --name {name}` this one",
        )
    if job.status == "cancelled":
        return StoppedError(
            f"Job {jid} was cancelled{at}.",
            hint=f"`recursectl job show {jid} --name {name}` shows its last checkpoint",
        )
    if job.waiting is not None:
        return ChainFailedError(
            f"Job {jid} is waiting: hop {job.waiting} was invoked and has not started.",
            hint=f"the function may be stopped (`recursectl info --name {name}`; "
            f"`recursectl resume --name {name}` continues its jobs), throttled, or the hop's "
            f"event still queued; `recursectl logs --follow --chain {visible(chain.chain_id)} "
            f"--name {name}` follows it again",
        )
    return ChainFailedError(
        f"Job {jid} is still running{at}.",
        hint=f"follow it with `recursectl logs --follow --chain {visible(chain.chain_id)} "
        f"--name {name}` (a resumed job runs in a new chain: `recursectl job show {jid}`)",
    )


def failure(chain: Chain, name: str) -> RecursectlError | None:
    """The error a failed (or, when linked, unfinished) chain ends the command with."""
    if chain.job is not None:
        return job_failure(chain, name)
    text = failure_text(chain)
    shown = visible(chain.chain_id)  # a chain id is log text: no escapes to the terminal
    if text:
        return ChainFailedError(f"Chain {shown} failed: {text}.", hint=failure_hint(chain, name))
    if not chain.complete() and chain.linked:
        # Without markers nobody announces children, so "not complete" only means "quiet
        # for less than the quiet time": not a failure.
        return ChainFailedError(
            f"Chain {shown} is not complete yet.",
            hint=f"follow it with `recursectl logs --follow --chain {shown}"
            + (f" --name {name}`" if name else "`"),
        )
    return None


def last_chain_summary(
    aws: Aws, log_group: str, architecture: str | None = None
) -> dict[str, Any] | None:
    """The summary of the most recent chain in the last hour, or None (no logs yet)."""
    start = now_ms() - LAST_CHAIN_WINDOW_MS
    chain, _ = read(
        aws, log_group, chain_id=None, start_ms=start, lines=False, architecture=architecture
    )
    if chain is None:
        return None
    doc = {
        "chain_id": chain.chain_id,
        "complete": chain.complete(),
        "failed": chain.failed,
        **chain.summary().to_dict(),
    }
    if chain.job is not None:
        doc["job"] = chain.job.to_dict()  # the last chain runs a long job: where it stands
    return doc
