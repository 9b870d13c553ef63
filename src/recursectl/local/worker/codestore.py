"""Deployment packages the front door captured, by CodeSha256, unpacked once each."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

from recursectl.local.worker import sandbox, unzip


def code_sha256(zip_bytes: bytes) -> str:
    """CodeSha256 as Lambda reports it: base64 of the SHA-256 digest of the zip."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()


class CodeStore:
    """Deployment packages captured from CreateFunction / UpdateFunctionCode, by CodeSha256;
    each is unpacked once, into a directory of its own (one per code version)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._zips: dict[str, bytes] = {}
        self._lock = threading.Lock()
        # Told of each new zip before the request that brought it is answered (the store).
        self.on_add: Callable[[str, bytes], None] | None = None

    def add(self, zip_bytes: bytes) -> str:
        sha = code_sha256(zip_bytes)
        with self._lock:
            new = sha not in self._zips
            self._zips[sha] = zip_bytes
        if new and self.on_add is not None:
            self.on_add(sha, zip_bytes)
        return sha

    def total_size(self) -> int:
        with self._lock:
            return sum(len(z) for z in self._zips.values())

    def zip_bytes(self, sha: str) -> bytes:
        """The zip whose CodeSha256 is `sha` (KeyError if none came through the front door)."""
        with self._lock:
            return self._zips[sha]

    def __contains__(self, sha: str) -> bool:
        return sha in self._zips

    def task_root(self, sha: str) -> Path:
        """The unpacked code for `sha` (KeyError if it never passed through the front door)."""
        target = self.root / hashlib.sha256(sha.encode()).hexdigest()[:32]
        with self._lock:
            if not (target / ".complete").exists():
                # Lambda's way, not extractall's: modes kept (a 0755 tool stays runnable).
                unzip.extract(self._zips[sha], target)
                (target / ".complete").touch()
                sandbox.make_read_only(target)
        return target
