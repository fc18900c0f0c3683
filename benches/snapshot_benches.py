"""Parallel initial snapshots: the whole ``arrowtail run --snapshot initial`` process over a
mixed-type table (2M rows by default) with 1, 2 and 4 snapshot workers, beside one raw
``COPY ... TO STDOUT (FORMAT binary)`` of the same table read by psycopg into nothing, all in one
run, interleaved round by round. Also the start-up of ``arrowtail run``: the whole process over
an empty table (process start, connections, slot, exported snapshot, shutdown). And the same
columns under a random ``uuid`` key (half the rows), whose order is not the heap's, read with the
default workers in heap page ranges and, as a server before PostgreSQL 14 reads it, in key
ranges."""

from __future__ import annotations

import sys
from pathlib import Path

from benches import workloads as wl
from benches.harness import Sample, System, interleave, run_command, run_worker
from benches.pg_benches import IDLE_EXIT, Comparison, _arrowtail_argv, _checked, _fresh

TABLE = f"{wl.SCHEMA}.snap"
EMPTY = f"{wl.SCHEMA}.snap_empty"
UUID_TABLE = f"{wl.SCHEMA}.snap_uuid"
WORKERS = (1, 2, 4)
#: Rows inserted per statement while the table is filled.
FILL_STEP = 500_000


def _create(pg, rows: int) -> None:
    conn = pg.connect()
    ddl = wl.PG_MIXED.replace(f"{wl.SCHEMA}.mixed", TABLE)
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}, {EMPTY}, {UUID_TABLE}")
    conn.execute(ddl)
    insert = wl.PG_MIXED_INSERT.replace(f"{wl.SCHEMA}.mixed", TABLE)
    for low in range(1, rows + 1, FILL_STEP):
        conn.execute(insert, (low, min(rows, low + FILL_STEP - 1)))
    conn.execute(f"CREATE TABLE {EMPTY} (LIKE {TABLE} INCLUDING ALL)")
    conn.execute(
        f"CREATE TABLE {UUID_TABLE} AS SELECT gen_random_uuid() AS key, * FROM {TABLE}"
        f" WHERE id <= {rows // 2}"
    )
    conn.execute(f"ALTER TABLE {UUID_TABLE} ADD PRIMARY KEY (key)")
    conn.execute(f"VACUUM ANALYZE {TABLE}")
    conn.execute(f"VACUUM ANALYZE {UUID_TABLE}")
    for pub, table in (
        ("pub_snap", TABLE),
        ("pub_snap_empty", EMPTY),
        ("pub_snap_uuid", UUID_TABLE),
    ):
        conn.execute(f"DROP PUBLICATION IF EXISTS {pub}")
        wl.pg_create_publication(conn, pub, [table])
    conn.close()


def parallel_snapshot(pg, work: Path, rows: int, rounds: int, log) -> list[Comparison]:
    """``arrowtail run --snapshot initial --snapshot-workers N`` → Parquet for N in 1, 2, 4 and
    raw binary COPY, each also over an empty table (the fixed cost); then the uuid-keyed table
    in page ranges and in key ranges, beside its raw COPY."""
    log(f"parallel snapshot: filling {TABLE} with {rows} rows")
    _create(pg, rows)
    slots: list[str] = []

    def arrowtail(
        workers: int, empty: bool = False, table: str = TABLE, by_key: bool = False
    ) -> Sample:
        name = f"psnap_{workers}_{len(slots)}"
        slots.append(name)
        out = _fresh(work / name)
        pub = {TABLE: "pub_snap", UUID_TABLE: "pub_snap_uuid"}[table]
        start = [sys.executable, "-m", "benches.key_ranges"] if by_key else _arrowtail_argv()
        argv = start + [
            "run", "--source", pg.dsn, "--slot", name,
            "--publication", "pub_snap_empty" if empty else pub,
            "--snapshot", "initial", "--snapshot-workers", str(workers),
            "--to", f"parquet:{out}", "--idle-exit", str(IDLE_EXIT),
        ]  # fmt: skip
        want = rows if table == TABLE else rows // 2
        try:
            if empty:
                return run_command(argv, 0, minus=IDLE_EXIT)
            return _checked(run_command(argv, want, minus=IDLE_EXIT), out, table)
        finally:
            conn = pg.connect()
            wl.pg_drop_slots(conn, [name])
            conn.close()

    def copy(table: str, n: int) -> Sample:
        return run_worker(
            "copy-binary", {"dsn": pg.dsn, "query": f"SELECT * FROM {table}", "rows": n}
        )

    peer = "psycopg COPY binary → /dev/null"
    systems = [
        System(
            f"arrowtail run --snapshot-workers {w} → Parquet",
            lambda w=w: arrowtail(w),
            baseline="arrowtail run, empty table (start-up)",
        )
        for w in WORKERS
    ]
    systems += [
        System(peer, lambda: copy(TABLE, rows), baseline=f"{peer}, empty table"),
        System("arrowtail run, empty table (start-up)", lambda: arrowtail(2, empty=True)),
        System(f"{peer}, empty table", lambda: copy(EMPTY, 0)),
    ]
    cmp = Comparison(
        f"parallel snapshot of a {rows:,}-row mixed-type table (rows/s)",
        "rows/s",
        systems,
        [
            "arrowtail: the whole `arrowtail run --snapshot initial` process (Python start-up, "
            "slot with exported snapshot, reader connections, COPY, decode, Parquet with a "
            "commit at most every 100000 rows or second) minus its --idle-exit "
            f"{IDLE_EXIT} s; psycopg: "
            "one connection and the COPY inside a running process, blocks written to /dev/null.",
            "The empty-table run of arrowtail is its start-up: process start to the first row "
            "it could read, plus shutdown.",
        ],
    )
    log(cmp.title)
    interleave(cmp.systems, rounds, log)

    half = rows // 2
    peer = f"psycopg COPY binary of {UUID_TABLE} → /dev/null"
    keyed = Comparison(
        f"parallel snapshot, random uuid key: {half:,} rows (rows/s)",
        "rows/s",
        [
            System("arrowtail run → Parquet, page ranges", lambda: arrowtail(2, table=UUID_TABLE)),
            System(
                "arrowtail run → Parquet, key ranges (as before PostgreSQL 14)",
                lambda: arrowtail(2, table=UUID_TABLE, by_key=True),
            ),
            System(peer, lambda: copy(UUID_TABLE, half)),
        ],
        [
            "The bench table's columns and first half of its rows under a gen_random_uuid() "
            "primary key, so that key order is not the heap's; default settings (two readers). "
            "Key ranges by `python -m benches.key_ranges`, arrowtail with the planner of a "
            "server before PostgreSQL 14.",
        ],
    )
    log(keyed.title)
    interleave(keyed.systems, rounds, log)
    return [cmp, keyed]
