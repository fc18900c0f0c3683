"""Interruptions of ``arrowtail run`` from PostgreSQL while tiny and large transactions stream:
the treatment of tests/integration/test_interrupt_mariadb.py with the walsender.

Every round commits single-row transactions (one into ``items`` just before the large one), then
one transaction of tens of thousands of rows into ``items`` (streamed in progress:
``logical_decoding_work_mem`` is 64kB), then more single-row ones. After each round the run is
interrupted at a seeded random moment (tests/support/interrupt_loop.py): the slot's walsender
is terminated with ``pg_terminate_backend`` (the run reconnects by itself), or arrowtail gets
SIGTERM (clean stop) or SIGKILL; a stopped run restarts from the Parquet manifest's checkpoint.
At the end the replay of the Parquet files must equal ``SELECT *``, no change may be stored twice,
and the slot must not have confirmed more than the manifest holds.

Replay a failing schedule with ``ARROWTAIL_SOAK_SEED=<printed seed>``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import pg_run
from tests.support.chaos import check_committed_files, checkpoint, manifest, start_arrowtail
from tests.support.interrupt_loop import Server, interrupt_loop, payload_as_length
from tests.support.pg_run import create_database, env_for, slot_state
from tests.support.replay import assert_tables_equal, parquet_changes, replay

DB = "intr_pg"
SLOT = "intr_slot"
PUB = "intr_pub"
HOT = 5

SCHEMA = """
CREATE TABLE items (id bigint PRIMARY KEY, grp int NOT NULL, n bigint NOT NULL,
                    amt numeric(12,3), payload text);
CREATE TABLE notes (id bigint PRIMARY KEY, note text, n int);
"""


@pytest.fixture()
def database(postgres: Any) -> Iterator[Any]:
    # Transactions of more than a few hundred rows overflow this and are streamed in progress.
    create_database(postgres, DB, SCHEMA, publication=PUB, decoding_work_mem="64kB")
    with postgres.connect(dbname=DB) as conn:
        # The slot exists before the first change, so nothing needs a snapshot.
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (SLOT,))
        yield conn
        pg_run.drop_slot(postgres, DB, SLOT)


class Workload:
    """The rounds: tiny transactions around one large one of ``sizes(i)`` rows."""

    def __init__(self, conn: Any, seed: int) -> None:
        self.conn = conn
        self.rng = random.Random(seed)

    def lsn(self) -> int:
        row = self.conn.execute("SELECT pg_current_wal_insert_lsn() - '0/0'").fetchone()
        return int(row[0])

    def round(self, i: int) -> tuple[int, int]:
        conn, r = self.conn, i + 1
        base = r * 1_000_000
        if r == 1:
            conn.execute(
                "INSERT INTO items SELECT g, 0, 0, NULL, 'hot' FROM generate_series(1, %s) g",
                (HOT,),
            )
        conn.execute("INSERT INTO notes VALUES (%s, %s, 0)", (r, f"round {r}"))
        conn.execute("UPDATE items SET n = n + 1 WHERE id = %s", (r % HOT + 1,))
        # The committed single row of the large transaction's table, just before it; its commit
        # record, and so its position, comes after the LSN read inside it.
        with conn.transaction():
            conn.execute("INSERT INTO items VALUES (%s, -1, %s, 1.5, 'tiny before')", (base, r))
            small = self.lsn()
        with conn.transaction():
            conn.execute(
                "INSERT INTO items SELECT %s + g, g %% 7, g, g / 8.0, "
                "repeat(chr(65 + (g %% 26)::int), (100 + g %% 200)::int) "
                "FROM generate_series(1, %s) g",
                (base, self.rng.randint(50_000, 70_000)),
            )
            conn.execute("UPDATE items SET n = n + 100 WHERE id = %s", (r % HOT + 1,))
            large = self.lsn()
        conn.execute("UPDATE notes SET n = n + 1 WHERE id = %s", (r,))
        conn.execute(
            "INSERT INTO items VALUES (%s, -2, %s, 2.5, 'tiny after')", (base + 999_999, r)
        )
        conn.execute("DELETE FROM items WHERE id = %s", (base + 7,))
        return small, large


def walsender(postgres: Any) -> Server:
    def connections() -> set[int]:
        with postgres.connect(dbname=DB) as conn:
            row = conn.execute(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (SLOT,)
            ).fetchone()
        return {int(row[0])} if row is not None and row[0] is not None else set()

    def cut(pid: int) -> None:
        with postgres.connect(dbname=DB) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))

    return Server(connections, cut)


def source_tables(conn: Any) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """``SELECT *``, with ``items.payload`` as its length (see ``payload_as_length``)."""
    out = {}
    for table, columns in (
        ("items", "id, grp, n, amt, char_length(payload) AS payload_len"),
        ("notes", "*"),
    ):
        cur = conn.execute(f"SELECT {columns} FROM {table}")
        names = [d.name for d in cur.description]
        out[f"public.{table}"] = {(r[0],): dict(zip(names, r, strict=True)) for r in cur}
    return out


@pytest.mark.slow
def test_interruptions_lose_and_repeat_nothing(
    postgres: Any, database: Any, tmp_path: Path
) -> None:
    out = tmp_path / "parquet"
    env = env_for(postgres)

    def args(*extra: str) -> list[str]:
        return pg_run.run_args(postgres, DB, out, SLOT, PUB, *extra)

    def stored() -> int | None:
        """The commit LSN of the newest stored change. (Not the checkpoint: an idle slot's
        checkpoint is a keepalive's WAL end, which may lie inside a transaction not yet read.)"""
        try:
            files = manifest(out)["files"]
        except FileNotFoundError:
            return None
        return max((int(f["max_pos"]) for f in files), default=None)

    work = Workload(postgres.connect(dbname=DB, autocommit=True), 11)
    try:
        tally = interrupt_loop(
            work.round,
            lambda i: start_arrowtail(args("--idle-exit", "600"), env, tmp_path, f"r{i}"),
            walsender(postgres),
            stored,
            20261204,
            interruptions=12,
            min_before_large=2,
        )
    finally:
        work.conn.close()
    final = start_arrowtail(args("--idle-exit", "3"), env, tmp_path, "final")
    assert final.wait(timeout=300) == 0, final.output()
    assert postgres.app_password not in final.output()

    check_committed_files(out)
    images = replay(payload_as_length(parquet_changes(out)))
    for table, rows in source_tables(database).items():
        assert_tables_equal(images.get(table, {}), rows, table)
    confirmed, _ = slot_state(postgres, DB, SLOT)
    assert confirmed <= int(checkpoint(out)["end_lsn"])
    # PostgreSQL streams a large transaction fast: fewer interruptions land inside one.
    assert tally.before_large >= 2 and tally.advanced >= 3, tally
