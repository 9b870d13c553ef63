"""Which files of a source root go into the deployment zip.

- Exclude patterns are gitignore-style (via `pathspec`), relative to the source root: the
  defaults below plus the project's `exclude`; `include` patterns win over both (they are
  appended as gitignore negations). As in git, a file inside an excluded folder is only
  re-included if an include pattern names a path inside that folder (`tests/data.json`).
- Files that look like secrets are refused (an error naming the file, what it matched and the
  setting) unless an include pattern names them (their path, or their name): a glob (`.*`) or a
  folder (`.aws/`) brings files in but does not vouch for a secret among them. By name: dotenv
  files, key stores, SSH keys, credentials files, anything under `.aws/`. By content, in a file
  of any name, read whole (streamed in 1 MB chunks that overlap by 4 KB, so a pattern across
  a chunk boundary is found; the 250 MB limit bounds the total): PEM and OpenPGP private keys,
  an AWS secret access key (`aws_secret_access_key = ...` as in ~/.aws/credentials,
  `AWS_SECRET_ACCESS_KEY=...` as in a dotenv file, `"SecretAccessKey": "..."` as the CLI
  prints it), and an access key id (AKIA/ASIA...) with a 40-character secret near it. AWS's
  documentation placeholders (`...EXAMPLE`, `...EXAMPLEKEY`) are not secrets. This applies to
  the source root only, not to installed dependencies (certifi's CA bundle is not a secret).
- Hard links: a file with more links (st_nlink) than the packaged files that share its inode
  has a name elsewhere, maybe outside the project (`ln ~/.aws/credentials notes.txt`), and is
  refused unless included by name. Finding where the other names are would mean searching the
  whole file system, so the rule counts only what is known: every name inside the package.
- Symlinks: one that resolves outside the source root is an error (whatever `include` says:
  the package holds only the project's own files); one inside is followed, and
  the zip holds a regular file with the target's content under the link's name (the zip format
  recursectl writes has no symlinks, and Lambda does not need them). A link loop is an error.
- Sizes are known from a walk (stat only) before anything is read, so a folder over Lambda's
  250 MB unzipped limit is refused without reading it. Order is deterministic (sorted by name).
"""

from __future__ import annotations

import os
import re
from collections import Counter
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

