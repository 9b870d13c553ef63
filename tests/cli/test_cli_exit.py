"""How the real process ends: the exit code, complete output, atexit work and threads done,
a closed pipe without a traceback (cli.main exits without the interpreter's teardown)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# Buffered as a user's pipe is (PYTHONUNBUFFERED would hide a missing flush).
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, "NO_COLOR": "1"}


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=60, env=ENV, check=False,
    )  # fmt: skip


def test_help_is_complete_and_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "recursectl", "--help"],
        capture_output=True, text=True, timeout=60, env=ENV, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: recursectl")
    assert "deploy" in done.stdout
    assert done.stdout.endswith("\n")


def test_a_usage_error_keeps_its_exit_code() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "recursectl", "no-such-command"],
        capture_output=True, text=True, timeout=60, env=ENV, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "No such command" in done.stderr
    assert "Traceback" not in done.stderr


def test_atexit_functions_and_threads_finish_before_the_exit() -> None:
    done = _run("""
        import atexit, sys, threading, time
        from recursectl.cli import main

        def late():
            time.sleep(0.3)
            print("thread done", flush=True)

        threading.Thread(target=late).start()
        atexit.register(lambda: print("atexit ran", flush=True))
        sys.argv = ["recursectl", "--version"]
        main()
        print("not reached")
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-2:] == ["thread done", "atexit ran"]
    assert "not reached" not in done.stdout


def test_a_buffered_write_is_flushed() -> None:
    """Output still in Python's buffer at the end (written by an atexit function, after the
    command's own output) reaches the pipe."""
    done = _run("""
        import atexit, sys
        from recursectl.cli import main
        atexit.register(lambda: sys.stdout.write("x" * 5000))  # stays in the 8 KB buffer
        sys.argv = ["recursectl", "--version"]
        main()
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("x" * 5000)


def test_a_closed_pipe_ends_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "recursectl", "--help"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # the reader went away (`recursectl ... | head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) != 0
    assert "Traceback" not in err
    assert "Exception ignored" not in err
