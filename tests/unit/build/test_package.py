"""The deployment package: deterministic zip, CodeSha256, handler validation."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest

from recursectl.build import package
from recursectl.errors import UsageError

HANDLER = "def handler(event, context):\n    return event\n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_same_input_same_sha_even_with_different_mtimes(tmp_path: Path) -> None:
    f = _write(tmp_path / "a" / "app.py", HANDLER)
    _write(tmp_path / "a" / "lib.py", "X = 1\n")
    first = package.build(package.parse_handler(str(f)))
    os.utime(f, (1_000_000, 1_000_000))
    os.utime(tmp_path / "a" / "lib.py", (2_000_000_000, 2_000_000_000))
    second = package.build(package.parse_handler(str(f)))
    assert first.zip_bytes == second.zip_bytes
    assert first.code_sha256 == second.code_sha256


def test_content_change_changes_sha(tmp_path: Path) -> None:
    f = _write(tmp_path / "app.py", HANDLER)
    first = package.build(package.parse_handler(str(f)))
    f.write_text(HANDLER + "# changed\n")
    assert package.build(package.parse_handler(str(f))).code_sha256 != first.code_sha256


def test_code_sha256_is_base64_of_sha256() -> None:
    data = b"some zip bytes"
    expected = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert package.code_sha256(data) == expected


def test_zip_entries_are_sorted_with_fixed_time_and_mode(tmp_path: Path) -> None:
    data = package.build_zip({"b.py": b"b", "a/x.py": b"x", "a.py": b"a"})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == ["a.py", "a/x.py", "b.py"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def _modes(data: bytes) -> dict[str, int]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: i.external_attr >> 16 for i in zf.infolist() if i.create_system == 3}


def test_executables_on_disk_are_0755_in_the_zip_and_the_rest_0644(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _write(root / "app.py", HANDLER)
    tool = _write(root / "bin" / "tool.sh", "#!/bin/sh\necho hi\n")
    tool.chmod(0o755)
    owner_only = _write(root / "bin" / "mine", "#!/bin/sh\n")
    owner_only.chmod(0o700)  # any x bit counts; the zip says 0755 (Lambda needs it readable)
    private = _write(root / "data.txt", "d")
    private.chmod(0o600)
    _write(root / "lib" / "link-target.sh", "#!/bin/sh\n").chmod(0o775)
    (root / "run.sh").symlink_to("lib/link-target.sh")  # a link is packaged as its target
    pkg = package.build(package.parse_handler(str(root / "app.py")))
    assert _modes(pkg.zip_bytes) == {
        "app.py": 0o100644,
        "bin/mine": 0o100755,
        "bin/tool.sh": 0o100755,
        "data.txt": 0o100644,
        "lib/link-target.sh": 0o100755,
        "recursectl_chain.py": 0o100644,
        "recursectl_dynamo.py": 0o100644,
        "recursectl_job.py": 0o100644,
        "run.sh": 0o100755,
    }
    again = package.build(package.parse_handler(str(root / "app.py")))
    assert again.code_sha256 == pkg.code_sha256  # still deterministic
    tool.chmod(0o644)
    unexec = package.build(package.parse_handler(str(root / "app.py")))
    assert _modes(unexec.zip_bytes)["bin/tool.sh"] == 0o100644
    assert unexec.code_sha256 != pkg.code_sha256  # the mode is part of the code, as on AWS


def test_build_zip_marks_only_the_executables_it_is_given() -> None:
    data = package.build_zip({"a": b"1", "b": b"2"}, executable={"b", "not-in-the-zip"})
    assert _modes(data) == {"a": 0o100644, "b": 0o100755}
    assert data == package.build_zip({"b": b"2", "a": b"1"}, executable=("b",))


def test_package_holds_the_folder_and_our_helper_but_not_junk(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    f = _write(root / "app.py", HANDLER)
    _write(root / "lib" / "util.py", "Y = 2\n")
    _write(root / "recursectl_chain.py", "# a stale copy\n")
    _write(root / "recursectl_job.py", "# a stale copy\n")
    _write(root / "recursectl_dynamo.py", "# a stale copy\n")
    _write(root / "recursectl.toml", 'name = "x"\n')
    _write(root / ".git" / "HEAD", "ref\n")
    _write(root / "__pycache__" / "app.cpython-311.pyc", "")
    _write(root / "venv" / "pyvenv.cfg", "home = /usr\n")
    _write(root / "venv" / "lib" / "big.py", "Z = 3\n")
    pkg = package.build(package.parse_handler(f"{f}:handler"))
    ours = ("recursectl_chain.py", "recursectl_dynamo.py", "recursectl_job.py")
    assert pkg.files == ("app.py", "lib/util.py", *ours)
    assert pkg.handler == "app.handler"
    with zipfile.ZipFile(io.BytesIO(pkg.zip_bytes)) as zf:
        for name in ours:  # ours, not the stale copies
            assert zf.read(name) == (package.templates_dir() / "python" / name).read_bytes()


def test_toml_write_back_does_not_change_the_code(tmp_path: Path) -> None:
    f = _write(tmp_path / "handler.py", HANDLER)
    cfg = _write(tmp_path / "recursectl.toml", 'name = "x"\n')
    first = package.build(package.parse_handler(str(f))).code_sha256
    cfg.write_text('name = "x"\nfunction_arn = "arn:aws:lambda:us-east-1:1:function:x"\n')
    assert package.build(package.parse_handler(str(f))).code_sha256 == first


def test_default_is_the_bundled_template() -> None:
    spec = package.parse_handler(None)
    assert spec.file == package.templates_dir() / "python" / "handler.py"
    pkg = package.build(spec)
    assert pkg.handler == "handler.handler"
    assert "handler.py" in pkg.files
    assert "recursectl_chain.py" in pkg.files
    assert "recursectl_job.py" in pkg.files
    assert "recursectl_dynamo.py" in pkg.files


def test_folder_means_its_handler_py_and_function_is_named(tmp_path: Path) -> None:
    _write(tmp_path / "fn" / "handler.py", "def main(event, context):\n    return 1\n")
    spec = package.parse_handler("fn:main", cwd=tmp_path)
    assert spec.file == (tmp_path / "fn" / "handler.py").resolve()
    assert spec.handler == "handler.main"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"nope\.py does not exist"):
        package.parse_handler("nope.py", cwd=tmp_path)


def test_invalid_python_reports_line_and_column(tmp_path: Path) -> None:
    _write(tmp_path / "bad.py", "def handler(event, context):\n    return (\n")
    with pytest.raises(UsageError, match=r"bad\.py:2:\d+: invalid Python") as info:
        package.validate(package.parse_handler("bad.py", cwd=tmp_path))
    assert "nothing was created" in (info.value.hint or "")


def test_missing_function_lists_what_exists(tmp_path: Path) -> None:
    _write(tmp_path / "app.py", "def main(event, context):\n    return 1\n")
    with pytest.raises(UsageError, match="no top-level function 'handler'") as info:
        package.validate(package.parse_handler("app.py", cwd=tmp_path))
    assert info.value.hint == "use --handler app.py:main"


def test_nested_function_does_not_count(tmp_path: Path) -> None:
    _write(tmp_path / "app.py", "class A:\n    def handler(self, e, c):\n        pass\n")
    with pytest.raises(UsageError, match="no top-level function"):
        package.validate(package.parse_handler("app.py:handler", cwd=tmp_path))


def test_assigned_or_imported_handler_counts(tmp_path: Path) -> None:
    _write(tmp_path / "a.py", "def make():\n    pass\nhandler = make()\n")
    _write(tmp_path / "b.py", "from impl import handler\n")
    package.validate(package.parse_handler("a.py", cwd=tmp_path))
    package.validate(package.parse_handler("b.py", cwd=tmp_path))


def test_not_python_and_bad_function_name(tmp_path: Path) -> None:
    _write(tmp_path / "h.js", "exports.handler = 1\n")
    with pytest.raises(UsageError, match="not a Python file"):
        package.parse_handler("h.js", cwd=tmp_path)
    _write(tmp_path / "h.py", HANDLER)
    with pytest.raises(UsageError, match="not a valid Python function name"):
        package.parse_handler("h.py:1abc", cwd=tmp_path)


def test_a_dotted_handler_under_a_source_root(tmp_path: Path) -> None:
    app = tmp_path / "src" / "app"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "handler.py").write_text("from app import util\n\ndef main(e, c):\n    return 1\n")
    (app / "util.py").write_text("X = 1\n")
    for spec in ("app.handler.main", "app/handler.py:main"):
        parsed = package.parse_handler(spec, cwd=tmp_path, source="src")
        assert parsed.root == (tmp_path / "src").resolve()
        assert parsed.handler == "app.handler.main"
    pkg = package.build(package.parse_handler("app.handler.main", cwd=tmp_path, source="src"))
    own = {"app/__init__.py", "app/handler.py", "app/util.py"}
    assert set(pkg.files) == own | set(package.HELPER_FILES)
    assert pkg.deps_target is None


def test_handler_py_in_the_current_folder_is_found(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("def handler(e, c):\n    return 1\n")
    found = package.parse_handler(None, cwd=tmp_path, discover=True)
    assert found.file == (tmp_path / "handler.py").resolve()
    assert not found.bundled
    assert package.parse_handler(None, cwd=tmp_path).bundled  # without discover: the template


def test_unimportable_paths_and_missing_modules(tmp_path: Path) -> None:
    (tmp_path / "my-app").mkdir()
    (tmp_path / "my-app" / "handler.py").write_text("def handler(e, c):\n    return 1\n")
    with pytest.raises(UsageError, match="cannot be imported"):
        package.parse_handler("my-app/handler.py", cwd=tmp_path, source=".")
    with pytest.raises(UsageError, match=r"Handler module app\.nope not found"):
        package.parse_handler("app.nope.main", cwd=tmp_path)
