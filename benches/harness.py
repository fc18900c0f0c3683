"""Measurement plumbing: one process per run (peak RSS from ``wait4``), systems interleaved round by
round (A B A B ...), medians per system, and a description of the machine."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Sample:
    """One run: seconds of work, rows handled, peak resident set size in bytes."""

    seconds: float
    rows: int
    peak_rss: int


@dataclass
class System:
    """A contender in a comparison: ``run()`` performs one measured run in a child process."""

    name: str
    run: Callable[[], Sample]
    input_bytes: int = 0
    samples: list[Sample] = field(default_factory=list)
    #: Name of the zero-row system in the same comparison that measures this one's fixed cost
    #: (start-up and shutdown with nothing to do); its steady-state rate is net of that.
    baseline: str | None = None

    @property
    def seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def rows(self) -> int:
        return self.samples[-1].rows if self.samples else 0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.input_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    @property
    def peak_rss(self) -> int:
        return int(statistics.median(s.peak_rss for s in self.samples))


def _wait(proc: subprocess.Popen) -> tuple[int, int]:
    """Waits for ``proc``; returns ``(exit status, peak RSS bytes)`` of that child alone."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss * 1024  # Linux reports kilobytes


def run_worker(kind: str, args: dict) -> Sample:
    """Runs ``python -m benches.worker kind args`` and returns its sample."""
    argv = [sys.executable, "-m", "benches.worker", kind, json.dumps(args)]
    out, code, rss, err = _spawn(argv, stdout=subprocess.PIPE).finish()
    if code != 0:
        raise RuntimeError(f"worker {kind} failed ({code}): {err}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    return Sample(float(result["seconds"]), int(result["rows"]), rss)


def run_command(
    argv: list[str], rows: int, *, minus: float = 0.0, env: dict | None = None
) -> Sample:
    """Runs an external command (stdout to /dev/null); wall time minus ``minus`` seconds."""
    start = time.perf_counter()
    child = _spawn(argv, stdout=subprocess.DEVNULL, env=env)
    _, code, rss, err = child.finish()
    seconds = time.perf_counter() - start - minus
    if code != 0:
        raise RuntimeError(f"{argv[0]} failed ({code}): {err}")
    return Sample(seconds, rows, rss)


GNU_TIME = Path("/usr/bin/time")


def _spawn(
    argv: list[str], *, stdout: int | None, env: dict | None = None, new_session: bool = False
) -> _Child:
    """Starts ``argv`` with stderr in a temporary file (so a full pipe can never block it).

    Linux carries the RSS high-water mark of the forking process across ``exec`` into the child's
    ``ru_maxrss``, so a child forked from this (large) process would report at least our own size.
    GNU time is a small process: it forks the real command and reports that child's peak alone.
    """
    err = tempfile.TemporaryFile()
    rss_file = None
    if GNU_TIME.exists():
        rss_file = tempfile.NamedTemporaryFile(prefix="arrowtail-bench-rss-", delete=False)
        rss_file.close()
        argv = [str(GNU_TIME), "-f", "%M", "-o", rss_file.name, *argv]
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=stdout, stderr=err, env=env, start_new_session=new_session
    )
    return _Child(proc, err, Path(rss_file.name) if rss_file else None)


@dataclass
class _Child:
    proc: subprocess.Popen
    err: IO[bytes]
    rss_file: Path | None

    def finish(self) -> tuple[bytes, int, int, str]:
        """Reads stdout to its end, reaps the child: ``(stdout, exit code, peak RSS, stderr)``."""
        out = self.proc.stdout.read() if self.proc.stdout else b""
        code, rss = _wait(self.proc)
        if self.rss_file is not None:
            text = self.rss_file.read_text().split()
            self.rss_file.unlink()
            if code == 0 and text:
                rss = int(text[-1]) * 1024  # GNU time %M: kilobytes
        self.err.seek(0)
        err = self.err.read().decode(errors="replace")[-3000:]
        self.err.close()
        return out, code, rss, err


def interleave(systems: list[System], rounds: int, log: Callable[[str], None] = print) -> None:
    """Runs every system once per round, in the same order each round (A B A B ...)."""
    for r in range(rounds):
        for s in systems:
            sample = s.run()
            s.samples.append(sample)
            log(
                f"  round {r + 1}/{rounds} {s.name}: {sample.seconds:.3f} s, {sample.rows} rows, "
                f"{sample.peak_rss / 2**20:.0f} MiB"
            )


def rss_method() -> str:
    """How peak RSS is measured on this machine (for the results file)."""
    if GNU_TIME.exists():
        return "maximum resident set size of the measured process alone (GNU time %M)"
    return "ru_maxrss from wait4 (includes the parent's size at fork: an upper bound)"


def machine() -> dict[str, str]:
    """nproc, CPU model, memory, OS and Python version of this machine."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "load average (1, 5, 15 min) when the run ended": " ".join(
            f"{x:.1f}" for x in os.getloadavg()
        ),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
    }
