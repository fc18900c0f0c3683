"""Parallel initial snapshots: the whole ``arrowtail run --snapshot initial`` process over a
mixed-type table (2M rows by default) with 1, 2 and 4 snapshot workers, beside one raw
``COPY ... TO STDOUT (FORMAT binary)`` of the same table read by psycopg into nothing, all in one
run, interleaved round by round. Also the start-up of ``arrowtail run``: the whole process over
an empty table (process start, connections, slot, exported snapshot, shutdown)."""

from __future__ import annotations

from pathlib import Path

from benches import workloads as wl
from benches.harness import Sample, System, interleave, run_command, run_worker
from benches.pg_benches import IDLE_EXIT, Comparison, _arrowtail_argv, _checked, _fresh

TABLE = f"{wl.SCHEMA}.snap"
EMPTY = f"{wl.SCHEMA}.snap_empty"
WORKERS = (1, 2, 4)
#: Rows inserted per statement while the table is filled.
FILL_STEP = 500_000


def _create(pg, rows: int) -> None:
    conn = pg.connect()
    ddl = wl.PG_MIXED.replace(f"{wl.SCHEMA}.mixed", TABLE)
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}, {EMPTY}")
    conn.execute(ddl)
    insert = wl.PG_MIXED_INSERT.replace(f"{wl.SCHEMA}.mixed", TABLE)
    for low in range(1, rows + 1, FILL_STEP):
        conn.execute(insert, (low, min(rows, low + FILL_STEP - 1)))
    conn.execute(f"CREATE TABLE {EMPTY} (LIKE {TABLE} INCLUDING ALL)")
    conn.execute(f"VACUUM ANALYZE {TABLE}")
    for pub, table in (("pub_snap", TABLE), ("pub_snap_empty", EMPTY)):
        conn.execute(f"DROP PUBLICATION IF EXISTS {pub}")
        wl.pg_create_publication(conn, pub, [table])
    conn.close()


def parallel_snapshot(pg, work: Path, rows: int, rounds: int, log) -> Comparison:
    """``arrowtail run --snapshot initial --snapshot-workers N`` → Parquet for N in 1, 2, 4 and
    raw binary COPY, each also over an empty table (the fixed cost)."""
    log(f"parallel snapshot: filling {TABLE} with {rows} rows")
    _create(pg, rows)
    slots: list[str] = []

    def arrowtail(workers: int, empty: bool = False) -> Sample:
        name = f"psnap_{workers}_{len(slots)}"
        slots.append(name)
        out = _fresh(work / name)
        argv = _arrowtail_argv() + [
            "run", "--source", pg.dsn, "--slot", name,
            "--publication", "pub_snap_empty" if empty else "pub_snap",
            "--snapshot", "initial", "--snapshot-workers", str(workers),
            "--to", f"parquet:{out}", "--idle-exit", str(IDLE_EXIT),
        ]  # fmt: skip
        try:
            if empty:
                return run_command(argv, 0, minus=IDLE_EXIT)
            return _checked(run_command(argv, rows, minus=IDLE_EXIT), out, TABLE)
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
    return cmp
