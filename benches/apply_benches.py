"""Apply rate: a recorded change stream applied to a PostgreSQL and a MariaDB target by arrowtail's
database sinks (batched statements per net action) beside a naive row-by-row apply of the same
changes (one statement per change, consecutive changes of one kind sent with ``executemany``).

The stream is the benchmark's mixed PostgreSQL workload (inserts, every tenth row updated, every
twentieth deleted) captured from a slot and decoded once into an Arrow IPC file. Both systems
apply it in transactions of ``CHUNK`` changes, into a target table emptied before each run (setup
is outside the clock), and each run checks the final row count against the replayed stream.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from benches import workloads as wl
from benches.harness import System, interleave, run_worker
from benches.pg_benches import Comparison

#: Changes per target transaction, for both systems.
CHUNK = 5000
TABLE = f"{wl.SCHEMA}.mixed"
SINK_NAME = "bench-apply"


def record(pg: Any, work: Path, rows: int) -> tuple[Path, int, int]:
    """Runs the mixed workload, captures and decodes it; returns (IPC file, changes, rows left)."""
    from arrowtail import PgOutputDecoder
    from arrowtail.changes import replay, table_info

    conn = pg.connect()
    wl.pg_create_mixed(conn)
    wl.pg_create_publication(conn, "pub_apply", [TABLE])
    wl.pg_create_slot(conn, "cap_apply")
    mixed = wl.pg_run_mixed(conn, rows)
    conn.close()
    cap = wl.pg_capture(
        pg.dsn, "cap_apply", "pub_apply", work / "apply.cap", mixed.transactions,
        proto_version=2, binary=True,
    )  # fmt: skip
    conn = pg.connect()
    wl.pg_drop_slots(conn, ["cap_apply"])
    conn.close()
    dec = PgOutputDecoder()
    dec.feed_capture(cap.path.read_bytes())
    batches = [b for t, _, b in dec.flush() if t == TABLE]
    stream = pa.Table.from_batches(batches)
    path = work / "apply-stream.arrow"
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_file(f, stream.schema) as writer:
        writer.write_table(stream, max_chunksize=CHUNK)
    left = replay(stream, table_info(stream.schema).primary_key).num_rows
    return path, stream.num_rows, left


# -- the worker side (python -m benches.worker apply-...) -----------------------------------------


def _chunks(path: str) -> list[pa.RecordBatch]:
    with pa.OSFile(path, "rb") as f:
        return list(pa.ipc.open_file(f).read_all().to_batches(max_chunksize=CHUNK))


def _connect(a: dict[str, Any]) -> Any:
    if a["engine"] == "postgres":
        import psycopg

        return psycopg.connect(a["dsn"])
    import pymysql

    return pymysql.connect(**a["params"], database=a["database"], charset="utf8mb4")


def _reset(a: dict[str, Any]) -> None:
    """Empties the target table and forgets the sink's stored position."""
    conn = _connect(a)
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM {TABLE}")
        cur.execute("DELETE FROM arrowtail_state WHERE sink_name = %s", (SINK_NAME,))
    conn.commit()
    conn.close()


def _check(a: dict[str, Any]) -> None:
    conn = _connect(a)
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {TABLE}")
        count = cur.fetchone()[0]
    conn.close()
    if count != a["expect"]:
        raise SystemExit(f"apply left {count} rows, the stream's replay has {a['expect']}")


def _sink(a: dict[str, Any]) -> Any:
    from arrowtail.sinks.database.url import MySqlTargetSink, PostgresTargetSink

    if a["engine"] == "postgres":
        return PostgresTargetSink(a["dsn"], sink_name=SINK_NAME, create_tables=True)
    p = a["params"]
    return MySqlTargetSink(
        p["host"], p["port"], p["user"], p["password"], a["database"],
        sink_name=SINK_NAME, create_tables=True,
    )  # fmt: skip


def create_target(a: dict[str, Any]) -> None:
    """Creates the target table from the stream's schema (the sink's ``create_tables``)."""
    first = _chunks(a["input"])[0].slice(0, 1)
    sink = _sink(a)
    sink.open()
    sink.write(TABLE, 1, first)
    sink.commit({"lsn": 0})
    sink.close()


def apply_arrowtail(a: dict[str, Any]) -> Callable[[], int]:
    """arrowtail's database sink: one ``write`` + ``commit`` per chunk."""
    _reset(a)
    chunks = _chunks(a["input"])
    sink = _sink(a)
    sink.open()

    def run() -> int:
        for chunk in chunks:
            sink.write(TABLE, 1, chunk)
            sink.commit({"lsn": chunk.column("_pos")[-1].as_py()})
        sink.close()
        _check(a)
        return sum(c.num_rows for c in chunks)

    return run


