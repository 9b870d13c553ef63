"""The click entry point: global options, error handling, command registration."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click

from recursectl import __version__
from recursectl.app import App
from recursectl.errors import EXIT_AWS, EXIT_INTERRUPTED, RecursectlError
from recursectl.ui import UI

EXIT_BUG = 70  # EX_SOFTWARE: an unexpected exception (a bug in recursectl)

# Global options users often type after the command (`recursectl deploy --local`).
_GLOBAL_FLAGS = {"--local", "--aws", "--debug", "--no-color", "-q", "--quiet"}
_GLOBAL_VALUES = {"--region", "--profile", "--endpoint-url", "--config"}


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options that follow the command name in front of it."""
    if not args or args[0].startswith("-"):
        # Global options first, then the command: find where the command starts.
        i = 0
        while i < len(args) and args[i].startswith("-") and args[i] != "--":
            i += 2 if args[i] in _GLOBAL_VALUES else 1
        head, tail = args[:i], args[i:]
    else:
        head, tail = [], args
    moved: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(tail):
        arg = tail[i]
        if arg == "--":
            rest.extend(tail[i:])
            break
        name = arg.split("=", 1)[0]
        if arg in _GLOBAL_FLAGS:
            moved.append(arg)
        elif name in _GLOBAL_VALUES and (arg != name or i + 1 < len(tail)):
            moved.append(arg)
            if arg == name:
                i += 1
                moved.append(tail[i])
        else:
            rest.append(arg)
        i += 1
    return head + moved + rest


class Group(click.Group):
    """Routes every failure through one path: message, hint, exit code, no traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = hoist_global_options(list(args))
        return super().parse_args(ctx, args)

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
            click.echo("\ninterrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except OSError as exc:
            app = ctx.obj if isinstance(ctx.obj, App) else None
            if exc.filename is None:  # not about a path: no better message than the bug's
                _bug(app, exc, ctx)
            if app and app.debug:
                traceback.print_exc()
            (app.ui if app else UI()).error(
                f"{exc.strerror or exc}: {exc.filename}",
                "check that the folder exists and that you may write to it (the local cloud's "
                "state folder is RECURSECTL_STATE_DIR, else ~/.local/state/recursectl)",
            )
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
@click.option("--region", help="AWS region (default: AWS_REGION or your profile's).")
@click.option("--profile", help="AWS profile from ~/.aws/config.")
@click.option(
    "--endpoint-url", help="Custom AWS endpoint (also AWS_ENDPOINT_URL / RECURSECTL_ENDPOINT_URL)."
)
@click.option(
    "--local/--aws",
    "local",
    default=None,
    help="Target the embedded local cloud, starting it if needed (also RECURSECTL_LOCAL=1).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: ./recursectl.toml or [tool.recursectl] in ./pyproject.toml).",
)
@click.option("--no-color", is_flag=True, help="Plain output (also NO_COLOR).")
@click.option("--debug", is_flag=True, help="Show tracebacks and AWS call details.")
@click.option("-q", "--quiet", is_flag=True, help="Only data and errors, no progress.")
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
    """
    from recursectl import settings as settings_mod

    ui = UI(no_color=no_color, quiet=quiet)
    app = App(settings=settings_mod.Settings(), ui=ui, debug=debug)
    ctx.obj = app  # set before loading, so a config error is reported through the app
    settings = settings_mod.load(config_path=config_path)
    app.settings = settings.with_overrides(
        region=region, profile=profile, endpoint_url=endpoint_url, local=local
    )
    ui.context = context_flags(
        local=bool(app.settings.local),
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        config_path=config_path,
    )


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
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="recursectl"))
