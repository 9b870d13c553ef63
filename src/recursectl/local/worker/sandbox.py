"""What a handler's process may see: the runtime's own site folder, a private TMPDIR, a user.

On AWS a Python handler imports from its task root (/var/task), layers (/opt/python), the
runtime folder (/var/runtime: awslambdaric, boto3, botocore and their dependencies) and the
standard library; nothing else. Locally the worker runs with `python -S` (no site-packages,
no .pth files, no user site) and `PYTHONPATH` = task root + a staged runtime folder that holds
links to just those packages, so `import requests` (or `recursectl`, `click`, `moto`) fails
with the same Runtime.ImportModuleError as on AWS.

Where the local cloud runs as root and the machine allows it, each worker also gets a mount
namespace of its own (`namespace`): the task root a read-only mount, /tmp its own tmpfs.
What the operating system cannot give here is said once (`notes`, `local status`, the daemon
log): without the namespace absolute /tmp paths are shared (TMPDIR is per environment), and
a handler of a local cloud that does not run as root runs as the same user as the cloud.
`summary()` is the isolation in force, for `local status`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import shutil
import sys
import threading
from pathlib import Path

from recursectl.local.worker import namespace

log = logging.getLogger(__name__)

# What /var/runtime provides on AWS's python3.x runtimes: the SDK and what awslambdaric needs.
RUNTIME_MODULES = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "urllib3",
    "six",
    "awslambdaric",
    "runtime_client",  # awslambdaric's C extension, a top-level module
    "simplejson",
    "snapshot_restore_py",
)
NOBODY = 65534  # the uid/gid handlers run as when the local cloud runs as root

_lock = threading.Lock()
_sites: dict[tuple[str, str], Path] = {}
_notes: list[str] = []


def note(text: str) -> None:
    """Record (and log, once) something the OS cannot provide."""
    with _lock:
        if text in _notes:
            return
        _notes.append(text)
    log.warning("isolation: %s", text)


def notes() -> list[str]:
    with _lock:
        return list(_notes)


def origin(name: str) -> Path | None:
    """The file or package folder `name` is imported from in this process."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return None
    origin = Path(spec.origin)
    return origin.parent if spec.submodule_search_locations else origin


def runtime_site(base: Path, tag: str = "") -> Path:
    """A folder holding links to just the runtime's packages (made once per base and tag)."""
    key = (str(base), tag)
    with _lock:
        if key in _sites:
            return _sites[key]
        origins = {name: origin(name) for name in RUNTIME_MODULES}
        digest = hashlib.sha256(repr(sorted(origins.items())).encode()).hexdigest()[:16]
        site = base / f"runtime-{digest}"
        if not (site / ".complete").exists():
            site.mkdir(parents=True, exist_ok=True)
            for found in origins.values():
                if found is None:
                    continue
                link = site / found.name
                if not link.exists():
                    link.symlink_to(found, target_is_directory=found.is_dir())
            (site / ".complete").touch()
        _sites[key] = site
        return site


def private_tmp(base: Path, name: str) -> Path:
    """A TMPDIR of one environment's own (removed by `remove_tmp`)."""
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.chown(path, NOBODY, NOBODY)
    if not namespace.available():
        note(
            "each environment has its own TMPDIR, but absolute /tmp paths are shared between "
            "environments (no mount namespace for the workers)"
        )
    return path


def remove_tmp(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _reachable(path: Path, bits: int) -> bool:
    """Whether any user may reach `path` (o+x on every folder above it) and use it (`bits`)."""
    try:
        real = path.resolve()
        if real.stat().st_mode & bits != bits:
            return False
        return all(parent.stat().st_mode & 0o001 for parent in real.parents)
    except OSError:
        return False


def run_as(python: str, work: Path) -> dict[str, object]:
    """Popen arguments that drop root: handlers never run as root, as on AWS, when the
    interpreter and its standard library are usable by an unprivileged user."""
    if os.geteuid() != 0:
        note(
            f"handlers run as uid {os.geteuid()}, the local cloud's own (unprivileged) user; "
            "a separate user would need root"
        )
        return {}
    if not drops_root(python):
        if namespace.available():
            note(
                f"the local cloud runs as root and its interpreter ({python}) is not usable "
                "by an unprivileged user: handlers run as root (on AWS they do not); their "
                "task root is still a read-only mount and /tmp their own (a mount namespace "
                "per worker); run the local cloud as a normal user, or with an interpreter "
                "outside /root, for an unprivileged handler user"
            )
        else:
            note(
                f"the local cloud runs as root and its interpreter ({python}) is not usable "
                "by an unprivileged user: handlers run as root (on AWS they do not) and can "
                "write to their read-only task root; run the local cloud as a normal user, or "
                "with an interpreter outside /root"
            )
        return {}
    with contextlib.suppress(OSError):
        work.chmod(0o711)  # a TemporaryDirectory is 0700: let the handler's user through
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []}


def drops_root(python: str) -> bool:
    """Whether handlers of a root local cloud can run as `nobody` (its interpreter and standard
    library usable by that user)."""
    stdlib = Path(os.__file__).parent
    return _reachable(Path(python), 0o005) and _reachable(stdlib, 0o005)


def summary(python: str = sys.executable) -> dict[str, str]:
    """The isolation in force for Python handlers (`local status`)."""
    uid = os.geteuid()
    ns = namespace.available()
    if uid != 0:
        user = f"uid {uid} (the local cloud's own user)"
    elif drops_root(python):
        user = f"nobody (uid {NOBODY})"
    else:
        user = "root (the interpreter is not usable by an unprivileged user)"
    return {
        "user": user,
        "task_root": "read-only mount (EROFS)"
        if ns
        else "read-only file modes (EACCES; root ignores them)",
        "tmp": f"/tmp of its own (tmpfs, {namespace.TMP_SIZE}B) and TMPDIR"
        if ns
        else "TMPDIR of its own; /tmp shared",
        "mount_namespace": "yes" if ns else "no",
    }


def make_read_only(root: Path) -> None:
    """Files 0444 (0555 if executable), folders 0555: the task root is read-only, as on AWS
    (there a write fails with EROFS, errno 30; here with EACCES, errno 13)."""
    for folder, dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            mode = os.stat(path).st_mode
            os.chmod(path, 0o555 if mode & 0o111 else 0o444)
        for name in dirs:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, 0o555)
    os.chmod(root, 0o555)
