"""The ``arrowtail`` command line as a child process, and the checks its failures must pass.

:func:`cli` runs ``python -m arrowtail.cli`` and returns the finished process (:func:`cli_popen`
starts it in the background); a failed run must
end with exactly one ``arrowtail: error:`` line, exit code 2 or 3, no traceback and no password
(:func:`assert_one_clear_line`). :func:`free_port` gives a loopback port nothing listens on.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

#: A password no server knows: it must never show up in what a failed run prints.
SECRET = "s3cret-Pa55word-xyz"


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "arrowtail.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def cli_popen(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``arrowtail`` with ``args`` started in the background, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "arrowtail.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_one_clear_line(code: int, output: str, password: str, *needles: str) -> str:
    assert code in (2, 3), f"exit {code}:\n{output}"
    errors = [line for line in output.splitlines() if line.startswith("arrowtail: error:")]
    assert len(errors) == 1, output
    assert "Traceback" not in output, output
    assert password not in output and SECRET not in output, output
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]
