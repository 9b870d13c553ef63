"""The click entry point: global options, error handling, command registration."""

from __future__ import annotations

import errno
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click
from click.core import ParameterSource

from recursectl import __version__
from recursectl.app import App
from recursectl.errors import EXIT_AWS, EXIT_INTERRUPTED, RecursectlError
from recursectl.ui import UI, Verbosity

EXIT_BUG = 70  # EX_SOFTWARE: an unexpected exception (a bug in recursectl)

_GLOBALS = "recursectl.globals"  # ctx.meta key: the global options' values, as parsed so far

# The global options, declared once: on the root group, and hidden on every command below it so
# that `recursectl deploy --local` works as users type it (click parses them in place, so
# `invoke --data --local` keeps `--local` as the payload, as click's conventions say).
_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--region",), {"help": "AWS region (default: AWS_REGION or your profile's)."}),
    (("--profile",), {"help": "AWS profile from ~/.aws/config."}),
    (
        ("--endpoint-url",),
        {"help": "Custom AWS endpoint (also AWS_ENDPOINT_URL / RECURSECTL_ENDPOINT_URL)."},
    ),
    (
        ("--local/--aws", "local"),
        {
            "default": None,
            "help": "Target the embedded local cloud, starting it if needed "
            "(also RECURSECTL_LOCAL=1).",
        },
    ),
    (
        ("--config", "config_path"),
        {
            "type": click.Path(path_type=Path, dir_okay=False),
            "help": "Config file (default: ./recursectl.toml or [tool.recursectl] in "
            "./pyproject.toml).",
        },
    ),
    (("--no-color",), {"is_flag": True, "help": "Plain output (also NO_COLOR)."}),
    (("--debug",), {"is_flag": True, "help": "Show tracebacks and AWS call details."}),
    (("-q", "--quiet"), {"is_flag": True, "help": "Only data and errors, no progress."}),
]


def _global_options(f: Any) -> Any:
    for decls, kwargs in reversed(_OPTIONS):
        f = click.option(*decls, **kwargs)(f)
    return f


