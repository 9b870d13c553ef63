"""One wrapper over rich: data to stdout, status and progress to stderr."""

from __future__ import annotations

import codecs
import json
import os
import re
import shlex
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from rich.console import Console, RenderableType
from rich.markup import escape

if TYPE_CHECKING:
    from rich.live import Live

# A command a message tells the user to run: `recursectl deploy ...`, not "recursectl's".
_COMMAND = re.compile(
    r"\brecursectl (?=(?:init|deploy|invoke|logs|info|stop|resume|job|destroy|audit)\b)"
)


def with_context(text: str, flags: Sequence[str]) -> str:
    """`text` with the global flags the command ran with put into every `recursectl CMD` in it,
    so that a printed next step works when pasted (`recursectl --local logs ...`)."""
    if not flags:
        return text
    joined = " ".join(shlex.quote(f) for f in flags)
    return _COMMAND.sub(f"recursectl {joined} ", text)


class Ticker:
    """Progress callbacks: work added, work done (no-ops when no bar is drawn)."""

    def __init__(
        self,
        on_total: Callable[[int], object] | None = None,
        on_advance: Callable[[int], object] | None = None,
    ) -> None:
        self._on_total, self._on_advance = on_total, on_advance

    def total(self, n: int) -> None:
        if self._on_total:
            self._on_total(n)

    def advance(self, n: int = 1) -> None:
        if self._on_advance:
            self._on_advance(n)


# What a stream that cannot encode them (PYTHONIOENCODING=ascii, some CI runners, a latin-1
# locale) shows instead of the symbols recursectl prints; anything else becomes "?".
_ASCII = {
    "·": "-", "≈": "~", "✓": "ok", "✗": "x", "…": "...", "—": "-", "–": "-", "→": "->",
    "←": "<-", "×": "x", "├": "+", "└": "`", "│": "|", "─": "-", "┃": "|", "━": "-",
    "╇": "+", "┏": "+", "┓": "+", "┗": "+", "┛": "+", "┡": "+", "┩": "+", "┳": "+",
    "┻": "+", "╋": "+", "≤": "<=", "≥": ">=", "µ": "u", "°": "deg",
}  # fmt: skip
_ERRORS = "recursectl-ascii"


def _replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(_ASCII.get(ch, "?") for ch in bad), exc.end


codecs.register_error(_ERRORS, _replace)


def tolerate_encoding(*streams: Any) -> None:
    """Streams whose encoding cannot write every character degrade (ASCII stand-ins, "?")
    instead of raising UnicodeEncodeError in the middle of a table."""
    for stream in streams:
        encoding = str(getattr(stream, "encoding", "") or "").lower().replace("_", "-")
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and not encoding.startswith("utf"):
            try:
                reconfigure(errors=_ERRORS)
            except (ValueError, OSError):  # a stream that cannot change: leave it
                continue


class Verbosity(IntEnum):
    """The one verbosity setting: -q, the default, --debug."""

    QUIET = -1
    NORMAL = 0
    DEBUG = 1


class UI:
    """Terminal output.

    Data (tables, trees, JSON) goes to stdout so it can be piped; messages, warnings and
    spinners go to stderr. Spinners only appear when stderr is a terminal.
    """

    def __init__(
        self,
        *,
        no_color: bool = False,
        verbosity: Verbosity = Verbosity.NORMAL,
        json_mode: bool = False,
        out: Console | None = None,
        err: Console | None = None,
    ):
        no_color = no_color or bool(os.environ.get("NO_COLOR"))
        if out is None and err is None:
            tolerate_encoding(sys.stdout, sys.stderr)
        self.verbosity = verbosity
        self.json_mode = json_mode
        self.out = out or Console(no_color=no_color, highlight=False, soft_wrap=True)
        if out is None and not self.out.is_terminal and "COLUMNS" not in os.environ:
            # Piped or redirected: don't crop trees to the 80-column default.
            self.out = Console(no_color=no_color, highlight=False, soft_wrap=True, width=160)
        self.err = err or Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True)
        self.context: list[str] = []  # global flags to repeat in printed commands (--local ...)

    def cmd(self, text: str) -> str:
        """A message or hint, its `recursectl CMD` commands given this run's global flags."""
        return with_context(text, self.context)

    @property
    def quiet(self) -> bool:
        return self.verbosity <= Verbosity.QUIET

    @property
    def debug(self) -> bool:
        return self.verbosity >= Verbosity.DEBUG

    @property
    def interactive(self) -> bool:
        return self.err.is_terminal

    # data ---------------------------------------------------------------------------------
    def data(self, renderable: RenderableType) -> None:
        # Wrapped by rich at the terminal's width (a tree's continuation lines are indented
        # under their row); the console's soft_wrap would let the terminal cut them anywhere.
        self.out.print(renderable, soft_wrap=False)

    def write(self, text: str) -> None:
        """Exactly `text` (and a newline unless empty) on stdout: no markup, no wrapping."""
        sys.stdout.write(text + ("\n" if text and not text.endswith("\n") else ""))
        sys.stdout.flush()

    def emit_json(self, obj: Any) -> None:
        # Plain write: rich would re-wrap long lines and break the document.
        sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
        sys.stdout.flush()

    # status -------------------------------------------------------------------------------
    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(self.cmd(message))

    def success(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"[green]✓[/green] {self.cmd(message)}")

    def trace(self, message: str) -> None:
        """A detail shown only with --debug (the AWS calls made)."""
        if self.debug:
            self.err.print(f"[dim]{escape(message)}[/dim]")

    def live(self) -> Live:
        """A live display on stderr (the caller starts and stops it); transient: the last frame
        is erased, so the final view is printed once after it."""
        from rich.live import Live

        return Live(console=self.err, refresh_per_second=4, transient=True)

    def notice(self, message: str) -> None:
        """A status line shown even with -q (an interruption, for one)."""
        self.err.print(escape(self.cmd(message)))

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {escape(self.cmd(message))}")

    def error(self, message: str, hint: str | None = None) -> None:
        self.err.print(f"[bold red]error:[/bold red] {escape(message)}")
        if hint:
            self.err.print(f"[dim]hint:[/dim] {escape(self.cmd(hint))}")

    @contextmanager
    def progress(self, description: str) -> Iterator[Ticker]:
        """A progress bar on a terminal (stderr, transient); elsewhere nothing is drawn.
        The ticker's `total(n)` adds work, `advance(n)` marks it done (from any thread)."""
        if not (self.interactive and not self.quiet):
            yield Ticker()
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=self.err,
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=0)
            lock = threading.Lock()
            work = [0]  # the total so far: added to from several threads

            def add(n: int) -> None:
                with lock:
                    work[0] += n
                    bar.update(task, total=work[0])

            yield Ticker(add, lambda n: bar.advance(task, n))

    @contextmanager
    def status(self, message: str) -> Iterator[None]:
        """A spinner on a terminal; a plain line otherwise (unless quiet)."""
        if self.interactive and not self.quiet:
            with self.err.status(message):
                yield
        else:
            self.info(message)
            yield
