"""`recursectl local status` at narrow widths: the CLI command's own table renderer."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from recursectl.app import App
from recursectl.cli.local import _render
from recursectl.settings import Settings
from recursectl.ui import UI


@pytest.mark.parametrize("width", [60, 80])
def test_local_status_keeps_function_names_whole(width: int) -> None:
    names = ["slow-function-with-a-long-name", "fast-one"]
    doc = {
        "endpoint": "http://127.0.0.1:4599",
        "limits": {},
        "totals": {},
        "functions": [
            {"name": n, "environments": 1, "busy": 0, "queued": 0, "invocations": 12,
             "errors": 0, "timeouts": 0, "throttles": 0, "drops": {}, "recursive_loop": "Allow"}
            for n in names
        ],
    }  # fmt: skip
    buf = io.StringIO()
    ui = UI(out=Console(file=buf, width=width, color_system=None))
    _render(App(settings=Settings(), ui=ui), doc)
    out = buf.getvalue()
    for name in names:
        assert name in out, out


def test_local_status_says_which_isolation_is_in_force() -> None:
    from recursectl.local.worker import sandbox

    doc = {
        "endpoint": "http://127.0.0.1:4599",
        "limits": {},
        "totals": {},
        "isolation": sandbox.summary(),  # this machine's own
        "isolation_notes": ["handlers run as root (on AWS they do not)"],
        "functions": [],
    }
    out, err = io.StringIO(), io.StringIO()
    ui = UI(
        out=Console(file=out, width=200, color_system=None),
        err=Console(file=err, width=200, color_system=None),
    )
    _render(App(settings=Settings(), ui=ui), doc)
    line = next(ln for ln in out.getvalue().splitlines() if ln.startswith("Isolation:"))
    assert f"handlers run as {doc['isolation']['user']}" in line
    assert doc["isolation"]["task_root"] in line
    assert "handlers run as root (on AWS they do not)" in err.getvalue()
