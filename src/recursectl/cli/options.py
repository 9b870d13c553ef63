"""Options shared by several commands, declared once so their wording stays the same."""

from __future__ import annotations

import click

name_option = click.option(
    "--name",
    help="Function name (default: `name` in recursectl.toml, else the project's name from "
    "package.json or pyproject.toml, else this folder's name).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
follow_timeout_option = click.option(
    "--timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="With --follow: stop waiting after this many seconds.",
)
