"""The memory bound of the one-transaction-of-a-million-rows tests (PostgreSQL and MariaDB): run
``arrowtail run`` as a child process, sample its peak resident memory (``VmHWM`` from
``/proc/<pid>/status``) until it exits, and check the peak stays under ``LIMIT_MB``. Loose on
purpose: a memory bound, not a timing. :class:`Arrivals` checks that every row of such a
transaction reached a Kafka topic once, without holding the topic's messages."""

from __future__ import annotations

import json
import subprocess
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

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
    started = time.monotonic()
    deadline = started + timeout
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
    print(f"peak RSS of arrowtail run: {peak_mb:.0f} MB, {time.monotonic() - started:.0f} s")
    assert peak_mb < ceiling_mb, f"peak RSS {peak_mb:.0f} MB"
    assert peak_mb > 20, f"peak RSS {peak_mb:.0f} MB is implausibly low: measured the wrong process"
    return output


class Arrivals:
    """A tally of the Debezium JSON messages of one transaction into a table ``(id, v, n)`` whose
    ids are 1 to ``rows``: how often each id arrived (a byte per id), the order key of each id's
    change, and sums, so that ten million messages are checked without keeping them.

    ``digest(id, v)`` is the per-row digest whose sum the source computes too; ``order(source)``
    gives the change's place in its transaction from the ``source`` block; ``commit(source)`` what
    all changes of the one transaction share."""

    def __init__(
        self,
        rows: int,
        digest: Callable[[int, str], int],
        order: Callable[[dict[str, Any]], int],
        commit: Callable[[dict[str, Any]], Any],
    ) -> None:
        self.rows = rows
        self.seen = bytearray(rows + 1)
        self.places = array("q", bytes(8 * (rows + 1)))
        self.messages = 0
        self.strays: list[Any] = []
        self.total = 0
        self.digest_sum = 0
        self.ops: set[str] = set()
        self.commits: set[Any] = set()
        self._digest, self._order, self._commit = digest, order, commit

    def add(self, msg: Any) -> None:
        """Counts one message (a tombstone or a row outside 1..rows is kept aside as a stray)."""
        self.messages += 1
        if msg.value() is None:
            self.strays.append(msg.key())
            return
        event = json.loads(msg.value())
        after = event["after"] or {}
        i = after.get("id")
        if not isinstance(i, int) or not 0 < i <= self.rows or json.loads(msg.key()) != {"id": i}:
            self.strays.append((msg.key(), after))
            return
        self.seen[i] = min(self.seen[i] + 1, 255)
        self.places[i] = self._order(event["source"])
        self.ops.add(event["op"])
        self.commits.add(self._commit(event["source"]))
        self.total += after["n"]
        self.digest_sum += self._digest(i, after["v"])

    def assert_each_row_once(self) -> None:
        """Every id arrived exactly once and nothing else did."""
        assert self.strays == [], self.strays[:5]
        missing = self.seen.count(0) - 1
        repeated = self.rows - self.seen.count(1) - missing
        assert (missing, repeated) == (0, 0), f"{missing} rows missing, {repeated} repeated"
        assert self.messages == self.rows

    def places_rise_with_id(self) -> bool:
        """Whether the changes' order keys strictly rise with their ids (the insert order)."""
        places = np.frombuffer(self.places, dtype=np.int64)[1:]
        return bool(np.all(np.diff(places) > 0))
