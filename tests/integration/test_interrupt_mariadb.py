"""Interruptions of ``arrowtail run`` from MariaDB while tiny and large transactions stream.

Every round commits single-row transactions (one into ``items`` just before the large one), then
one transaction of tens of thousands of wide rows into ``items``, then more single-row ones. After
each round the run is interrupted at a seeded random moment (tests/support/interrupt_loop.py):
the server's Binlog Dump thread is killed (the run reconnects by itself), or arrowtail gets SIGTERM
(clean stop) or SIGKILL; a stopped run is restarted from the stored checkpoint, which then reads
the rounds written meanwhile as a backlog. At the end the sink must equal the source: no committed
row missing, and, in Parquet, no change stored twice. The sink is Parquet (replayed and compared
with ``SELECT *``) or a PostgreSQL target (compared by ``arrowtail verify``).

Replay a failing schedule with ``ARROWTAIL_SOAK_SEED=<printed seed>``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arrowtail.sinks.database.target import position_order
from arrowtail.sources.mysql import binlog_pos
from arrowtail.sources.mysql.replication import binlog_status
from tests.support.chaos import check_committed_files, checkpoint, start_arrowtail
from tests.support.cli import cli
from tests.support.interrupt_loop import Server, interrupt_loop, payload_as_length
from tests.support.mysql_run import capture_args, capture_env, dump_threads
from tests.support.pg_run import fresh_db
from tests.support.replay import assert_tables_equal, parquet_changes, replay

DB = "intr_my"
TABLES = f"{DB}.items,{DB}.notes"
#: Rows every round's tiny transactions update.
HOT = 5
#: The columns of ``items`` compared, ``payload`` as its length (see ``payload_as_length``).
LEAN_ITEMS = "id, grp, n, amt, char_length(payload) AS payload_len"


@pytest.fixture()
def database(mariadb: Any) -> Iterator[Any]:
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
        cur.execute(
            f"CREATE TABLE {DB}.items (id bigint PRIMARY KEY, grp int NOT NULL, "
            "n bigint NOT NULL, amt decimal(12,3), payload varchar(2000))"
        )
        cur.execute(f"CREATE TABLE {DB}.notes (id bigint PRIMARY KEY, note varchar(64), n int)")
        cur.execute(
            f"INSERT INTO {DB}.items SELECT seq, 0, 0, NULL, 'hot' FROM {DB}.seq_1_to_{HOT}"
        )
    mariadb.grant_capture(DB)
    yield conn
    conn.close()


class Workload:
    """The rounds: tiny transactions around one large one, sizes from ``sizes``."""

    def __init__(self, conn: Any, sizes: Callable[[int], int]) -> None:
        self.conn = conn
        self.sizes = sizes

    def position(self) -> int:
        with self.conn.cursor() as cur:
            row = binlog_status(cur)
        assert row is not None
        return binlog_pos(str(row[0]), int(row[1]))

    def round(self, i: int) -> tuple[int, int]:
        r = i + 1
        base = r * 1_000_000
        with self.conn.cursor() as cur:
            cur.execute(f"INSERT INTO {DB}.notes VALUES (%s, %s, 0)", (r, f"round {r}"))
            cur.execute(f"UPDATE {DB}.items SET n = n + 1 WHERE id = %s", (r % HOT + 1,))
            # The committed single row of the large transaction's table, just before it.
            cur.execute(
                f"INSERT INTO {DB}.items VALUES (%s, -1, %s, 1.5, 'tiny before')", (base, r)
            )
            after_small = self.position()
            cur.execute("BEGIN")
            cur.execute(
                f"INSERT INTO {DB}.items SELECT %s + seq, seq %% 7, seq, seq / 8, "
                "repeat(char(65 + seq %% 26), 1500 + seq %% 300) "
                f"FROM seq_1_to_{self.sizes(i)}",
                (base,),
            )
            cur.execute(f"UPDATE {DB}.items SET n = n + 100 WHERE id = %s", (r % HOT + 1,))
            cur.execute("COMMIT")
            cur.execute(f"UPDATE {DB}.notes SET n = n + 1 WHERE id = %s", (r,))
            cur.execute(
                f"INSERT INTO {DB}.items VALUES (%s, -2, %s, 2.5, 'tiny after')",
                (base + 999_999, r),
            )
            cur.execute(f"DELETE FROM {DB}.items WHERE id = %s", (base + 7,))
        # Commit positions are end offsets: anything stored past the small one is the large one.
        return after_small, after_small + 1


def source_tables(conn: Any) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """``SELECT *``, with ``items.payload`` as its length (see ``payload_as_length``)."""
    out = {}
    for table, columns in (("items", LEAN_ITEMS), ("notes", "*")):
        with conn.cursor() as cur:
            cur.execute(f"SELECT {columns} FROM {DB}.{table}")
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        out[f"{DB}.{table}"] = {(r[0],): dict(zip(names, r, strict=True)) for r in rows}
    return out


def mariadb_server(mariadb: Any) -> Server:
    def cut(thread: int) -> None:
        conn = mariadb.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"KILL {int(thread)}")
        finally:
            conn.close()

    return Server(lambda: dump_threads(mariadb), cut)


def sizes_from(seed: int) -> Callable[[int], int]:
    rng = random.Random(seed)
    # Rows of about 1.6 kB: the large transactions (40 to 50 MB) are longer than the 32 MiB a
    # MySQL source reads per poll, so a poll always ends inside one.
    return lambda i: rng.randint(25_000, 31_000)


@pytest.mark.slow
def test_interruptions_into_parquet_lose_and_repeat_nothing(
    mariadb: Any, database: Any, tmp_path: Path
) -> None:
    out = tmp_path / "parquet"
    env = capture_env(mariadb)

    def args(*extra: str) -> list[str]:
        return capture_args(mariadb, f"parquet:{out}", TABLES, "--server-id", "7421", *extra)

    # The snapshot gives the manifest its first position; every later run resumes from it.
    first = start_arrowtail(args("--snapshot", "initial", "--idle-exit", "2"), env, tmp_path, "0")
    assert first.wait(timeout=240) == 0, first.output()

    def stored() -> int | None:
        position = checkpoint(out)
        return None if position is None else int(position["pos"])

    assert stored() is not None, "the snapshot stored no position"
    work = Workload(mariadb.connect(database=DB), sizes_from(7))
    try:
        tally = interrupt_loop(
            work.round,
            lambda i: start_arrowtail(args("--idle-exit", "600"), env, tmp_path, f"r{i}"),
            mariadb_server(mariadb),
            stored,
            20261202,
            min_before_large=3,
        )
    finally:
        work.conn.close()
    final = start_arrowtail(args("--idle-exit", "3"), env, tmp_path, "final")
    assert final.wait(timeout=300) == 0, final.output()
    assert mariadb.capture_password not in final.output()

    check_committed_files(out)
    images = replay(payload_as_length(parquet_changes(out)))
    for table, rows in source_tables(database).items():
        got = images.get(table, {})
        for row in got.values():
            if isinstance(row.get("amt"), Decimal):
                row["amt"] = Decimal(row["amt"])
        assert_tables_equal(got, rows, table)
    assert tally.before_large >= 3 and tally.advanced >= 3, tally


@pytest.mark.slow
def test_interruptions_into_postgres_target_lose_nothing(
    mariadb: Any, postgres: Any, database: Any, tmp_path: Path
) -> None:
    sink = "intr_my"
    target = fresh_db(postgres, "intr_my_tgt")
    target_url = postgres.dsn_for(postgres.user, None, "intr_my_tgt")
    env = capture_env(mariadb)
    to = f"{target_url}?sink_name={sink}"

    def args(*extra: str) -> list[str]:
        return capture_args(mariadb, to, TABLES, "--server-id", "7422", "--create-tables", *extra)

    first = start_arrowtail(args("--snapshot", "initial", "--idle-exit", "2"), env, tmp_path, "0")
    assert first.wait(timeout=240) == 0, first.output()
    seen: list[int] = []

    def stored() -> int | None:
        row = target.execute(
            "SELECT position FROM arrowtail_state WHERE sink_name = %s", (sink,)
        ).fetchone()
        if row is None:
            return None
        position = row[0] if isinstance(row[0], dict) else json.loads(row[0])
        seen.append(position_order(position))
        return seen[-1]

    assert stored() is not None, "the snapshot stored no position"
    work = Workload(mariadb.connect(database=DB), sizes_from(8))
    try:
        tally = interrupt_loop(
            work.round,
            lambda i: start_arrowtail(args("--idle-exit", "600"), env, tmp_path, f"r{i}"),
            mariadb_server(mariadb),
            stored,
            20261203,
            interruptions=9,
            min_before_large=2,
        )
    finally:
        work.conn.close()
    final = start_arrowtail(args("--idle-exit", "3"), env, tmp_path, "final")
    assert final.wait(timeout=300) == 0, final.output()
    stored()
    assert seen == sorted(seen), f"the stored position went back: {seen}"

    source = ["--source", mariadb.capture_url, "--password-env", "RUN_MY_PASSWORD"]
    check = cli("verify", *source, "--against", target_url, "--tables", TABLES, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{DB}.items: equal" in check.stdout and f"{DB}.notes: equal" in check.stdout
    counts = target.execute(f'SELECT count(*) FROM "{DB}".items').fetchone()
    with database.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {DB}.items")
        assert counts == cur.fetchone()
    assert tally.before_large >= 2 and tally.advanced >= 2, tally
    target.close()
