"""The local cloud unpacks a deployment package as Lambda does: modes kept, links kept, nothing
written outside the task root."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

from recursectl.build import package
from recursectl.local.worker import unzip


def _entry(name: str, mode: int, system: int = 3) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.create_system = system
    info.external_attr = mode << 16
    return info


def _zip(entries: list[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return buf.getvalue()


def _perm(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_modes_from_a_zip_made_on_unix_are_kept(tmp_path: Path) -> None:
    data = _zip(
        [
            (_entry("bin/", 0o040755), b""),
            (_entry("bin/tool.sh", 0o100755), b"#!/bin/sh\necho hi\n"),
            (_entry("bin/owner-only", 0o100700), b"x"),
            (_entry("handler.py", 0o100644), b"def handler(e, c): pass\n"),
            (_entry("private.txt", 0o100600), b"p"),
            (_entry("nomode.txt", 0), b"n"),  # Unix system, no mode bits recorded
        ]
    )
    unzip.extract(data, tmp_path / "task")
    task = tmp_path / "task"
    assert _perm(task / "bin") == 0o755
    assert _perm(task / "bin" / "tool.sh") == 0o755
    assert _perm(task / "bin" / "owner-only") == 0o755
    assert _perm(task / "handler.py") == 0o644
    assert _perm(task / "private.txt") == 0o644
    assert _perm(task / "nomode.txt") == 0o644
    assert (task / "bin" / "tool.sh").read_bytes() == b"#!/bin/sh\necho hi\n"


def test_entries_made_on_windows_have_no_modes_and_unpack_0644(tmp_path: Path) -> None:
    entry = _entry("tool.exe", 0, system=0)
    entry.external_attr = 0x20  # the MS-DOS "archive" attribute, what Windows tools write
    unzip.extract(_zip([(entry, b"MZ")]), tmp_path)
    assert _perm(tmp_path / "tool.exe") == 0o644


def test_our_own_package_unpacks_with_the_modes_it_was_built_with(tmp_path: Path) -> None:
    data = package.build_zip({"bin/tool.sh": b"#!/bin/sh\n", "app.py": b""}, {"bin/tool.sh"})
    unzip.extract(data, tmp_path)
    assert _perm(tmp_path / "bin" / "tool.sh") == 0o755
    assert _perm(tmp_path / "app.py") == 0o644


def test_links_are_links_and_nothing_is_written_outside(tmp_path: Path) -> None:
    task = tmp_path / "task"
    data = _zip(
        [
            (_entry("lib/libx.so.1", 0o100755), b"ELF"),
            (_entry("lib/libx.so", 0o120777), b"libx.so.1"),
            (_entry("out", 0o120777), b"../outside"),  # a link may point anywhere, as on AWS
            (_entry("out/evil.txt", 0o100644), b"no"),  # but nothing is written through it
            (_entry("../escape.txt", 0o100644), b"no"),
            (_entry("/abs/path.txt", 0o100644), b"yes"),
        ]
    )
    (tmp_path / "outside").mkdir()
    unzip.extract(data, task)
    assert os.readlink(task / "lib" / "libx.so") == "libx.so.1"
    assert (task / "lib" / "libx.so").read_bytes() == b"ELF"
    assert not (tmp_path / "escape.txt").exists()
    assert (task / "abs" / "path.txt").read_bytes() == b"yes"  # made relative, as extract does
    assert list((tmp_path / "outside").iterdir()) == []
    # The folder `out/` came first (a file needed it), so the link of that name was not made.
    assert (task / "out").is_dir()
    assert not (task / "out").is_symlink()


def test_a_link_whose_folder_leaves_the_root_is_not_made(tmp_path: Path) -> None:
    task = tmp_path / "task"
    data = _zip(
        [
            (_entry("up", 0o120777), b".."),
            (_entry("up/planted", 0o120777), b"/etc/passwd"),
            (_entry("up/made/planted", 0o120777), b"/etc/passwd"),
        ]
    )
    unzip.extract(data, task)
    assert os.readlink(task / "up") == ".."
    assert sorted(p.name for p in tmp_path.iterdir()) == ["task"]  # nothing made outside
