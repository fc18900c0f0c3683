"""Initial snapshots of PostgreSQL tables, consistent with a replication slot.

The slot is created with an exported snapshot; a second connection adopts it
(``SET TRANSACTION SNAPSHOT``) and reads every published table with
``COPY (SELECT ...) TO STDOUT (FORMAT binary)``, which the Rust COPY decoder turns into ``_op = r``
batches sharing the stream's type codecs. Rows carry the slot's consistent point as ``_pos``, so
every streamed change sorts after them. Columns of types the binary codecs do not know are cast to
text in the query, as the stream sends them.

With ``wire="native"`` the COPY runs on a connection of arrowtail's own wire client that adopts
the same snapshot, and raw socket blocks go to the decoder (``CopyDecoder.feed_wire``); with
``wire="libpq"`` psycopg's ``copy()`` reads it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import psycopg
from psycopg import sql

from arrowtail import _core
from arrowtail.progress import TableProgress
from arrowtail.sources import pgproto
from arrowtail.sources.base import TableBatch
from arrowtail.sources.pg_admin import BINARY_SAFE_OIDS

log = logging.getLogger("arrowtail.postgres.snapshot")

#: Batches are handed on after about this many bytes of COPY data, to keep memory bounded.
CHUNK_BYTES = 16 << 20


def table_columns(
    conn: psycopg.Connection, schema: str, table: str
) -> tuple[list[tuple[str, int, int, bool]], list[str]]:
    """``[(name, type oid, typmod, cast_to_text)]`` in column order, and the primary key."""
    rel = sql.Identifier(schema, table).as_string(conn)
    cols = conn.execute(
        """
        SELECT a.attname,
               CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
               CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
               t.typtype, et.typtype
        FROM pg_attribute a
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
        WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attgenerated = ''
        ORDER BY a.attnum
        """,
        (rel,),
    ).fetchall()
    pk = [
        r[0]
        for r in conn.execute(
            """
            SELECT a.attname FROM pg_index i
            JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY k.n
            """,
            (rel,),
        ).fetchall()
    ]
    out = []
    for name, oid, typmod, typtype, elem_typtype in cols:
        known = oid in BINARY_SAFE_OIDS or typtype == "e" or elem_typtype == "e"
        # Enums send their label in binary; unknown types are read as text like the stream does.
        out.append((name, int(oid) if known else 25, int(typmod) if known else -1, not known))
    return out, pk


def copy_batches(
    conn: psycopg.Connection | pgproto.PgConnection,
    query: str,
    decoder: _core.CopyDecoder,
    progress: TableProgress,
) -> Iterator[TableBatch]:
    """Runs one ``COPY ... TO STDOUT (FORMAT binary)`` on ``conn`` (either wire) and yields the
    decoded batches about every :data:`CHUNK_BYTES` of input, advancing ``progress``."""
    pending = 0
    if isinstance(conn, pgproto.PgConnection):
        summary = decoder.feed_wire(conn.start_copy(query))
        while True:
            if summary.messages:
                conn.finish_exchange(summary.messages)
                if summary.done:
                    conn.give_back(summary.rest)
                    break
            n = conn.recv(None)
            summary = decoder.feed_wire(conn.buffer, n)
            pending += n
            if pending >= CHUNK_BYTES:
                pending = 0
                progress.advance(decoder.rows - progress.rows)
                yield from decoder.flush()
    else:
        with conn.cursor() as cur, cur.copy(query) as copy:
            for data in copy:
                decoder.feed(bytes(data))
                pending += len(data)
                if pending >= CHUNK_BYTES:
                    pending = 0
                    progress.advance(decoder.rows - progress.rows)
                    yield from decoder.flush()
    decoder.finish()
    progress.advance(decoder.rows - progress.rows)
    yield from decoder.flush()


def snapshot_table(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    position: int,
    snapshot_ts_us: int,
    copy_conn: pgproto.PgConnection | None = None,
) -> Iterator[TableBatch]:
    """Reads one table inside the caller's snapshot transaction, yielding batches as it goes;
    the COPY runs on ``copy_conn`` when given (in the same snapshot), else on ``conn``."""
    columns, pk = table_columns(conn, schema, table)
    select_list = sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier(name)) if cast else sql.Identifier(name)
        for name, _oid, _typmod, cast in columns
    )
    order = sql.SQL(", ").join(sql.Identifier(c) for c in pk) if pk else sql.SQL("ctid")
    query = sql.SQL("COPY (SELECT {} FROM {} ORDER BY {}) TO STDOUT (FORMAT binary)").format(
        select_list, sql.Identifier(schema, table), order
    )
    decoder = _core.CopyDecoder(
        f"{schema}.{table}",
        [(name, oid, typmod) for name, oid, typmod, _cast in columns],
        pk,
        position=position,
        snapshot_ts_us=snapshot_ts_us,
    )
    estimate = conn.execute(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
        (sql.Identifier(schema, table).as_string(conn),),
    ).fetchone()
    progress = TableProgress(f"{schema}.{table}", int(estimate[0]) if estimate else None)
    with progress:
        yield from copy_batches(copy_conn or conn, query.as_string(conn), decoder, progress)
    log.info(
        "snapshot of %s.%s: %d rows in %.1fs (%.0f rows/s)",
        schema,
        table,
        decoder.rows,
        progress.seconds,
        progress.rate,
    )


def snapshot(
    dsn: str,
    snapshot_name: str,
    tables: list[tuple[str, str]],
    position: int,
    *,
    wire: str = "libpq",
) -> Iterator[TableBatch]:
    """Reads ``tables`` as of the exported snapshot ``snapshot_name``; ``wire="native"`` reads
    the COPY data over arrowtail's own client."""
    snapshot_ts_us = time.time_ns() // 1000
    adopt = sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_name))
    with psycopg.connect(dsn, autocommit=False) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute(adopt)
        copy_conn = None
        if wire == "native":
            copy_conn = pgproto.connect(dsn)
            copy_conn.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            copy_conn.query(adopt.as_string(conn))
        try:
            for schema, table in tables:
                yield from snapshot_table(
                    conn, schema, table, position, snapshot_ts_us, copy_conn=copy_conn
                )
        finally:
            if copy_conn is not None:
                copy_conn.close()
        conn.rollback()
