"""The error hierarchy: every error carries its message, a hint and its exit code.

Exit codes (documented in the README):
  0 ok · 1 the chain failed · 2 bad usage or input · 3 AWS or environment problem
  4 function not found · 5 resource exists but is not managed by recursectl (or by this project)
  6 the function is stopped (kill switch on) · 130 interrupted

The AWS layer (`recursectl.aws`) raises the AwsError subclasses below for what AWS answered
(NotFound, AlreadyExists, Conflict, Throttled, AccessDenied), so no caller compares error codes;
`code` keeps AWS's own error code for messages and logs.
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_CHAIN_FAILED = 1
EXIT_USAGE = 2
EXIT_AWS = 3
EXIT_NOT_FOUND = 4
EXIT_NOT_OURS = 5
EXIT_STOPPED = 6
EXIT_INTERRUPTED = 130


class RecursectlError(Exception):
    """A failure the user can act on: one line of message, one line of hint."""

    exit_code = EXIT_AWS

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        # What a multi-step command had done when this stopped it (destroy: the removals).
        self.progress: list[Any] = []
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(RecursectlError):
    """Bad flags, bad config, bad input files."""

    exit_code = EXIT_USAGE


class AwsError(RecursectlError):
    """AWS said no, or could not be reached."""

    exit_code = EXIT_AWS

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        exit_code: int | None = None,
        code: str | None = None,
    ):
        super().__init__(message, hint, exit_code)
        self.code = code


class NotFoundError(AwsError):
    """The function (or another resource we need) does not exist."""

    exit_code = EXIT_NOT_FOUND


class AlreadyExistsError(AwsError):
    """Creating something that is already there."""


class ConflictError(AwsError):
    """The resource is busy or in a state that forbids the call (e.g. an update in progress)."""


class ThrottledError(AwsError):
    """AWS is rate-limiting us (after the client's own retries)."""


class LiveTailUnavailable(AwsError):
    """StartLiveTail was refused (`code`: AccessDeniedException, LimitExceededException,
    ResourceNotFoundException, or an endpoint that lacks it): read with FilterLogEvents.
    `group_missing`: refused because the log group does not exist (yet)."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        code: str | None = None,
        group_missing: bool = False,
    ):
        super().__init__(message, hint, code=code)
        self.group_missing = group_missing


class LiveTailEnded(AwsError):
    """A Live Tail stream ended (SessionTimeoutException after 3 hours, a streaming error, the
    connection closed): read on with FilterLogEvents."""


class AccessDeniedError(AwsError):
    """Our identity may not do that."""


class UnsupportedApiError(AwsError):
    """The endpoint does not implement this API (moto's server, LocalStack, an older
    partition): `api` names it (e.g. `lambda:PutFunctionRecursionConfig`). Callers that can
    go on without it say what is left undone instead of failing."""

    def __init__(self, api: str, code: str | None = None):
        super().__init__(
            f"This endpoint does not implement {api}.",
            hint="AWS has it; an emulator or an older partition may not",
            code=code,
        )
        self.api = api


class StoppedError(RecursectlError):
    """The function's kill switch is on (reserved concurrency 0): nothing can start."""

    exit_code = EXIT_STOPPED


class NotOursError(RecursectlError):
    """A resource of that name exists but is not tagged `managed-by: recursectl`."""

    exit_code = EXIT_NOT_OURS


class ChainFailedError(RecursectlError):
    """The chain ran but at least one invocation failed, timed out or was dropped."""

    exit_code = EXIT_CHAIN_FAILED
