"""One thread reads every worker's stdout and telemetry pipes (epoll)."""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)


class PipeOwner(Protocol):
    def pipe_readable(self, fd: int) -> bool: ...

    def pipe_closed(self, fd: int) -> None: ...


_COALESCE = 0.002  # seconds the reader sleeps after a pass, so one wake-up takes many lines


class PipeReader:
    """One thread reads every worker's stdout and telemetry pipes.

    A thread per environment woke up (and took the GIL) for every flushed print: ~4 times
    per invocation. This one sleeps briefly after each pass, so a wake-up collects the lines
    of many workers. Nothing waits for it: an invocation drains its own pipes when its
    result arrives, so END still follows the last line.
    """

    def __init__(self) -> None:
        self._poll = select.epoll()
        self._owners: dict[int, PipeOwner] = {}
        self._thread = threading.Thread(target=self._run, name="pipe-reader", daemon=True)
        self._thread.start()

    def add(self, fd: int, env: PipeOwner) -> None:
        self._owners[fd] = env
        self._poll.register(fd, select.EPOLLIN)

    def _run(self) -> None:
        while True:
            try:
                events = self._poll.poll()
            except InterruptedError:
                continue
            for fd, _ in events:
                env = self._owners.get(fd)
                if env is None:
                    continue
                try:
                    eof = env.pipe_readable(fd)
                except Exception as exc:  # keep reading the other workers; say why
                    log.warning("worker output: %r", exc)
                    eof = True
                if eof:
                    # Unregister before the close: the number may be reused at once.
                    self._owners.pop(fd, None)
                    with contextlib.suppress(OSError, ValueError):
                        self._poll.unregister(fd)
                    env.pipe_closed(fd)
            time.sleep(_COALESCE)


_reader: PipeReader | None = None
_reader_lock = threading.Lock()


def pipe_reader() -> PipeReader:
    global _reader
    with _reader_lock:
        if _reader is None:
            _reader = PipeReader()
        return _reader
