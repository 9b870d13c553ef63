"""The chain package's own errors (callers turn them into the CLI's messages)."""

from __future__ import annotations


class ChainError(Exception):
    """Base class: a message for the user, and a hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class AmbiguousChainId(ChainError):
    """A chain id prefix matches several chains."""
