"""A recursive Lambda function: it calls itself `numberOfCalls` more times.

Event: {"numberOfCalls": 5}            a chain of 6 invocations
       {"numberOfCalls": 3, "fanout": 2}  each call invokes 2 children: a tree of 15

`recursectl deploy` packages this file with recursectl_chain.py, whose entry point runs it
(Handler recursectl_chain.handler, RECURSECTL_HANDLER=handler.handler) and guards every Invoke
of this function, whatever calls it. This handler uses the helper's explicit API on top: under
the entry point `begin` returns the chain already begun (no second marker), and `invoke_self`
returns None instead of raising when the cap or the budget refuses a child, so the chain ends
cleanly. A plain `boto3.client("lambda").invoke(...)` of this function would be guarded too.
"""

from __future__ import annotations

from typing import Any

import recursectl_chain


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    chain = recursectl_chain.begin(event, context)
    calls = int(event.get("numberOfCalls", 0))
    fanout = max(1, int(event.get("fanout", 1)))
    print(f"received {{ numberOfCalls: {calls} }}")

    children = []
    if calls > 0:
        print("recursive call")
        for _ in range(fanout):
            child = chain.invoke_self({"numberOfCalls": calls - 1, "fanout": fanout})
            if child is None:  # the cap was reached; the helper logged why
                break
            children.append(child)
    else:
        print("recursive call finished")
    return {"numberOfCalls": calls, "depth": chain.depth, "children": children}
