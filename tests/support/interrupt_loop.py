"""Driver of the interruption tests (test_interrupt_mariadb.py, test_interrupt_pg.py): a workload
of tiny and large transactions runs in rounds while one ``arrowtail run`` at a time streams it,
and after each round the run is interrupted at a seeded random moment, in one of three ways:

- ``connection``: the server ends the replication connection (MariaDB ``KILL`` of the Binlog Dump
  thread, PostgreSQL ``pg_terminate_backend`` of the walsender); the run must reconnect by itself
  and keeps streaming into the next round;
- ``sigterm``: a clean stop, which must exit 0; the next round is written while no run is up;
- ``sigkill``: the process dies at once; the next round too is written while no run is up.

A run started after a stop resumes from the stored checkpoint with the rounds written meanwhile
as its backlog. The moment of an interruption is either a random delay, or the moment the stored
checkpoint reaches the small transaction committed just before the round's large one: the large
one is then still being read, which is where a decoder that held back the small one's rows while
handing out its position would lose them (the position stored, the rows not).

The schedule (kind and delay of every interruption) comes from ``ARROWTAIL_SOAK_SEED`` or the
test's seed and is printed, so a failing run can be replayed; ``ARROWTAIL_SOAK_KILLS`` overrides
the number of interruptions.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from tests.support.chaos import Child, soak_kills, soak_rng, wait_for

TableBatch = tuple[str, int, pa.RecordBatch]
KINDS = ("connection", "sigterm", "sigkill")
#: Logged by both sources once a lost replication connection is back.
RECONNECTED = "reconnected"


@dataclass
class Tally:
    """What the interruptions hit."""

    kinds: Counter[str] = field(default_factory=Counter)
    #: Interruptions after which the round's large transaction was not yet stored.
    before_large: int = 0
    #: Interruptions timed by the stored checkpoint reaching the small transaction.
    after_small: int = 0
    #: Interruptions after which the stored checkpoint had moved since the round began.
    advanced: int = 0
    schedule: list[tuple[str, float | None]] = field(default_factory=list)


@dataclass
class Server:
    """The source server's side of the replication connection."""

    #: Ids of the server's replication connections (dump threads, walsender pids).
    connections: Callable[[], set[int]]
    #: Ends one of them from the server side.
    cut: Callable[[int], None]


def interrupt_loop(
    workload_round: Callable[[int], tuple[int, int]],
    start_run: Callable[[int], Child],
    server: Server,
    stored: Callable[[], int | None],
    seed: int,
    *,
    interruptions: int = 15,
    low: float = 0.3,
    high: float = 3.0,
    min_before_large: int = 0,
    extra: int = 6,
) -> Tally:
    """Runs ``interruptions`` rounds. ``workload_round(i)`` writes round ``i`` and returns two
    log positions: ``stored()`` at or past the first means the small transaction just before the
    large one is stored, at or past the second that the large one is. ``start_run(i)`` starts
    ``arrowtail run`` from the stored checkpoint; ``stored()`` orders what the sink has stored
    (None before anything). Half the interruptions (by the RNG) come as soon as ``stored()``
    reaches the first position, the others after a random delay in ``[low, high)`` seconds counted
    from the moment the run streams (or, for a run that survived a ``connection``
    interruption, from the round's last commit). When fewer than ``min_before_large``
    interruptions found the large transaction not yet stored (how many do depends on the
    machine's speed), up to ``extra`` more rounds follow, each interrupting as soon as its
    workload is written (a run fast enough stores a small transaction and the large one after it
    in one commit, so waiting for the small one can find the large one stored every time), so
    the case is exercised on slow and fast machines alike. Leaves no run behind."""
    count = soak_kills(interruptions)
    rng = soak_rng(seed)
    kinds = [KINDS[i % len(KINDS)] for i in range(count)]
    rng.shuffle(kinds)
    print(f"interruption seed {seed} (ARROWTAIL_SOAK_SEED overrides), schedule {kinds}")
    tally = Tally()
    started = time.monotonic()
    stale = server.connections()
    run: Child | None = None
    try:
        i = 0
        while i < count or (tally.before_large < min_before_large and i < count + extra):
            kind = kinds[i] if i < count else KINDS[i % len(KINDS)]
            before = stored()
            small, large = workload_round(i)
            if run is None:
                run = start_run(i)
                _wait_streaming(run, server, stale, f"run {i}")
            delay: float | None = rng.uniform(low, high) if rng.random() < 0.5 else None
            if i >= count:
                delay = 0.0  # an extra round: interrupt while the large one is still on its way
            tally.schedule.append((kind, delay and round(delay, 3)))
            moment = "after the small commit" if delay is None else f"after {delay:.3f}s"
            print(f"round {i}: {kind} {moment} ({time.monotonic() - started:.1f}s)")
            _wait_moment(run, delay, stored, small, i)
            tally.after_small += delay is None
            run = _interrupt(run, kind, server, stale, i)
            if run is None:
                # A killed run's server side may linger: never take it for the next run's.
                stale |= server.connections()
            after = stored()
            tally.kinds[kind] += 1
            if after is None or after < large:
                tally.before_large += 1
            state = "stopped" if run is None else "reconnected"
            print(f"  {state}; stored: {_what_stored(after, small, large)}")
            if after != before:
                tally.advanced += 1
            i += 1
        if run is not None:
            run.proc.send_signal(signal.SIGTERM)
            assert run.wait(timeout=120) == 0, run.output()
            run = None
    finally:
        if run is not None:
            run.kill()
    print(f"{tally} in {time.monotonic() - started:.1f}s")
    return tally


