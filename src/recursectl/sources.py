"""Which files of a source root go into the deployment zip.

- Exclude patterns are gitignore-style (via `pathspec`), relative to the source root: the
  defaults below plus the project's `exclude`; `include` patterns win over both (they are
  appended as gitignore negations). As in git, a file inside an excluded folder is only
  re-included if an include pattern names a path inside that folder (`tests/data.json`).
- Files that look like secrets are refused (an error naming the file and the setting) unless an
  include pattern names them (their path, or their name): a glob (`.*`) or a folder (`.aws/`)
  brings files in but does not vouch for a secret among them. This applies to the source root
  only, not to installed dependencies (certifi's CA bundle is not a secret).
- Symlinks: one that resolves outside the source root is an error; one inside is followed, and
  the zip holds a regular file with the target's content under the link's name (the zip format
  recursectl writes has no symlinks, and Lambda does not need them). A link loop is an error.
- Sizes are known from a walk (stat only) before anything is read, so a folder over Lambda's
  250 MB unzipped limit is refused without reading it. Order is deterministic (sorted by name).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pathspec

from recursectl.errors import UsageError

# Lambda's limits for a .zip package: 50 MB zipped for a direct upload (ZipFile), 250 MB
# unzipped (function code plus layers). AWS's "MB" here is MiB: 262,144,000 bytes.
MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024

DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".*",  # hidden files and folders: .git, .venv, .env, .idea, .DS_Store, .pytest_cache, ...
    "__pycache__/",
    "*.py[cod]",
    "*.egg-info/",
    "node_modules/",  # recursectl packages Python handlers; a Node tree would only add weight
    "venv/",
    "env/",
    "/tests/",
    "conftest.py",
    "/recursectl.toml",  # deploy writes function_arn into it: it must not change the code
)
SETTING_HINT = "in recursectl.toml"

_HEAD_BYTES = 64 * 1024  # how much of each file is scanned for a private key header
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_SECRET_NAMES = {
    "credentials": "a credentials file",
    "credentials.json": "a credentials file",
    ".git-credentials": "a credentials file",
    ".netrc": "a credentials file",
    ".pypirc": "a package-index credentials file",
    ".htpasswd": "a password file",
}
_SECRET_SUFFIXES = {
    ".key": "a private key",
    ".p12": "a PKCS#12 key store",
    ".pfx": "a PKCS#12 key store",
    ".jks": "a Java key store",
    ".keystore": "a key store",
}
_TEMPLATES = {"example", "sample", "template", "dist"}  # .env.example etc. hold no secrets
_DATA_SUFFIXES = {"", ".json", ".yaml", ".yml", ".toml", ".txt", ".ini", ".env", ".cfg"}


@dataclass(frozen=True)
class SourceFile:
    """One file of the package: its name in the zip, the file to read, its size in bytes,
    and whether it is executable on disk (any x bit: 0755 in the zip)."""

    arcname: str
    path: Path
    size: int
    executable: bool = False


@dataclass(frozen=True)
class Sources:
    """The selected files of a source root, sorted by archive name."""

    root: Path
    files: tuple[SourceFile, ...]

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def largest_first(self) -> list[SourceFile]:
        """For `--dry-run`: biggest first, ties by name (deterministic)."""
        return sorted(self.files, key=lambda f: (-f.size, f.arcname))

    def as_json(self) -> list[dict[str, Any]]:
        """For `--json`: every file, `{"path", "size"}`, in archive order."""
        return [{"path": f.arcname, "size": f.size} for f in self.files]

    def read(self) -> dict[str, bytes]:
        """Archive name -> content (reads every file; call after the size checks)."""
        return {f.arcname: f.path.read_bytes() for f in self.files}


def format_size(n: int) -> str:
    """1536 -> "1.5 KB"; binary units, as Lambda's limits are."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def secret_reason(arcname: str, head: bytes = b"") -> str | None:
    """Why a file looks like a secret (by name, or a private key header in `head`), else None."""
    parts = arcname.split("/")
    name = parts[-1].lower()
    stem, suffix = os.path.splitext(name)
    if ".aws" in parts[:-1]:
        return "an AWS configuration file"
    if name == ".env" or (name.startswith(".env.") and name.split(".")[-1] not in _TEMPLATES):
        return "an environment (dotenv) file"
    if name in _SECRET_NAMES:
        return _SECRET_NAMES[name]
    if suffix in _SECRET_SUFFIXES:
        return _SECRET_SUFFIXES[suffix]
    if re.fullmatch(r"id_(rsa|dsa|ecdsa|ed25519)(_sk)?", stem) and suffix != ".pub":
        return "an SSH private key"
    if re.match(r"secrets?([._-]|$)", name) and suffix in _DATA_SUFFIXES:
        return "a secrets file"
    if name == ".npmrc" and re.search(rb"_auth|_password", head):  # plain config is harmless
        return "a package-registry token file"
    if _PRIVATE_KEY.search(head):
        return "a private key inside"
    return None