def _late_global(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A global option given after the command: configure the app again with it."""
    if param.name is None or ctx.get_parameter_source(param.name) != ParameterSource.COMMANDLINE:
        return value
    ctx.meta[_GLOBALS][param.name] = value
    _configure(ctx)
    return value


def _add_late_globals(command: click.Command) -> None:
    """Every command (and group) below the root accepts the global options, hidden."""
    if any(getattr(p, "callback", None) is _late_global for p in command.params):
        return
    command.params.extend(
        click.Option(
            list(decls),
            hidden=True,
            expose_value=False,
            callback=_late_global,
            **{k: v for k, v in kwargs.items() if k != "help"},
        )
        for decls, kwargs in _OPTIONS
    )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_late_globals(sub)


def _configure(ctx: click.Context) -> None:
    """(Re)build the app's settings and terminal from the global options parsed so far."""
    from recursectl import settings as settings_mod

    raw = ctx.meta[_GLOBALS]
    verbosity = (
        Verbosity.DEBUG if raw["debug"] else Verbosity.QUIET if raw["quiet"] else Verbosity.NORMAL
    )
    ui = UI(no_color=raw["no_color"], verbosity=verbosity)
    app = ctx.find_object(App)
    if app is None:
        app = ctx.find_root().obj = App(settings=settings_mod.Settings(), ui=ui)
    app.ui = ui
    # The app is in place before loading, so a config error is reported through it.
    settings = settings_mod.load(config_path=raw["config_path"])
    app.reset(
        settings.with_overrides(
            region=raw["region"],
            profile=raw["profile"],
            endpoint_url=raw["endpoint_url"],
            local=raw["local"],
        )
    )
    ui.context = context_flags(
        local=bool(app.settings.local),
        region=raw["region"],
        profile=raw["profile"],
        endpoint_url=raw["endpoint_url"],
        config_path=raw["config_path"],
    )


class Group(click.Group):
    """Routes every failure through one path: message, hint, exit code, no traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # workflow order (init, deploy, invoke, ...), not a-z

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RecursectlError as exc:
            app = ctx.obj if isinstance(ctx.obj, App) else None
            ui = app.ui if app else UI()
            if app and app.debug:
                traceback.print_exc()
            ui.error(exc.message, exc.hint)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            (ctx.obj.ui if isinstance(ctx.obj, App) else UI()).notice("\ninterrupted")
            ctx.exit(EXIT_INTERRUPTED)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except OSError as exc:
            app = ctx.obj if isinstance(ctx.obj, App) else None
            if exc.filename is None:  # not about a path: no better message than the bug's
                _bug(app, exc, ctx)
            if app and app.debug:
                traceback.print_exc()
            hint = (
                "free some space on that disk, or point RECURSECTL_STATE_DIR at another one"
                if exc.errno == errno.ENOSPC
                else "check that the folder exists and that you may write to it (the local "
                "cloud's state folder is RECURSECTL_STATE_DIR, else ~/.local/state/recursectl)"
            )
            (app.ui if app else UI()).error(f"{exc.strerror or exc}: {exc.filename}", hint)
            ctx.exit(EXIT_AWS)
        except Exception as exc:
            _bug(ctx.obj if isinstance(ctx.obj, App) else None, exc, ctx)


def _bug(app: App | None, exc: BaseException, ctx: click.Context) -> NoReturn:
    """An unexpected exception: exit 70, with the traceback under --debug."""
    if app and app.debug:
        traceback.print_exc()
    ui = app.ui if app else UI()
    ui.error(
        f"unexpected {type(exc).__name__}: {exc}",
        "this is a bug in recursectl; rerun with --debug and report the traceback",
    )
    ctx.exit(EXIT_BUG)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@_global_options
@click.version_option(__version__, prog_name="recursectl")
@click.pass_context
def cli(
    ctx: click.Context,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    local: bool | None,
    config_path: Path | None,
    no_color: bool,
    debug: bool,
    quiet: bool,
) -> None:
    """Deploy, invoke and watch self-invoking (recursive) AWS Lambda functions, safely.

    \b
    Typical session:
      recursectl deploy                  # role, policy, function, own ARN: one command
      recursectl invoke --calls 5        # start a chain of 6 invocations
      recursectl logs --follow           # watch it as a tree
      recursectl stop                    # kill switch: reserved concurrency 0

    Add --local to run everything on the embedded local cloud (no AWS account needed).
    Global options may also follow the command: recursectl deploy --local.
    """
    ctx.meta[_GLOBALS] = {
        "region": region,
        "profile": profile,
        "endpoint_url": endpoint_url,
        "local": local,
        "config_path": config_path,
        "no_color": no_color,
        "debug": debug,
        "quiet": quiet,
    }
    _configure(ctx)


def context_flags(
    *,
    local: bool,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    config_path: Path | None,
) -> list[str]:
    """The global flags a printed next step must repeat to act on the same target."""
    flags = ["--local"] if local else []
    for flag, value in (
        ("--region", region),
        ("--profile", profile),
        ("--endpoint-url", endpoint_url),
        ("--config", str(config_path) if config_path else None),
    ):
        if value:
            flags += [flag, value]
    return flags


def _register() -> None:
    from recursectl.cli import commands

    for command in commands.ALL:
        _add_late_globals(command)
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="recursectl")
    except SystemExit as done:
        _exit_now(done.code)
    _exit_now(0)


def _exit_now(code: object) -> NoReturn:
    """Exit without the interpreter's teardown, once what it would do that matters is done.

    Freeing the modules and botocore's loaded service models took 80-240 ms after the last
    byte was written (measured: `logs --follow --json` of a 300-hop chain, output to process
    exit): time a script or a person waits for nothing. Done here instead: non-daemon threads
    joined, atexit functions run (temporary directories' finalizers among them), the standard
    streams flushed. The exit code follows SystemExit's rules.
    """
    import atexit
    import threading

    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    status = 0
    if isinstance(code, int):
        status = code
    elif code is not None:
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 1  # a closed pipe: what was written may be lost
    os._exit(status)
