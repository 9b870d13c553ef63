"""Unpacking a deployment package as Lambda does: the zip's modes kept, its links made links.

`ZipFile.extractall` ignores the modes a zip carries, so a 0755 `bin/tool.sh` (from `zip -r`,
SAM, serverless, or recursectl's own packager) would unpack 0644 and fail with EACCES, where
on AWS it runs. Lambda keeps the permission bits of entries made on Unix (the upper 16 bits
of `external_attr` when `create_system` is 3) and keeps symbolic links (`zip -y`).

Here: a file with any execute bit in the zip unpacks 0755, any other 0644 (the task root is
made read-only afterwards; readability is not modelled: a 0600 entry, unreadable by Lambda's
sandbox user, stays readable here). Entries without Unix modes (made on Windows) are 0644.
Paths that would leave the task root (absolute, `..`) are dropped, as `extract` drops them;
links are made last, and only where their own folder is inside the task root, so no entry is
ever written through a link.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

_UNIX = 3  # ZipInfo.create_system for entries made on Unix


def unix_mode(info: zipfile.ZipInfo) -> int:
    """The entry's Unix st_mode (type and permissions), 0 when the zip does not say."""
    return (info.external_attr >> 16) if info.create_system == _UNIX else 0


def _inside(root: Path, name: str) -> Path | None:
    """Where entry `name` goes under `root`, sanitised as zipfile does; None for no name."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return root.joinpath(*parts) if parts else None


def extract(data: bytes, root: Path) -> None:
    """Unpack the zip `data` into `root` (created if missing) with Lambda's modes and links."""
    root.mkdir(parents=True, exist_ok=True)
    links: list[tuple[Path, str]] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            mode = unix_mode(info)
            if stat.S_ISLNK(mode):
                path = _inside(root, info.filename)
                if path is not None:
                    links.append((path, archive.read(info).decode("utf-8", "surrogateescape")))
                continue
            path = Path(archive.extract(info, root))
            if info.is_dir():
                os.chmod(path, 0o755)
            else:
                os.chmod(path, 0o755 if mode & 0o111 else 0o644)
    real = root.resolve()
    for path, target in links:
        folder = path.parent
        if os.path.lexists(path) or not folder.resolve().is_relative_to(real):
            continue  # a file of that name won, or the link's folder is itself a link out
        folder.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
