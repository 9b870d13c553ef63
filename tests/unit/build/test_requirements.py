"""Reading requirements files: folding -r/-c, refusing what would leave PyPI."""

from __future__ import annotations

from pathlib import Path

import pytest

from recursectl.build.requirements import Requirements
from recursectl.errors import UsageError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_comments_continuations_and_nested_files_are_folded(tmp_path: Path) -> None:
    write(tmp_path / "base.txt", "six==1.17.0  # pinned\n")
    write(tmp_path / "pins.txt", "idna<4\n")
    req = write(
        tmp_path / "requirements.txt",
        "# deps\n-r base.txt\n-c pins.txt\nidna \\\n  >=3\n\n--prefer-binary\n",
    )
    reqs = Requirements.read(req)
    assert reqs.text == "six==1.17.0\nidna >=3\n--prefer-binary\n"
    assert reqs.constraints == "idna<4\n"
    assert not reqs.empty


def test_the_text_does_not_depend_on_where_the_project_lives(tmp_path: Path) -> None:
    one = write(tmp_path / "a.txt", "six==1.17.0\n")
    (tmp_path / "moved").mkdir()
    two = write(tmp_path / "moved" / "requirements.txt", "six==1.17.0\n")
    assert Requirements.read(one).text == Requirements.read(two).text


def test_a_file_of_comments_is_empty(tmp_path: Path) -> None:
    assert Requirements.read(write(tmp_path / "r.txt", "# nothing yet\n\n")).empty


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"Requirements file .*nope\.txt does not exist"):
        Requirements.read(tmp_path / "nope.txt")
    write(tmp_path / "r.txt", "-r other.txt\n")
    with pytest.raises(UsageError, match=r"r\.txt:1: the included file other\.txt does not exist"):
        Requirements.read(tmp_path / "r.txt")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--index-url http://127.0.0.1:9/simple", "option --index-url is not supported"),
        ("--extra-index-url=http://127.0.0.1:9/", "option --extra-index-url is not supported"),
        ("-f /wheels", "option -f is not supported"),
        ("-e .", "option -e is not supported"),
        ("--no-binary :all:", "option --no-binary is not supported"),
        ("./libs/mine", "./libs/mine is a local path or URL"),
        ("mine @ https://127.0.0.1/mine.whl", "mine is a local path or URL"),
        ("git+https://127.0.0.1/x.git", "git+https://127.0.0.1/x.git is a local path or URL"),
    ],
)
def test_lines_that_leave_pypi_are_refused(tmp_path: Path, line: str, message: str) -> None:
    req = write(tmp_path / "requirements.txt", f"six\n{line}\n")
    with pytest.raises(UsageError) as caught:
        Requirements.read(req)
    assert caught.value.message.startswith("requirements.txt:2: ")
    assert message in caught.value.message
    assert caught.value.hint


def test_include_cycles_are_folded_once(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "six\n-r b.txt\n")
    write(tmp_path / "b.txt", "idna\n-r a.txt\n")
    assert Requirements.read(tmp_path / "a.txt").text == "six\nidna\n"
