"""Helpers of the reliability suite: start ``arrowtail run`` as a child process, kill it with
SIGKILL at seeded random moments while a workload runs (:func:`workload_kill_loop`, the driver
the PostgreSQL, MariaDB and Kafka kill tests share), and check a Parquet sink directory afterwards
(the files on disk are exactly the manifest's, no change stored twice, the replay equals the
source).

The soak variants of the kill loops read ``ARROWTAIL_SOAK_KILLS`` (number of SIGKILLs, default the
CI value), ``ARROWTAIL_SOAK_ROUNDS`` (workload rounds, :func:`soak_rounds`) and
``ARROWTAIL_SOAK_SEED`` (RNG seed); see docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tests.support.replay import parquet_changes

#: The first log line of ``arrowtail run`` (runner.py), once the interpreter has started.
STARTED = " -> sink "


def soak_kills(default: int) -> int:
    """Number of kills: ``ARROWTAIL_SOAK_KILLS`` or the CI default."""
    return int(os.environ.get("ARROWTAIL_SOAK_KILLS", default))


def soak_rounds(default: int) -> int:
    """Number of workload rounds: ``ARROWTAIL_SOAK_ROUNDS`` or the CI default."""
    return int(os.environ.get("ARROWTAIL_SOAK_ROUNDS", default))


def soak_rng(default_seed: int) -> random.Random:
    """The kill schedule's RNG, seeded from ``ARROWTAIL_SOAK_SEED`` or the test's own seed."""
    return random.Random(int(os.environ.get("ARROWTAIL_SOAK_SEED", default_seed)))


@dataclass
class Child:
    """One ``arrowtail`` child process whose output goes to files (a killed child leaves no
    pipe half read)."""

    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def start_arrowtail(args: list[str], env: dict[str, str], logs: Path, name: str) -> Child:
    """Starts ``python -m arrowtail.cli ARGS`` with its output in ``logs/name.{out,err}``."""
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    cmd = [sys.executable, "-m", "arrowtail.cli", *args]
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(cmd, env=env, stdout=o, stderr=e, start_new_session=True)
    return Child(proc, out, err)


def kill_loop(
    start: Callable[[int], Child],
    rng: random.Random,
    kills: int,
    progress: Callable[[], Any],
    *,
    low: float = 0.3,
    high: float = 2.5,
) -> tuple[int, int]:
    """Starts a run, SIGKILLs it after a random delay in ``[low, high)`` seconds, ``kills``
    times. The delay counts from the run's first log line (``source ... -> sink ...``, written
    once its imports and configuration are done), so a loaded machine's slow interpreter start
    does not eat it. A run that ends by itself before its kill must have succeeded. Returns how
    many runs were really killed (alive at the kill) and after how many runs ``progress()`` (the
    stored checkpoint) had changed (runs that made progress)."""
    killed = advanced = 0
    for i in range(kills):
        before = progress()
        child = start(i)
        wait_for(partial(_started, child), f"run {i} to start", timeout=120)
        delay = rng.uniform(low, high)
        try:
            code = child.proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            child.kill()
            killed += 1
        else:
            assert code == 0, f"run {i} ended with {code} before its kill:\n{child.output()}"
        if progress() != before:
            advanced += 1
    return killed, advanced


def workload_kill_loop(
    workload_round: Callable[[int], None],
    rounds: int,
    start_run: Callable[[int], Child],
    progress: Callable[[], Any],
    seed: int,
    *,
    kills: int = 12,
    low: float = 0.3,
    high: float = 2.5,
    min_killed: int = 10,
) -> None:
    """The kill loop of the reliability tests: ``workload_round(r)`` for ``r`` in
    ``1..rounds`` runs on a thread while runs started by ``start_run(i)`` are SIGKILLed (see
    :func:`kill_loop`; ``kills`` and ``seed`` are the CI values, the soak variables override
    them). Each run releases its share of the rounds as it starts, so that every run, not only
    the first, is killed in the middle of changes arriving. Asserts the workload finished, at
    least 10 runs were alive when killed and at least 3 killed runs stored progress."""
    kills = soak_kills(kills)
    permits = threading.Semaphore(0)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            for r in range(1, rounds + 1):
                permits.acquire()
                workload_round(r)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failure.append(exc)

    worker = threading.Thread(target=work, name="workload", daemon=True)
    worker.start()

    def start(i: int) -> Child:
        for _ in range(-(-rounds // kills)):
            permits.release()
        return start_run(i)

    try:
        killed, advanced = kill_loop(start, soak_rng(seed), kills, progress, low=low, high=high)
    finally:
        for _ in range(rounds):
            permits.release()
    worker.join(timeout=600)
    assert not worker.is_alive() and not failure, failure
    assert killed >= min_killed, f"only {killed} runs were alive when killed"
    # Kills must land in the middle of real work, not only before the first commit of each run.
    assert advanced >= 3, f"only {advanced} killed runs stored anything"


def position_first_run(
    args: list[str],
    env: dict[str, str],
    logs: Path,
    touch: Callable[[int], None],
    stored: Callable[[], bool],
) -> None:
    """For a MySQL source, which keeps no replica position: starts a first ``arrowtail run`` with
    ``args`` and, until ``stored()`` says it has stored a checkpoint, makes the i-th marker change
    with ``touch(i)``; then kills it. (A run without a stored position starts at the binlog's end;
    after this one, every restart resumes from the checkpoint.)"""
    child = start_arrowtail(args, env, logs, "first")
    marker = 0

    def positioned() -> bool:
        nonlocal marker
        assert child.proc.poll() is None, child.output()
        marker += 1
        touch(marker)
        return stored()

    wait_for(positioned, "the first run to store a checkpoint", timeout=120)
    child.kill()


def _started(child: Child) -> bool:
    return child.proc.poll() is not None or STARTED in child.output()


def checkpoint(out: Path) -> Any:
    """The checkpoint of the Parquet manifest under ``out`` (None before the first commit)."""
    try:
        return manifest(out).get("checkpoint")
    except FileNotFoundError:
        return None


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "_arrowtail" / "manifest.json").read_text())


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Polls ``predicate`` until true or the deadline (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def settled(value: Callable[[], int], what: str, quiet: float = 3.0, timeout: float = 60.0) -> int:
    """Polls ``value`` until it has stayed the same for ``quiet`` seconds, and returns it.

    After an outage starts, a position delivered just before it may still be on its way to the
    checkpoint file (the reports are read on the next poll, the file is saved at most once a
    checkpoint interval, a second by default); ``quiet`` is several of those intervals. A run
    that kept storing positions while nothing can be delivered would settle only once its
    producer's queue is full, so a settled position alone proves little: the outage test also
    kills a run during the outage and checks that nothing stored was lost.
    """
    deadline = time.monotonic() + timeout
    last = value()
    since = time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} to settle")
        time.sleep(0.05)
        now = value()
        if now != last:
            last, since = now, time.monotonic()
    return last


def check_committed_files(out: Path) -> int:
    """The Parquet files on disk are exactly the manifest's, and no ``(_pos, _seq)`` of a table
    is stored twice. Returns the number of stored changes."""
    listed = {e["path"] for e in manifest(out)["files"]}
    on_disk = {
        p.relative_to(out).as_posix()
        for p in out.glob("*/*")
        if p.parent.name != "_arrowtail" and p.is_file()
    }
    assert on_disk == listed, f"unlisted {on_disk - listed}, missing {listed - on_disk}"
    seen: set[tuple[str, int, int]] = set()
    total = 0
    for table, _version, batch in parquet_changes(out):
        pos = batch.column("_pos").to_pylist()
        seq = batch.column("_seq").to_pylist()
        for key in zip(pos, seq, strict=True):
            item = (table, key[0], key[1])
            assert item not in seen, f"change {item} stored twice"
            seen.add(item)
        total += batch.num_rows
    return total
