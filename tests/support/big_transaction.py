"""The memory bound of the one-transaction-of-a-million-rows tests (PostgreSQL and MariaDB): run
``arrowtail run`` as a child process, sample its peak resident memory (``VmHWM`` from
``/proc/<pid>/status``) until it exits, and check the peak stays under ``LIMIT_MB``. Loose on
purpose: a memory bound, not a timing."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

#: Rows of the single big transaction.
ROWS = 1_000_000
LIMIT_MB = 512


def vm_hwm_kb(pid: int) -> int:
    """``VmHWM`` of a live process in kB (0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run_within_memory(
    cmd: list[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    ceiling_mb: int = LIMIT_MB,
) -> str:
    """Runs ``cmd`` (an ``arrowtail run`` that ends by itself), sampling its peak RSS until it
    exits; asserts it succeeded with a peak under ``ceiling_mb``, and returns its output."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    # VmHWM of the running process: the peak RSS of its own address space. (ru_maxrss of the
    # child is not usable: Linux carries the forking parent's high-water mark over the exec.)
    peak_kb = 0
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"arrowtail run did not finish within {timeout:g} s")
        peak_kb = max(peak_kb, vm_hwm_kb(proc.pid))
        try:
            proc.wait(timeout=0.1)
            break
        except subprocess.TimeoutExpired:
            continue
    output = log_path.read_text()
    assert proc.returncode == 0, output
    peak_mb = peak_kb / 1024
    print(f"peak RSS of arrowtail run: {peak_mb:.0f} MB")
    assert peak_mb < ceiling_mb, f"peak RSS {peak_mb:.0f} MB"
    assert peak_mb > 20, f"peak RSS {peak_mb:.0f} MB is implausibly low: measured the wrong process"
    return output
