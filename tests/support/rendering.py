"""Rendering for the tests: a chain's tree as plain text, the rows' request ids, anything
printed at a terminal width."""

from __future__ import annotations

import io
import re
from typing import Any

from rich.console import Console

from recursectl.chain import Chain
from recursectl.watch.render import RenderOptions, render_chain


def text(chain: Chain, **kw: Any) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(render_chain(chain, RenderOptions(**kw)))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def rows_with_ids(out: str) -> list[str]:
    return re.findall(r"\b([0-9a-f]{8})\s+d\d+", out)


WIDTHS = (60, 80, 120)


def printed(renderable: Any, width: int, height: int = 1000) -> str:
    # As the UI prints data: rich wraps at the terminal's width.
    console = Console(file=io.StringIO(), width=width, height=height, color_system=None)
    console.print(renderable, soft_wrap=False)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out
