"""One wrapper over rich: data to stdout, status and progress to stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape


class UI:
    """Terminal output.

    Data (tables, trees, JSON) goes to stdout so it can be piped; messages, warnings and
    spinners go to stderr. Spinners only appear when stderr is a terminal.
    """

    def __init__(
        self,
        *,
        no_color: bool = False,
        quiet: bool = False,
        json_mode: bool = False,
        out: Console | None = None,
        err: Console | None = None,
    ):
        no_color = no_color or bool(os.environ.get("NO_COLOR"))
        self.quiet = quiet
        self.json_mode = json_mode
        self.out = out or Console(no_color=no_color, highlight=False, soft_wrap=True)
        if out is None and not self.out.is_terminal and "COLUMNS" not in os.environ:
            # Piped or redirected: don't crop trees to the 80-column default.
            self.out = Console(no_color=no_color, highlight=False, soft_wrap=True, width=160)
        self.err = err or Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True)

    @property
    def interactive(self) -> bool:
        return self.err.is_terminal

    # data ---------------------------------------------------------------------------------
    def data(self, renderable: RenderableType) -> None:
        self.out.print(renderable)

    def emit_json(self, obj: Any) -> None:
        # Plain write: rich would re-wrap long lines and break the document.
        sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
        sys.stdout.flush()

    # status -------------------------------------------------------------------------------
    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message)

    def success(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"[green]✓[/green] {message}")

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {escape(message)}")

    def error(self, message: str, hint: str | None = None) -> None:
        self.err.print(f"[bold red]error:[/bold red] {escape(message)}")
        if hint:
            self.err.print(f"[dim]hint:[/dim] {escape(hint)}")

    @contextmanager
    def status(self, message: str) -> Iterator[None]:
        """A spinner on a terminal; a plain line otherwise (unless quiet)."""
        if self.interactive and not self.quiet:
            with self.err.status(message):
                yield
        else:
            self.info(message)
            yield