_CHUNK = 1024 * 1024  # the secret scan reads each file in chunks of this size ...
_OVERLAP = 4096  # ... each searched together with the previous chunk's last 4 KB, which is
# longer than any match with its context (an access key id and a secret within _NEARBY bytes)
_NEARBY = 512
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_PGP_PRIVATE = re.compile(rb"-----BEGIN PGP PRIVATE KEY BLOCK-----")
_B64_40 = rb"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
# `aws_secret_access_key = ...` (credentials file), `AWS_SECRET_ACCESS_KEY=...` or
# `export AWS_SECRET_ACCESS_KEY="..."` (dotenv, shell) at the start of a line, any case.
_SECRET_ASSIGNED = re.compile(
    rb"(?im)^[ \t]*(?:export[ \t]+)?aws_secret_access_key[ \t]*[=:][ \t]*[\"']?(" + _B64_40 + rb")"
)
# JSON as `aws iam create-access-key` / `aws sts assume-role` print it, or a config file.
_SECRET_JSON = re.compile(
    rb'(?i)"(?:secret_?access_?key|aws_secret_access_key)"[ \t]*:[ \t]*"(' + _B64_40 + rb')"'
)
# No look-behind here: it would keep the regex engine from skipping ahead to the literal
# prefix (41 MB/s against 2.8 GB/s on random bytes, measured); the caller checks that byte.
_ACCESS_KEY_ID = re.compile(rb"(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
_ID_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_SECRET_40 = re.compile(rb"(?<![A-Za-z0-9/+=])" + _B64_40)
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
    links: int = 1  # st_nlink: more than 1 is a hard link (see the hard-link rule)
    inode: tuple[int, int] = (0, 0)  # (st_dev, st_ino)


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


@dataclass(frozen=True)
class Finding:
    """Why a file is refused: what it looks like, and the pattern it matched (for the hint)."""

    reason: str
    pattern: str
    line: int = 0  # where in the file the content matched (1-based), 0 for a name rule
    advice: str = ""  # what else the hint suggests

    def describe(self) -> str:
        return f"{self.reason}, line {self.line}" if self.line else self.reason


def name_finding(arcname: str, head: bytes = b"") -> Finding | None:
    """A file whose name says it holds a secret (`head`: its start, for .npmrc), else None."""
    parts = arcname.split("/")
    name = parts[-1].lower()
    stem, suffix = os.path.splitext(name)
    if ".aws" in parts[:-1]:
        return Finding("an AWS configuration file", "a file under a .aws/ folder")
    if name == ".env" or (name.startswith(".env.") and name.split(".")[-1] not in _TEMPLATES):
        return Finding("an environment (dotenv) file", "the name .env or .env.*")
    if name in _SECRET_NAMES:
        return Finding(_SECRET_NAMES[name], f"the name {name}")
    if suffix in _SECRET_SUFFIXES:
        return Finding(_SECRET_SUFFIXES[suffix], f"the suffix {suffix}")
    if re.fullmatch(r"id_(rsa|dsa|ecdsa|ed25519)(_sk)?", stem) and suffix != ".pub":
        return Finding("an SSH private key", "an SSH key name (id_rsa, id_ed25519, ...)")
    if re.match(r"secrets?([._-]|$)", name) and suffix in _DATA_SUFFIXES:
        return Finding("a secrets file", "the name secret(s).*")
    if name == ".npmrc" and re.search(rb"_auth|_password", head):  # plain config is harmless
        return Finding("a package-registry token file", "_auth or _password in .npmrc")
    return None


def _placeholder(value: bytes) -> bool:
    """AWS's documentation keys (AKIAIOSFODNN7EXAMPLE, wJalr...EXAMPLEKEY) are no secrets."""
    return value.endswith((b"EXAMPLE", b"EXAMPLEKEY"))


def _random_looking(value: bytes) -> bool:
    """A 40-character token with upper case, lower case and a digit, as AWS secrets have
    (a path such as `src/app/handlers/...` has no digits or no capitals)."""
    text = value.decode("ascii")
    return (
        any(c.isupper() for c in text)
        and any(c.islower() for c in text)
        and any(c.isdigit() for c in text)
    )


def content_finding(data: bytes) -> tuple[Finding, int] | None:
    """A secret in `data` and its offset, else None (the rules of the module docstring)."""
    found: list[tuple[int, Finding]] = []
    for regex, finding in (
        (_PRIVATE_KEY, Finding("a private key inside", "-----BEGIN ... PRIVATE KEY-----")),
        (
            _PGP_PRIVATE,
            Finding("an OpenPGP secret key inside", "-----BEGIN PGP PRIVATE KEY BLOCK-----"),
        ),
    ):
        match = regex.search(data)
        if match:
            found.append((match.start(), finding))
    # The key-name rules run only where their key name is: literal searches of a lower-cased
    # copy (~3 GB/s) spare most chunks the line-anchored, case-blind regex (~110 MB/s on code,
    # measured on this machine).
    lowered = data.lower()
    for regex, pattern, needed in (
        (_SECRET_ASSIGNED, "aws_secret_access_key = <40 characters>", b"aws_secret_access_key"),
        (_SECRET_JSON, '"SecretAccessKey": "<40 characters>"', b"access"),
    ):
        for match in regex.finditer(data) if needed in lowered else ():
            if not _placeholder(match.group(1)):
                found.append((match.start(), Finding("an AWS secret access key inside", pattern)))
                break
    for match in _ACCESS_KEY_ID.finditer(data):
        if (match.start() and data[match.start() - 1] in _ID_CHARS) or _placeholder(match.group()):
            continue
        start, end = max(0, match.start() - _NEARBY), match.end() + _NEARBY
        near = (m.group() for m in _SECRET_40.finditer(data, start, end))
        if any(_random_looking(v) and not _placeholder(v) for v in near):
            pattern = "an access key id (AKIA.../ASIA...) with a 40-character secret near it"
            found.append((match.start(), Finding("AWS access keys inside", pattern)))
            break
    if not found:
        return None
    at, finding = min(found, key=lambda f: f[0])
    return finding, at


def scan_file(path: Path) -> Finding | None:
    """The first secret in a file's content, read whole in overlapping chunks, else None."""
    lines = 0  # newlines before `tail`
    tail = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            data = tail + chunk
            hit = content_finding(data)
            if hit is not None:
                finding, at = hit
                line = lines + data.count(b"\n", 0, at) + 1
                return Finding(finding.reason, finding.pattern, line)
            keep = max(0, len(data) - _OVERLAP)
            lines += data.count(b"\n", 0, keep)
            tail = data[keep:]
    return None


def secret_reason(arcname: str, head: bytes = b"") -> str | None:
    """Why a file looks like a secret (by name, or by what `head` holds), else None."""
    finding = name_finding(arcname, head)
    if finding is None:
        hit = content_finding(head)
        finding = hit[0] if hit else None
    return finding.reason if finding else None


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
        executable = bool(st.st_mode & 0o111)
        inode = (st.st_dev, st.st_ino)
        self.files.append(SourceFile(rel, path, st.st_size, executable, st.st_nlink, inode))

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


def _hard_link(f: SourceFile, names: Counter[tuple[int, int]]) -> Finding | None:
    """A file with names beyond those in the package (their place is unknown: refused)."""
    if f.links <= names[f.inode]:
        return None
    elsewhere = f.links - names[f.inode]
    return Finding(
        f"a hard link with {elsewhere} other name{'s' if elsewhere > 1 else ''} outside the "
        "packaged files",
        "st_nlink > 1 (a name elsewhere, maybe outside the project)",
        advice="; if a package manager linked it from its cache (uv, pnpm), install with copies "
        "(uv: --link-mode=copy)",
    )


def _finding(f: SourceFile, names: Counter[tuple[int, int]]) -> Finding | None:
    try:
        with open(f.path, "rb") as handle:
            head = handle.read(_OVERLAP)
        return name_finding(f.arcname, head) or _hard_link(f, names) or scan_file(f.path)
    except OSError as exc:
        raise UsageError(
            f"Cannot read {f.arcname}: {exc.strerror or exc}.",
            hint=f'fix its permissions, or exclude it (exclude = ["{f.arcname}"] {SETTING_HINT})',
        ) from None


def _refuse_secrets(files: Sequence[SourceFile], include: Sequence[str]) -> None:
    """Secret-looking files need an include that names them: a glob or a folder is not enough."""
    names = Counter(f.inode for f in files)
    found: list[tuple[str, Finding]] = []
    for f in files:
        if _named(f.arcname, include):
            continue
        finding = _finding(f, names)
        if finding:
            found.append((f.arcname, finding))
    if not found:
        return
    name, finding = found[0]
    more = (
        f" (and {len(found) - 1} more: {', '.join(n for n, _ in found[1:4])})" if found[1:] else ""
    )
    raise UsageError(
        f"Refusing to package {name}: it looks like a secret ({finding.describe()}){more}.",
        hint=f'{name} matched {finding.pattern}; exclude it (exclude = ["{name}"] '
        f"{SETTING_HINT}), or if the function needs it, include it by name "
        f'(include = ["{name}"]){finding.advice}',
    )
