"""`recursectl init --template job`: a long job in Python or Node.js (templates/job/)."""

from __future__ import annotations

from recursectl.build.package import templates_dir

JOB_TIMEOUT_S = 3  # short on purpose: the example's 10,000 items take several hops
_TIMEOUT_LINE = "timeout = 30              # seconds per invocation"


def job_files(files: dict[str, str], *, node: bool) -> dict[str, str]:
    """The chain project's files (`files`, as init writes them) turned into a job project:
    the job handler, a 3-second timeout and a [job] table in recursectl.toml."""
    job_dir = templates_dir() / "job"
    config = files["recursectl.toml"]
    if _TIMEOUT_LINE not in config:  # pragma: no cover - the template changed: say so in tests
        raise AssertionError("templates/recursectl.toml has no timeout line to set")
    config = config.replace(
        _TIMEOUT_LINE, f"timeout = {JOB_TIMEOUT_S}               # seconds per hop"
    )
    config = config.rstrip("\n") + "\n" + (job_dir / "job.toml").read_text(encoding="utf-8")
    out = {k: v for k, v in files.items() if k not in ("conftest.py", "tests/test_handler.py")}
    if node:
        from recursectl.cli.init_node import HANDLER

        out["recursectl.toml"] = config.replace(
            f'handler = "{HANDLER}"', 'handler = "handler.js:handler"'
        )
        out["handler.js"] = (job_dir / "handler.js").read_text(encoding="utf-8")
    else:
        out["recursectl.toml"] = config
        out["handler.py"] = (job_dir / "handler.py").read_text(encoding="utf-8")
    return out