class _Walker:
    """A sorted, symlink-aware walk that prunes excluded folders and records sizes."""

    def __init__(self, root: Path, spec: pathspec.GitIgnoreSpec, include: Sequence[str]):
        self.root = root
        self.spec = spec
        self.include_paths = tuple(p.lstrip("!").lstrip("/") for p in include)
        self.files: list[SourceFile] = []
        self.active: set[Path] = set()  # real folders on the current path (loop detection)

    def walk(self, folder: Path, prefix: str) -> None:
        self.active.add(folder)
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = prefix + entry.name
            path = Path(entry.path)
            if entry.is_symlink():
                if self.spec.match_file(rel) or self.spec.match_file(rel + "/"):
                    continue  # an excluded link is never followed, wherever it points
                target = self._target(path, rel)
                if target.is_dir():
                    self._enter(rel, target)
                elif target.is_file():
                    self._add(rel, target, target.stat())
            elif entry.is_dir(follow_symlinks=False):
                self._enter(rel, path)
            elif entry.is_file(follow_symlinks=False) and not self.spec.match_file(rel):
                self._add(rel, path, entry.stat(follow_symlinks=False))
            # anything else (FIFO, socket, device) cannot be packaged and is skipped
        self.active.discard(folder)

    def _add(self, rel: str, path: Path, st: os.stat_result) -> None:
        self.files.append(SourceFile(rel, path, st.st_size, bool(st.st_mode & 0o111)))

    def _enter(self, rel: str, real: Path) -> None:
        # An include pattern naming this folder or a path inside it keeps the folder open.
        named = any(p.rstrip("/") == rel or p.startswith(rel + "/") for p in self.include_paths)
        if not named and (self.spec.match_file(rel + "/") or (real / "pyvenv.cfg").exists()):
            return
        if real in self.active:
            raise UsageError(
                f"{rel} is a symlink loop (it points to {real}, which contains it).",
                hint=f'remove the link, or exclude it (exclude = ["{rel}"] {SETTING_HINT})',
            )
        self.walk(real, rel + "/")

    def _target(self, link: Path, rel: str) -> Path:
        """The resolved target of a symlink inside the root, or a UsageError."""
        hint = f'exclude it (exclude = ["{rel}"] {SETTING_HINT}) or copy the target into the folder'
        try:
            target = link.resolve(strict=True)
        except (FileNotFoundError, RuntimeError):  # RuntimeError: a loop, on Python < 3.13
            raise UsageError(f"{rel} is a broken symlink.", hint=hint) from None
        except OSError as exc:  # ELOOP on Python 3.13+
            raise UsageError(
                f"{rel} is a symlink that cannot be followed ({exc}).", hint=hint
            ) from None
        if target != self.root and self.root not in target.parents:
            raise UsageError(
                f"{rel} is a symlink to {target}, outside the source root {self.root}.", hint=hint
            )
        return target


def select(
    root: Path,
    *,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
    skip: Collection[str] = (),
    extra_bytes: int = 0,
) -> Sources:
    """The files of `root` that go into the zip, after the limit and secret checks.

    `skip`: archive names the caller supplies itself (the chain helper); `extra_bytes`: what
    else goes into the package unzipped (installed dependencies), for the 250 MB check.
    """
    root = root.resolve()
    lines = [*DEFAULT_EXCLUDES, *exclude, *(f"!{p.lstrip('!')}" for p in include)]
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    walker = _Walker(root, spec, include)
    walker.walk(root, "")
    files = tuple(sorted((f for f in walker.files if f.arcname not in skip), key=_arc))
    sources = Sources(root=root, files=files)
    check_unzipped_size(sources, extra_bytes)
    _refuse_secrets(files, include)
    return sources


def _arc(f: SourceFile) -> str:
    return f.arcname


def check_unzipped_size(sources: Sources, extra_bytes: int = 0) -> None:
    """A UsageError when sources + `extra_bytes` exceed Lambda's 250 MB unzipped limit."""
    total = sources.total_size + extra_bytes
    if total <= MAX_UNZIPPED_BYTES:
        return
    biggest = ", ".join(f"{f.arcname} ({format_size(f.size)})" for f in sources.largest_first()[:3])
    deps = f" plus {format_size(extra_bytes)} of dependencies" if extra_bytes else ""
    raise UsageError(
        f"The package would be {format_size(total)} unzipped ({format_size(sources.total_size)} "
        f"from {sources.root}{deps}); Lambda allows {format_size(MAX_UNZIPPED_BYTES)}.",
        hint=f'largest: {biggest}; exclude what the function does not need (exclude = ["..."] '
        f"{SETTING_HINT})",
    )


def _named(arcname: str, include: Sequence[str]) -> bool:
    """An include pattern names this file: its path, or (a pattern without `/`) its name."""
    basename = arcname.rsplit("/", 1)[-1]
    for pattern in include:
        bare = pattern.lstrip("!")
        if bare.lstrip("/") == arcname or ("/" not in bare and bare == basename):
            return True
    return False


def _refuse_secrets(files: Sequence[SourceFile], include: Sequence[str]) -> None:
    """Secret-looking files need an include that names them: a glob or a folder is not enough."""
    found: list[tuple[str, str]] = []
    for f in files:
        if _named(f.arcname, include):
            continue
        try:
            with open(f.path, "rb") as handle:
                reason = secret_reason(f.arcname, handle.read(_HEAD_BYTES))
        except OSError as exc:
            raise UsageError(
                f"Cannot read {f.arcname}: {exc.strerror or exc}.",
                hint=f'fix its permissions, or exclude it (exclude = ["{f.arcname}"] '
                f"{SETTING_HINT})",
            ) from None
        if reason:
            found.append((f.arcname, reason))
    if not found:
        return
    name, reason = found[0]
    more = (
        f" (and {len(found) - 1} more: {', '.join(n for n, _ in found[1:4])})" if found[1:] else ""
    )
    raise UsageError(
        f"Refusing to package {name}: it looks like a secret ({reason}){more}.",
        hint=f'exclude it (exclude = ["{name}"] {SETTING_HINT}), or if the function needs it, '
        f'include it explicitly (include = ["{name}"])',
    )
