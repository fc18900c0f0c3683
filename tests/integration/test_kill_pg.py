"""kill -9 loop, PostgreSQL -> Parquet: a workload of more than 200k changes (inserts, updates,
deletes in many transactions, some streamed in progress because ``logical_decoding_work_mem`` is
small) runs while ``arrowtail run`` is started and SIGKILLed at seeded random moments, again and
again; a last clean ``--idle-exit`` run then catches up. The replay of the Parquet directory must
equal ``SELECT *`` exactly, the files must be exactly the manifest's, and no ``(_pos, _seq)`` may
be stored twice.

Soak (longer, not in CI)::

    ARROWTAIL_SOAK_KILLS=200 ARROWTAIL_SOAK_ROUNDS=1000 ARROWTAIL_SOAK_SEED=7 \\
        pytest tests/integration/test_kill_pg.py -x

Every kill delay comes from the seeded RNG, so a failing seed can be rerun.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import pg_run
from tests.support.chaos import (
    check_committed_files,
    checkpoint,
    soak_rounds,
    start_arrowtail,
    workload_kill_loop,
)
from tests.support.kill_pg import kill_database, source_tables, workload_round
from tests.support.pg_run import env_for
from tests.support.replay import assert_tables_equal, parquet_changes, replay

DB = "kill_pg"
SLOT = "kill_slot"
ROUNDS = soak_rounds(110)


@pytest.fixture(scope="module")
def database(postgres: Any) -> Iterator[Any]:
    yield from kill_database(postgres, DB, "kill_pub", SLOT)


def run_args(postgres: Any, out: Path, *extra: str) -> list[str]:
    return pg_run.run_args(postgres, DB, out, SLOT, "kill_pub", *extra)


def test_sigkill_loop_loses_and_repeats_nothing(
    postgres: Any, database: Any, tmp_path: Path
) -> None:
    out = tmp_path / "parquet"
    env = env_for(postgres)
    # The slot exists before the first change, so nothing needs a snapshot.
    database.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (SLOT,))

    work_conn = postgres.connect(dbname=DB)

    def start(i: int) -> Any:
        args = run_args(postgres, out, "--idle-exit", "600")
        return start_arrowtail(args, env, tmp_path, f"k{i}")

    try:
        workload_kill_loop(
            lambda r: workload_round(work_conn, r), ROUNDS, start, lambda: checkpoint(out), 20261124
        )
    finally:
        work_conn.close()

    final = start_arrowtail(run_args(postgres, out, "--idle-exit", "3"), env, tmp_path, "final")
    assert final.wait(timeout=300) == 0, final.output()
    assert postgres.app_password not in final.output()

    stored = check_committed_files(out)
    want = source_tables(database)
    images = replay(parquet_changes(out))
    for table, rows in want.items():
        assert_tables_equal(images.get(table, {}), rows, table)
    # About 2000 changes a round: more than 200k changes in the CI configuration.
    assert stored >= 1800 * ROUNDS, stored
    row = database.execute(
        "SELECT confirmed_flush_lsn IS NOT NULL FROM pg_replication_slots WHERE slot_name = %s",
        (SLOT,),
    ).fetchone()
    assert row == (True,)
