"""Worker processes: spawned from one thread, and killed with everything they started.

Without cgroups, three Linux process attributes keep a handler's processes contained:
- PR_SET_PDEATHSIG (SIGKILL): a worker dies the moment the local cloud does.
- PR_SET_CHILD_SUBREAPER on the worker: a process a handler starts stays the worker's
  descendant even when its own parent exits (a double fork, or `Popen(...,
  start_new_session=True)` from a short-lived child), instead of being re-parented to PID 1.
  It survives execve, so awslambdaric runs with it.
- So an environment is killed as a tree: every descendant of the worker is found through
  /proc, stopped (SIGSTOP: a frozen process cannot fork), found again until no new one
  appears, then SIGKILLed; whatever session or process group each one made for itself.
The daemon is a subreaper as well (`become_subreaper`): should a worker die on its own,
its descendants come to the daemon, and `reap_orphans` kills and reaps them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # resolved once, in the parent: the child must not do lookups


def _child_setup() -> None:
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        _PRCTL(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _then(setup: Any) -> Any:
    def both() -> None:
        _child_setup()
        setup()

    return both


def become_subreaper() -> bool:
    """Make this process the subreaper of its descendants (the daemon); False if unsupported."""
    return _PRCTL is not None and _PRCTL(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


class Spawner:
    """Starts worker processes from one long-lived thread.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process;
    spawning from short-lived request threads would kill workers when a connection closes.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[dict[str, Any], Future[subprocess.Popen[bytes]]]]
        self._jobs = queue.SimpleQueue()
        self.pids: set[int] = set()  # spawned and not yet reaped
        # Held from fork to `pids.add`: `reap_orphans` takes it too, or a worker being
        # spawned (a child not yet in `pids`) would look like an orphan and be killed.
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="spawner", daemon=True)
        self._thread.start()

    def spawn(self, **popen_args: Any) -> subprocess.Popen[bytes]:
        future: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((popen_args, future))
        return future.result(timeout=30)

    def reaped(self, pid: int) -> None:
        self.pids.discard(pid)

    def _run(self) -> None:
        while True:
            args, future = self._jobs.get()
            setup = args.pop("setup", None)  # more to do between fork and exec (namespace)
            with self.lock:
                try:
                    preexec = _child_setup if setup is None else _then(setup)
                    proc = subprocess.Popen(preexec_fn=preexec, **args)  # noqa: PLW1509
                except BaseException as exc:
                    future.set_exception(exc)
                    continue
                self.pids.add(proc.pid)
            future.set_result(proc)


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process (from /proc/PID/stat)."""
    out: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            out[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    return out


def _children(pid: int) -> list[int] | None:
    """Children of `pid` from /proc/PID/task/*/children (None where the kernel lacks it)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as children:
                out += [int(child) for child in children.read().split()]
        except FileNotFoundError:
            if os.path.exists(f"/proc/{pid}/task/{task}"):
                return None  # no CONFIG_PROC_CHILDREN: scan every process instead
        except (OSError, ValueError):
            continue
    return out


def descendants(pid: int) -> set[int]:
    """Every live descendant of `pid` (not `pid` itself)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        children = _children(todo.pop())
        if children is None:
            return _descendants_by_scan(pid)
        for child in children:
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _descendants_by_scan(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _signal(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and every process below it, whatever session each one started."""
    if not sys.platform.startswith("linux"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        return
    frozen: set[int] = {pid}
    _signal(frozen, signal.SIGSTOP)
    for _ in range(8):  # a process may fork once more before its SIGSTOP lands
        new = descendants(pid) - frozen
        if not new:
            break
        _signal(new, signal.SIGSTOP)
        frozen |= new
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    _signal(frozen, signal.SIGKILL)


def reap_orphans(spawner: Spawner) -> int:
    """Kill and reap this process's children that the spawner did not start (orphans handed
    to a subreaper); how many there were."""
    with spawner.lock:
        return _reap_orphans(set(spawner.pids))


def _reap_orphans(keep: set[int]) -> int:
    mine = _children(os.getpid())
    if mine is None:
        me = os.getpid()
        mine = [pid for pid, parent in _parents().items() if parent == me]
    orphans = set(mine) - keep
    for pid in orphans:
        kill_tree(pid)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)
    return len(orphans)
