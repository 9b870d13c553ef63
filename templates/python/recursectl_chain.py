"""recursectl's chain helper, packaged next to your handler by `recursectl deploy`.

It has no dependency on recursectl (only boto3, which every Lambda Python runtime has).
It carries the chain context in the event, logs one marker line per invocation and one
per child, and refuses to go deeper than RECURSECTL_MAX_CALLS.

    import recursectl_chain

    def handler(event, context):
        chain = recursectl_chain.begin(event, context)
        if more_work:
            chain.invoke_self({"work": ...})

Marker lines are printed (plain text in both Lambda log formats) as
    RECURSECTL_CHAIN {"v": 1, "ev": "hop", ...}
and are what `recursectl logs` builds the tree from.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

MARKER = "RECURSECTL_CHAIN"
# `recursectl stop` raises the function's generation: chains started before it may finish the
# hop they are in but never invoke another, even after `recursectl resume`.
GENERATION_ENV = "RECURSECTL_GENERATION"
CONTEXT_KEY = "_recursectl"
VERSION = 1

_client: Any = None  # created on first use, then reused while the environment is warm
_THROTTLED = ("TooManyRequestsException", "ThrottlingException")
_THROTTLE_BACKOFF_S = (0.1, 0.3, 0.9)


def _lambda_client() -> Any:
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        # No automatic retries: botocore would also retry an Invoke whose first attempt did
        # reach Lambda (a read timeout, a dropped connection), starting a second child: a
        # forked chain. Throttling is retried by hand below: a 429 means nothing was accepted.
        _client = boto3.client("lambda", config=Config(retries={"total_max_attempts": 1}))
    return _client


def _invoke(**kwargs: Any) -> Any:
    for delay in (*_THROTTLE_BACKOFF_S, None):
        try:
            return _lambda_client().invoke(**kwargs)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code not in _THROTTLED or delay is None:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")


def _emit(record: dict[str, Any]) -> None:
    # One print per marker: one CloudWatch Logs event, whatever the log format.
    sys.stdout.write(f"{MARKER} {json.dumps(record, separators=(',', ':'))}\n")
    sys.stdout.flush()


class CapReached(RuntimeError):
    """invoke_self was refused because the chain is at RECURSECTL_MAX_CALLS."""


class Chain:
    """The chain context of one invocation."""

    def __init__(
        self,
        chain_id: str,
        request_id: str,
        parent: str | None,
        depth: int,
        generation: int | None = None,
    ):
        self.chain_id = chain_id
        self.request_id = request_id
        self.parent = parent
        self.depth = depth
        self.generation = _current_generation() if generation is None else generation
        self.max_calls = int(os.environ.get("RECURSECTL_MAX_CALLS", "25"))
        self.self_arn = os.environ.get("RECURSECTL_SELF_ARN") or os.environ.get(
            "AWS_LAMBDA_FUNCTION_NAME", ""
        )
        self.children: list[str] = []

    @property
    def remaining(self) -> int:
        """How many more levels the cap allows below this invocation."""
        return max(0, self.max_calls - self.depth)

    def child_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        event = dict(payload)
        event[CONTEXT_KEY] = {
            "chain": self.chain_id,
            "parent": self.request_id,
            "depth": self.depth + 1,
            "gen": self.generation,
        }
        return event

    def invoke_self(self, payload: dict[str, Any], *, sync: bool = False) -> str | None:
        """Invoke this function again with `payload`; returns the child's request id.

        Returns None (and logs why) when the cap forbids going deeper. For an Event invoke
        the returned request id is the one the child's execution will log.
        """
        current = _current_generation()
        if self.generation < current:
            _emit(
                {
                    "v": VERSION,
                    "ev": "stopped",
                    "chain": self.chain_id,
                    "req": self.request_id,
                    "depth": self.depth,
                    "gen": self.generation,
                }
            )
            print("recursectl: not invoking a child: this chain was stopped by `recursectl stop`")
            return None
        if self.depth + 1 > self.max_calls:
            _emit(
                {
                    "v": VERSION,
                    "ev": "capped",
                    "chain": self.chain_id,
                    "req": self.request_id,
                    "depth": self.depth,
                    "max": self.max_calls,
                }
            )
            print(
                f"recursectl: not invoking depth {self.depth + 1}: "
                f"RECURSECTL_MAX_CALLS={self.max_calls} reached"
            )
            return None
        body = json.dumps(self.child_event(payload)).encode()
        try:
            response = _invoke(
                FunctionName=self.self_arn,
                InvocationType="RequestResponse" if sync else "Event",
                Payload=body,
            )
        except Exception as exc:
            _emit(
                {
                    "v": VERSION,
                    "ev": "child_failed",
                    "chain": self.chain_id,
                    "req": self.request_id,
                    "depth": self.depth + 1,
                    "error": f"{type(exc).__name__}: {exc}"[:500],
                }
            )
            raise
        # Read the (empty) body: botocore hands the connection back to its pool only then.
        # Unread, every invoke would open a new TCP connection (and a new server thread).
        payload = response.get("Payload")
        if payload is not None:
            payload.read()
        child = str(response["ResponseMetadata"]["RequestId"])
        self.children.append(child)
        _emit(
            {
                "v": VERSION,
                "ev": "child",
                "chain": self.chain_id,
                "req": self.request_id,
                "child": child,
                "depth": self.depth + 1,
            }
        )
        return child


def _current_generation() -> int:
    try:
        return int(os.environ.get(GENERATION_ENV, "0"))
    except ValueError:
        return 0


def begin(event: Any, context: Any) -> Chain:
    """Read the chain context from the event (or start a chain) and log the hop marker."""
    request_id = str(getattr(context, "aws_request_id", "") or "unknown")
    ctx = event.get(CONTEXT_KEY) if isinstance(event, dict) else None
    if isinstance(ctx, dict) and ctx.get("chain"):
        chain = Chain(
            chain_id=str(ctx["chain"]),
            request_id=request_id,
            parent=str(ctx["parent"]) if ctx.get("parent") else None,
            depth=int(ctx.get("depth", 0)),
            generation=int(ctx.get("gen", 0)),
        )
    else:
        chain = Chain(chain_id=request_id, request_id=request_id, parent=None, depth=0)
    _emit(
        {
            "v": VERSION,
            "ev": "hop",
            "chain": chain.chain_id,
            "req": request_id,
            "parent": chain.parent,
            "depth": chain.depth,
            "max": chain.max_calls,
        }
    )
    return chain


def strip(event: Any) -> Any:
    """The event without recursectl's reserved key (for handlers that echo their event)."""
    if isinstance(event, dict) and CONTEXT_KEY in event:
        return {k: v for k, v in event.items() if k != CONTEXT_KEY}
    return event
