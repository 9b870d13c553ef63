"""A worker's own mount namespace, where the local cloud runs as root (CI, containers).

On AWS the task root is a read-only file system (a write fails with EROFS) and `/tmp` is the
environment's own. Root ignores file modes, so there the worker gets, before it execs:
- a private mount namespace (nothing it mounts reaches the host);
- a tmpfs of 512 MB (Lambda's default ephemeral storage) on `/tmp`, with the folders under
  `/tmp` the worker needs (the local cloud's work folder, an interpreter kept there) bound
  back in from descriptors opened before `/tmp` was covered;
- its task root bound read-only onto itself.

Where that cannot be done (not root, no CAP_SYS_ADMIN, not Linux), `available()` is False and
the file-mode isolation of `sandbox` stays the only one.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

TMP = "/tmp"  # the path a tmpfs covers in the worker's namespace (never written to here)
TMP_SIZE = "512m"  # Lambda's default ephemeral storage
_CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV = 1, 2, 4
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()  # resolved in the parent: the child between fork and exec does no lookups


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, kind: str | None, flags: int, data: str = "") -> None:
    assert _LIBC is not None
    _check(
        _LIBC.mount(
            source.encode() if source else None,
            target.encode(),
            kind.encode() if kind else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def under_tmp(paths: Sequence[str]) -> list[str]:
    """The outermost of `paths` below /tmp (each is bound back in after /tmp is covered)."""
    inside = sorted({os.path.realpath(p) for p in paths if p})
    inside = [p for p in inside if p.startswith(TMP + "/")]
    out: list[str] = []
    for path in inside:
        if not any(path.startswith(kept + "/") for kept in out):
            out.append(path)
    return out


def setup(task_root: str, keep: Sequence[str], user: int | None = None) -> Callable[[], None]:
    """The function a worker runs between fork and exec (see the module docstring); then,
    with `user`, it drops root (after the mounts, which need it)."""
    keep = under_tmp(keep)

    def run() -> None:
        assert _LIBC is not None
        _check(_LIBC.unshare(_CLONE_NEWNS), "unshare")
        _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
        fds = [os.open(path, os.O_RDONLY | os.O_DIRECTORY) for path in keep]
        _mount("tmpfs", TMP, "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={TMP_SIZE},mode=1777")
        for path, fd in zip(keep, fds, strict=True):
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC)
            os.close(fd)
        _mount(task_root, task_root, None, _MS_BIND)
        _mount(None, task_root, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY)
        os.chdir(task_root)  # the cwd was the folder under the read-only mount
        if user is not None:
            os.setgroups([])
            os.setgid(user)
            os.setuid(user)

    return run


_lock = threading.Lock()
_available: bool | None = None


def available() -> bool:
    """Whether this process can give workers their own mount namespace (probed once, with a
    throwaway child that makes the same mounts on a folder of its own)."""
    global _available
    with _lock:
        if _available is None:
            _available = _probe()
        return _available


def _probe() -> bool:
    if _LIBC is None or os.geteuid() != 0:
        return False
    import tempfile

    with tempfile.TemporaryDirectory(prefix="recursectl-ns-") as folder:
        root = Path(folder) / "task"
        root.mkdir()
        try:
            proc = subprocess.run(
                [sys.executable, "-S", "-c", "open('x', 'w')"],
                preexec_fn=setup(str(root), [folder]),
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        # The write must fail with EROFS: the read-only mount holds.
        return proc.returncode != 0 and b"Read-only file system" in proc.stderr
