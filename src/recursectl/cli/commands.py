"""Every top-level command, in --help order."""

from __future__ import annotations

import click

ALL: list[click.Command] = []
