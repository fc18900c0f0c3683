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
from tests.support.pg_run import create_database, env_for
from tests.support.replay import assert_tables_equal, parquet_changes, replay

DB = "kill_pg"
SLOT = "kill_slot"
ROUNDS = soak_rounds(110)

SCHEMA = """
CREATE TABLE accounts (id int PRIMARY KEY, v bigint NOT NULL, s text, ts timestamptz);
CREATE TABLE events (id bigint PRIMARY KEY, kind int, payload text, amount numeric(12,3));
"""


def kill_database(postgres: Any, db: str, publication: str, slot: str) -> Iterator[Any]:
    """Body of the kill loops' module fixture: ``db`` with SCHEMA and ``publication``; yields a
    connection to it and drops ``slot`` (when no run holds it) at the end."""
    # Transactions of a few thousand rows overflow this and are streamed in progress (proto >= 2).
    create_database(postgres, db, SCHEMA, publication=publication, decoding_work_mem="64kB")
    with postgres.connect(dbname=db) as conn:
        yield conn
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s AND NOT active",
            (slot,),
        )


@pytest.fixture(scope="module")
def database(postgres: Any) -> Iterator[Any]:
    yield from kill_database(postgres, DB, "kill_pub", SLOT)


def workload_round(conn: Any, r: int) -> None:
    """About 2000 changes in one transaction plus a few single-row transactions."""
    base = r * 1000
    with conn.transaction():
        conn.execute(
            "INSERT INTO accounts SELECT g, g %% 97, md5(g::text), now() "
            "FROM generate_series(%s::int, %s::int) g",
            (base + 1, base + 1000),
        )
        conn.execute(
            "UPDATE accounts SET v = v + 1, s = s || 'u' WHERE id BETWEEN %s AND %s",
            (base - 1500, base - 1001),
        )
        conn.execute("DELETE FROM accounts WHERE id BETWEEN %s AND %s", (base - 3000, base - 2701))
        conn.execute(
            "INSERT INTO events SELECT g, g %% 5, repeat('p', (g %% 50)::int), g / 7.0 "
            "FROM generate_series(%s::bigint, %s::bigint) g",
            (base + 1, base + 200),
        )
    for i in range(3):
        conn.execute("UPDATE events SET kind = kind + 10 WHERE id = %s", (base + 1 + i,))
    conn.execute("DELETE FROM events WHERE id = %s", (base + 100,))


def source_tables(conn: Any) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    out = {}
    for table in ("accounts", "events"):
        cur = conn.execute(f"SELECT * FROM {table}")
        names = [d.name for d in cur.description]
        out[f"public.{table}"] = {(r[0],): dict(zip(names, r, strict=True)) for r in cur}
    return out


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
