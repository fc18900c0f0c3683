"""Process plumbing of the test servers; it lives in the package (``arrowtail.embedded.process``)
because ``arrowtail demo`` starts a private PostgreSQL the same way."""

import subprocess
from collections.abc import Callable
from pathlib import Path

from arrowtail.embedded.process import *  # noqa: F403
from arrowtail.embedded.process import (  # noqa: F401 - underscored names are not star-exported
    LOOPBACK,
    ProcessServer,
    ServerStartError,
    ServerUnavailable,
)


def spawn_until(
    argv: list[str], log: Path, ready: Callable[[], bool], *, what: str, timeout: float
) -> subprocess.Popen[bytes]:
    """Starts ``argv`` (output to ``log``) and waits until ``ready()`` holds; a start that fails
    or times out leaves no process behind."""
    proc = spawn(argv, log)  # noqa: F405
    try:
        wait_until(ready, what=what, timeout=timeout, proc=proc, log=log)  # noqa: F405
    except BaseException:
        kill_process(proc)  # noqa: F405
        raise
    return proc
