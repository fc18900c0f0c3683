"""Command-line behaviour that needs no server."""

from __future__ import annotations

import subprocess
import sys

from arrowtail import __version__


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arrowtail.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_version() -> None:
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"arrowtail {__version__}"


def test_no_command_is_a_usage_error() -> None:
    out = run()
    assert out.returncode == 2
    assert "usage" in out.stderr.lower()
