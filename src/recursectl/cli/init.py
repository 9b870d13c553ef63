"""`recursectl init`: a commented recursectl.toml and a handler.py to start from."""

from __future__ import annotations

import re
from pathlib import Path

import click

from recursectl.app import App


def _function_name(directory: Path) -> str:
    from recursectl.settings import DEFAULT_NAME

    name = re.sub(r"[^A-Za-z0-9_-]+", "-", directory.resolve().name).strip("-")[:64]
    return name or DEFAULT_NAME


@click.command("init")
@click.argument(
    "directory",
    required=False,
    default=".",
    type=click.Path(path_type=Path, file_okay=False),
)
@click.option("--name", help="Function name to write (default: the folder's name).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option(
    "--runtime", help="nodejs22.x (etc.) writes a Node.js project: handler.js, package.json."
)
@click.option(
    "--template",
    type=click.Choice(["chain", "job"]),
    default="chain",
    show_default=True,
    help="chain: a function that calls itself --calls times; job: a long job that processes "
    "10,000 items in batches across 3-second hops (recursectl's job API, a [job] table).",
)
@click.option(
    "--from",
    "from_file",
    metavar="serverless.yml",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the recursectl.toml equivalent to a Serverless Framework file (no handler).",
)
@click.option(
    "--function",
    "function_key",
    metavar="KEY",
    help="With --from: which of the file's functions (needed when it declares several).",
)
@click.pass_obj
def init_command(
    app: App,
    directory: Path,
    name: str | None,
    force: bool,
    runtime: str | None = None,
    template: str = "chain",
    from_file: Path | None = None,
    function_key: str | None = None,
) -> None:
    """Write recursectl.toml, handler.py and its tests (or a Node.js project) into DIRECTORY.

    With --from serverless.yml: only recursectl.toml, equivalent to that file's function
    (name, handler, runtime, environment, IAM statements; its own ARN as ${function_arn}).
    """
    from recursectl.build.package import templates_dir
    from recursectl.errors import UsageError
    from recursectl.names import check_function_name
    from recursectl.settings import CONFIG_FILE

    if from_file is not None:
        from recursectl.cli.init_serverless import write_from_serverless

        write_from_serverless(app, from_file, directory, name, function_key, force)
        return
    name = name or _function_name(directory)
    check_function_name(name)
    templates = templates_dir()
    files = {
        CONFIG_FILE: (templates / "recursectl.toml")
        .read_text(encoding="utf-8")
        .replace("{name}", name),
        "handler.py": (templates / "python" / "handler.py").read_text(encoding="utf-8"),
        # its own tests pass out of the box: the helper importable, a sample test
        "conftest.py": (templates / "init" / "conftest.py").read_text(encoding="utf-8"),
        "tests/test_handler.py": (templates / "init" / "test_handler.py").read_text(
            encoding="utf-8"
        ),
    }
    if runtime is not None and not runtime.startswith("python"):
        from recursectl.cli.init_node import node_files

        files = node_files(name, runtime)
    if template == "job":
        from recursectl.cli.init_job import job_files

        files = job_files(files, node=runtime is not None and not runtime.startswith("python"))
    existing = [f for f in files if (directory / f).exists()]
    if existing and not force:
        raise UsageError(
            f"{', '.join(existing)} already exist(s) in {directory}; nothing was written.",
            hint="pass --force to overwrite",
        )
    directory.mkdir(parents=True, exist_ok=True)
    for filename, text in files.items():
        (directory / filename).parent.mkdir(parents=True, exist_ok=True)
        (directory / filename).write_text(text, encoding="utf-8")
        app.ui.success(f"wrote {directory / filename}")
    where = "" if directory == Path(".") else f"cd {directory} && "
    if template == "job":
        app.ui.info(
            f"next: {where}recursectl deploy   (--local: without AWS), then "
            "recursectl invoke --follow and recursectl job list"
        )
        return
    app.ui.info(f"next: {where}pytest, then recursectl deploy   (--local: without AWS)")