def _what_stored(after: int | None, small: int, large: int) -> str:
    if after is None:
        return "nothing"
    if after >= large:
        return "the large transaction"
    return "the small transaction" if after >= small else "less than the small transaction"


def _wait_moment(
    run: Child, delay: float | None, stored: Callable[[], int | None], target: int, i: int
) -> None:
    """Waits ``delay`` seconds, or (None) until ``stored()`` reaches ``target``; the run must
    stay up."""
    if delay is None:
        wait_for(
            lambda: run.proc.poll() is not None or (stored() or -1) >= target,
            f"round {i}: the sink to store the small transaction",
            timeout=180,
        )
        code = run.proc.poll()
    else:
        try:
            code = run.proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            code = None
    if code is not None:
        raise AssertionError(f"run {i} ended by itself ({code}):\n{run.output()}")


def _wait_streaming(run: Child, server: Server, stale: set[int], what: str) -> None:
    """Waits until ``run`` holds a replication connection none of the earlier runs held."""
    wait_for(
        lambda: run.proc.poll() is not None or bool(server.connections() - stale),
        f"{what} to stream",
        timeout=120,
    )
    assert run.proc.poll() is None, f"{what} ended early:\n{run.output()}"


def _interrupt(run: Child, kind: str, server: Server, stale: set[int], i: int) -> Child | None:
    """Interrupts ``run``; returns it if it is meant to go on (``connection``), else None."""
    if kind == "sigkill":
        run.kill()
        return None
    if kind == "sigterm":
        run.proc.send_signal(signal.SIGTERM)
        code = run.wait(timeout=120)
        assert code == 0, f"round {i}: SIGTERM ended the run with {code}:\n{run.output()}"
        return None
    reconnects = run.output().count(RECONNECTED)
    # The run's own connection: after an earlier cut it is the one it reconnected with.
    wait_for(lambda: bool(server.connections() - stale), f"round {i}: the run's connection")
    for conn_id in server.connections() - stale:
        server.cut(conn_id)
        stale.add(conn_id)
    wait_for(
        lambda: run.proc.poll() is not None or run.output().count(RECONNECTED) > reconnects,
        f"round {i}: the run to reconnect",
        timeout=120,
    )
    assert run.proc.poll() is None, f"round {i}: the run ended after the cut:\n{run.output()}"
    return run


def payload_as_length(batches: list[TableBatch]) -> list[TableBatch]:
    """The change batches with a ``payload`` column replaced by ``payload_len``, its length, and
    without ``_before`` (the interruption workloads never change a key): replaying hundreds of
    thousands of kilobyte-long strings would hold them all in memory, while what these tests
    check is that every row is there once, with its values."""
    out = []
    for table, version, batch in batches:
        if "payload" in batch.schema.names:
            keep = [n for n in batch.schema.names if n not in ("payload", "_before")]
            batch = pa.RecordBatch.from_arrays(
                [batch.column(n) for n in keep] + [pc.utf8_length(batch.column("payload"))],
                names=[*keep, "payload_len"],
                metadata=batch.schema.metadata,
            )
        out.append((table, version, batch))
    return out
