"""Lambda's on-demand list prices by architecture (us-east-1, first tier): an estimate.

From aws.amazon.com/lambda/pricing: $0.0000166667 per GB-second on x86_64, $0.0000133334 on
arm64 (Graviton, 20% less); requests cost $0.20 per million on both.
"""

from __future__ import annotations

GB_SECOND_USD = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
MILLION_REQUESTS_USD = 0.20


def gb_second_price(architecture: str | None) -> float:
    """USD per GB-second for a function's architecture (unknown or None: x86_64)."""
    return GB_SECOND_USD.get(architecture or "x86_64", GB_SECOND_USD["x86_64"])


def estimate_usd(gb_seconds: float, requests: int, architecture: str | None = None) -> float:
    """Compute plus request charges at the architecture's list price."""
    return gb_seconds * gb_second_price(architecture) + requests * MILLION_REQUESTS_USD / 1e6


def label(architecture: str | None) -> str:
    """`x86 list price` / `arm64 list price`, for the estimate's caption."""
    return "arm64 list price" if architecture == "arm64" else "x86 list price"
