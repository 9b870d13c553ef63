"""The local cloud's Node.js runtime client, built where a person sees it (deploy --local,
local start --node) rather than inside a first invocation. Shared by those two commands."""

from __future__ import annotations

import time

from recursectl import nodejs
from recursectl.app import App


def build_runtime_client(app: App, *, required: bool = False) -> None:
    """The local cloud's Node runtime client and SDK, built now (once per machine) with its
    real duration shown, so no invocation waits for npm or counts it as Init.

    `required` (local start --node): no usable node or a failed build is an error."""
    from recursectl.errors import UsageError

    try:
        tc = nodejs.toolchain()
    except nodejs.NodeError as exc:
        if required:
            raise UsageError(exc.message, hint=exc.hint) from None
        return  # deploy said so; the invoke fails as a broken runtime, with the hint
    todo = nodejs.missing(tc)
    if not todo:
        if required:
            app.ui.info(f"the Node.js runtime client is built already ({nodejs.cache_root()})")
        return
    started = time.monotonic()
    message = (
        f"building {' and '.join(todo)} for the local cloud's Node.js workers "
        f"(once per machine, into {nodejs.cache_root()}; npm compiles the client: minutes)..."
    )
    try:
        with app.ui.status(message):
            nodejs.ensure_ric(tc)
            nodejs.ensure_sdk(tc)
    except nodejs.NodeError as exc:
        if required:
            raise UsageError(exc.message, hint=exc.hint) from None
        app.ui.warn(f"{exc.message} ({exc.hint})")
        return
    app.ui.info(f"built the Node.js runtime client in {time.monotonic() - started:.1f} s")
