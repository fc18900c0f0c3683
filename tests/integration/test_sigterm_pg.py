"""Stopping ``arrowtail run`` (PostgreSQL -> Parquet) with signals while a workload runs.

- One SIGTERM mid-stream: the run flushes, stores and acknowledges, and exits 0; the manifest holds
  a checkpoint and the slot's ``confirmed_flush_lsn`` is exactly that stored position. A second
  run then finishes with ``--idle-exit``: the replay equals the source and no ``(_pos, _seq)`` is
  stored twice.
- Two signals in a row: the run exits at once (code 130) and the slot has confirmed nothing the
  manifest does not hold; a rerun completes with nothing lost.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arrowtail.sources.base import brief
from tests.support.chaos import (
    Child,
    check_committed_files,
    manifest,
    start_arrowtail,
    wait_for,
)
from tests.support.chaos import checkpoint as stored_checkpoint
from tests.support.pg_run import (
    assert_replay_equals_source,
    create_database,
    env_for,
    run_args,
    slot_state,
    wait_slot_released,
)

DB = "pgops_signals"
PUB = "signals_pub"
SCHEMA = f"""
CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL, note text);
CREATE PUBLICATION {PUB} FOR ALL TABLES;
"""


@pytest.fixture(scope="module")
def database(postgres: Any) -> str:
    create_database(postgres, DB, SCHEMA)
    return DB


class Workload:
    """Rounds of inserts, updates and deletes in their own thread until :meth:`finish` (or
    ``rounds`` are done), so that it runs across the signals."""

    def __init__(self, postgres: Any, rounds: int = 20_000) -> None:
        self._conn = postgres.connect(dbname=DB)
        self._stop = threading.Event()
        self.rounds = rounds
        self.done = 0
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="workload", daemon=True)

    def __enter__(self) -> Workload:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        self._conn.close()

    def finish(self) -> None:
        """Stops after the current round and waits for it."""
        self._stop.set()
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "workload did not finish"
        assert self.failure is None, self.failure

    def _work(self) -> None:
        try:
            for r in range(self.rounds):
                if self._stop.is_set():
                    return
                base = r * 20
                with self._conn.transaction():
                    self._conn.execute(
                        "INSERT INTO items SELECT g, g %% 7, md5(g::text) "
                        "FROM generate_series(%s::int, %s::int) g",
                        (base + 1, base + 20),
                    )
                    self._conn.execute(
                        "UPDATE items SET qty = qty + 1 WHERE id BETWEEN %s AND %s",
                        (base - 30, base - 20),
                    )
                self._conn.execute("DELETE FROM items WHERE id = %s", (base - 10,))
                self.done = r + 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            self.failure = exc


@pytest.fixture
def slot(postgres: Any, database: str, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"sig_{request.node.name.split('[')[0][-20:]}"
    with postgres.connect(dbname=DB) as conn:
        conn.execute("TRUNCATE items")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))
    yield name
    wait_slot_released(postgres, DB, name)
    with postgres.connect(dbname=DB) as conn:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))


def start_and_wait_for_progress(
    args: list[str], env: dict[str, str], tmp: Path, out: Path
) -> Child:
    """Starts a run and waits until its manifest stored a checkpoint."""
    run = start_arrowtail(args, env, tmp, "first")
    wait_for(
        lambda: stored_checkpoint(out) is not None or run.proc.poll() is not None,
        "the first stored checkpoint",
    )
    assert run.proc.poll() is None, run.output()
    return run


def finish_and_check(postgres: Any, slot: str, out: Path, tmp: Path, workload: Workload) -> None:
    """The workload ends, a second run catches up and stops idle: nothing lost or repeated."""
    workload.finish()
    args = run_args(postgres, DB, out, slot, PUB, "--idle-exit", "3")
    final = start_arrowtail(args, env_for(postgres), tmp, "final")
    assert final.wait(timeout=300) == 0, final.output()
    assert "resuming after" in final.output()
    stored = check_committed_files(out)
    assert stored >= workload.done * 20, (stored, workload.done)
    assert_replay_equals_source(postgres, DB, out, ["items"])
    assert postgres.app_password not in final.output()


def test_sigterm_mid_stream_stores_acknowledges_and_restart_completes(
    postgres: Any, database: str, slot: str, tmp_path: Path
) -> None:
    out = tmp_path / "parquet"
    args = run_args(postgres, DB, out, slot, PUB, "--idle-exit", "600")
    with Workload(postgres) as workload:
        run = start_and_wait_for_progress(args, env_for(postgres), tmp_path, out)
        try:
            # Changes are arriving: wait for one more stored checkpoint, then stop.
            first = stored_checkpoint(out)
            wait_for(lambda: stored_checkpoint(out) != first, "a second stored checkpoint")
            rounds_before = workload.done
            run.proc.send_signal(signal.SIGTERM)
            assert run.wait(timeout=60) == 0, run.output()
        finally:
            run.kill()
        assert "stopped: signal SIGTERM" in run.output()
        # The workload really was running across the stop.
        assert workload.done > rounds_before, (workload.done, rounds_before)
        stored = manifest(out)["checkpoint"]
        wait_slot_released(postgres, DB, slot)
        confirmed, _ = slot_state(postgres, DB, slot)
        assert confirmed == int(stored["end_lsn"]), (confirmed, stored)
        assert f"acknowledged position: {brief(stored)}" in run.output()
        finish_and_check(postgres, slot, out, tmp_path, workload)


def test_second_signal_exits_at_once_without_acknowledging_more(
    postgres: Any, database: str, slot: str, tmp_path: Path
) -> None:
    out = tmp_path / "parquet"
    args = run_args(postgres, DB, out, slot, PUB, "--idle-exit", "600")
    with Workload(postgres) as workload:
        run = start_and_wait_for_progress(args, env_for(postgres), tmp_path, out)
        try:
            # Two different signals: two of the same kind sent at once may merge into one.
            started = time.monotonic()
            run.proc.send_signal(signal.SIGTERM)
            run.proc.send_signal(signal.SIGINT)
            code = run.wait(timeout=30)
            elapsed = time.monotonic() - started
        finally:
            run.kill()
        assert code == 130, run.output()
        assert elapsed < 10, elapsed
        assert "acknowledged position" not in run.output()
        wait_slot_released(postgres, DB, slot)
        confirmed, _ = slot_state(postgres, DB, slot)
        assert confirmed <= int(manifest(out)["checkpoint"]["end_lsn"])
        finish_and_check(postgres, slot, out, tmp_path, workload)
