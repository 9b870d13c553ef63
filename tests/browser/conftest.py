"""The browser tests need a Chromium; without one they skip and say why."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.cdp import Browser, find_chromium


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    explicit = os.environ.get("CHROME_BIN")
    if binary is None and explicit:
        pytest.skip(f"CHROME_BIN={explicit} is not an executable file")
    if binary is None:
        why = "no chromium on PATH"
        if os.geteuid() != 0:
            why += "; `scripts/ensure-tools` installs Debian's chromium only as root"
        else:
            why += "; `scripts/ensure-tools` (run by `make test`) could not install it"
        pytest.skip(why)
    return binary


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[Browser]:
    profile = tmp_path / "profile"  # a fresh profile per test: nothing carried over
    profile.mkdir()
    b = Browser(chromium, profile)
    try:
        b.open_page()
        yield b
    finally:
        b.close()