def _row_statements(a: dict[str, Any], columns: list[str]) -> dict[str, str]:
    """The peer's statement per kind of change (key ``id``)."""
    q = '"{}"'.format if a["engine"] == "postgres" else "`{}`".format
    names = ", ".join(q(c) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    others = [c for c in columns if c != "id"]
    if a["engine"] == "postgres":
        upsert = "ON CONFLICT (id) DO UPDATE SET " + ", ".join(
            f"{q(c)} = EXCLUDED.{q(c)}" for c in others
        )
    else:
        upsert = "ON DUPLICATE KEY UPDATE " + ", ".join(f"{q(c)} = VALUES({q(c)})" for c in others)
    insert = f"INSERT INTO {TABLE} ({names}) VALUES ({marks}) {upsert}"
    sets = ", ".join(f"{q(c)} = %s" for c in columns)
    return {
        "c": insert,
        "r": insert,
        "u": f"UPDATE {TABLE} SET {sets} WHERE id = %s",
        "d": f"DELETE FROM {TABLE} WHERE id = %s",
    }


def apply_rows(a: dict[str, Any]) -> Callable[[], int]:
    """The naive peer: every change its own statement, in stream order."""
    from arrowtail.changes import META_COLUMNS
    from arrowtail.sinks.database import sqltypes

    _reset(a)
    chunks = _chunks(a["input"])
    columns = [n for n in chunks[0].schema.names if n not in META_COLUMNS]
    statements = _row_statements(a, columns)
    engine = sqltypes.POSTGRES if a["engine"] == "postgres" else sqltypes.MYSQL
    # The target's uuid column takes UUID values (MariaDB's created BINARY(16) takes bytes).
    types = {"uid": "uuid"} if engine == sqltypes.POSTGRES else {}
    conn = _connect(a)

    def run() -> int:
        done = 0
        for chunk in chunks:
            table = pa.Table.from_batches([chunk])
            values = sqltypes.rows_for(table.select(columns), engine, types)
            ops = table.column("_op").to_pylist()
            keys = table.column("id").to_pylist()
            with conn.cursor() as cur:
                start = 0
                while start < len(ops):
                    end = start
                    while end < len(ops) and ops[end] == ops[start]:
                        end += 1
                    op = ops[start]
                    if op == "d":
                        params: list[Any] = [(k,) for k in keys[start:end]]
                    elif op == "u":
                        params = [
                            (*v, k) for v, k in zip(values[start:end], keys[start:end], strict=True)
                        ]
                    else:
                        params = values[start:end]
                    cur.executemany(statements[op], params)
                    start = end
            conn.commit()
            done += chunk.num_rows
        conn.close()
        _check(a)
        return done

    return run


WORKER_KINDS: dict[str, Callable[[dict[str, Any]], Callable[[], int]]] = {
    "apply-arrowtail": apply_arrowtail,
    "apply-rows": apply_rows,
}


# -- the parent side ---------------------------------------------------------------------------


def _compare(target: str, a: dict[str, Any], rounds: int, log: Callable[[str], None]) -> Comparison:
    create_target(a)
    size = Path(a["input"]).stat().st_size
    cmp = Comparison(
        f"apply a change stream → {target} (rows/s)",
        "rows/s",
        [
            System("arrowtail", lambda: run_worker("apply-arrowtail", a), size),
            System("row-by-row executemany", lambda: run_worker("apply-rows", a), size),
        ],
        [
            f"{a['changes']} changes (inserts, updates, deletes) of {TABLE}, applied in "
            f"transactions of {CHUNK}; both runs end with the replayed {a['expect']} rows.",
        ],
    )
    log(cmp.title)
    interleave(cmp.systems, rounds, log)
    return cmp


def apply(work: Path, rows: int, rounds: int, log: Callable[[str], None]) -> list[Comparison]:
    """Records the stream on a private PostgreSQL, applies it there (another database) and to a
    private MariaDB."""
    from tests.servers import MariaDBServer, PostgresServer

    out = []
    pg = PostgresServer()
    try:
        pg.start()
        log(f"PostgreSQL on port {pg.port}: recording a change stream of a {rows}-row workload")
        path, changes, left = record(pg, work, rows)
        conn = pg.connect()
        conn.execute("CREATE DATABASE apply_target")
        conn.close()
        dsn = pg.dsn_for(pg.user, None, "apply_target")
        common = {"input": str(path), "changes": changes, "expect": left}
        out.append(
            _compare("PostgreSQL", {**common, "engine": "postgres", "dsn": dsn}, rounds, log)
        )
    finally:
        pg.cleanup()
    my = MariaDBServer()
    try:
        my.start()
        params = {"host": my.host, "port": my.port, "user": my.user, "password": my.password}
        a = {**common, "engine": "mysql", "params": params, "database": my.database}
        out.append(_compare("MariaDB", a, rounds, log))
    finally:
        my.cleanup()
    return out
