"""`recursectl init --from serverless.yml`: the recursectl.toml equivalent to a Serverless file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recursectl.app import App
from recursectl.errors import UsageError


def toml_text(values: dict[str, Any], source: str, notes: list[str]) -> str:
    """recursectl.toml text for the imported settings, with what the import noticed."""
    import tomlkit

    doc = tomlkit.document()
    doc.add(
        tomlkit.comment(f"recursectl configuration, written by `recursectl init --from {source}`.")
    )
    doc.add(tomlkit.comment("Precedence: flags > RECURSECTL_* environment > this file > defaults."))
    doc.add(
        tomlkit.comment("${function_arn} stands for the function's own ARN: deploy fills it in.")
    )
    for note in notes:
        doc.add(tomlkit.comment(f"{source}: {note}"))
    doc.add(tomlkit.nl())
    for key in ("name", "handler", "runtime", "architecture", "memory", "timeout"):
        if key in values:
            doc.add(key, values[key])
    if "log_retention_days" in values:
        doc.add("log_retention_days", values["log_retention_days"])
    if values.get("environment"):
        table = tomlkit.table()
        for k, v in values["environment"].items():
            table.add(k, v)
        doc.add(tomlkit.nl())
        doc.add("environment", table)
    if values.get("iam_statements"):
        statements = tomlkit.aot()
        for st in values["iam_statements"]:
            item = tomlkit.table()
            for k, v in st.items():
                item.add(k, v)
            statements.append(item)
        doc.add(tomlkit.nl())
        doc.add("iam_statements", statements)
    return tomlkit.dumps(doc)


def write_from_serverless(
    app: App,
    source: Path,
    directory: Path,
    name: str | None,
    function_key: str | None,
    force: bool,
) -> None:
    from recursectl import serverless
    from recursectl.aws.model import lambda_runtimes
    from recursectl.names import check_function_name
    from recursectl.settings import CONFIG_FILE

    if not source.is_file():
        raise UsageError(
            f"{source} does not exist.", hint="--from names a serverless.yml (or .yaml) file"
        )
    imported = serverless.load(source, known=lambda_runtimes(), function=function_key)
    values = dict(imported.values)
    if name:
        values["name"] = name
    check_function_name(values["name"])
    target = directory / CONFIG_FILE
    if target.exists() and not force:
        raise UsageError(
            f"{CONFIG_FILE} already exists in {directory}; nothing was written.",
            hint="pass --force to overwrite",
        )
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(toml_text(values, source.name, imported.notes), encoding="utf-8")
    for note in imported.notes:
        app.ui.info(f"note: {source.name}: {note}")
    app.ui.success(f"wrote {target} (function {values['name']}, from {source.name})")
    app.ui.info("next: recursectl deploy   (recursectl.toml now wins over serverless.yml)")
