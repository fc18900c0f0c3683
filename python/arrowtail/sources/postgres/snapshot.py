"""Reading PostgreSQL tables with binary COPY: what initial, incremental and TOAST reads share.

``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` output goes to the Rust COPY decoder, which turns
it into ``_op = r`` batches sharing the stream's type codecs; columns of types the binary codecs
do not know are cast to text in the query, as the stream sends them. A table with a primary key is
read in keyset ranges (``WHERE (key) > (after) AND (key) <= (upto) ORDER BY key``, the bound found
first with one index scan, :func:`chunk_bound`), so no single statement runs for the whole table; a
table without one is read whole or by heap page ranges (``ctid``, :func:`page_range`).

With a native-wire connection (``client.PgConnection``) raw socket blocks go to the decoder
(``CopyDecoder.feed_wire``); with a psycopg connection its ``copy()`` reads them. How an initial
snapshot hands these reads to several connections is in ``parallel.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql

from arrowtail import _core
from arrowtail.progress import TableProgress
from arrowtail.sources.base import TableBatch
from arrowtail.sources.postgres import client as pgproto
from arrowtail.sources.postgres.admin import (
    TEXT_ARRAY_OID,
    PublishedTable,
    has_binary_decoder,
)

#: Batches are handed on after about this many bytes of COPY data, to keep memory bounded.
CHUNK_BYTES = 16 << 20
#: Rows per primary-key chunk of an initial snapshot (``source.snapshot_chunk_rows``).
DEFAULT_CHUNK_ROWS = 100_000


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
        if elem_typtype == "e":
            # An array of an enum, as the stream decodes it (admin.enum_array_types).
            out.append((name, TEXT_ARRAY_OID, -1, False))
            continue
        known = has_binary_decoder(oid, typtype, elem_typtype)
        # Enums send their label in binary; unknown types are read as text like the stream does.
        out.append((name, int(oid) if known else 25, int(typmod) if known else -1, not known))
    return out, pk


def copy_batches(
    conn: psycopg.Connection | pgproto.PgConnection,
    query: str,
    decoder: _core.CopyDecoder,
    progress: TableProgress | None,
) -> Iterator[TableBatch]:
    """Runs one ``COPY ... TO STDOUT (FORMAT binary)`` on ``conn`` (either wire) and yields the
    decoded batches about every :data:`CHUNK_BYTES` of input, counting rows in ``progress``.
    The decoder is finished at the end."""
    counted = decoder.rows

    def advance() -> None:
        nonlocal counted
        if progress is not None:
            progress.advance(decoder.rows - counted)
        counted = decoder.rows

    pending = 0
    if isinstance(conn, pgproto.PgConnection):
        summary = decoder.feed_wire(conn.start_copy(query))
        # Without TLS the decoder reads the socket itself, up to the next batch's worth of bytes
        # per call (a read gives a few tens of kilobytes: the server sends as it produces).
        fd = conn.raw_fd()
        while True:
            if summary.messages:
                conn.finish_exchange(summary.messages)
                if summary.done:
                    conn.give_back(summary.rest)
                    break
            if fd is None:
                n = conn.recv(None)
                summary = decoder.feed_wire(conn.buffer, n)
            else:
                try:
                    summary, n = decoder.read_wire(fd, CHUNK_BYTES - pending)
                except OSError as exc:
                    raise pgproto.connection_lost(exc) from None
            pending += n
            if pending >= CHUNK_BYTES:
                pending = 0
                advance()
                yield from decoder.flush()
    else:
        with conn.cursor() as cur, cur.copy(query) as copy:
            for data in copy:
                decoder.feed(bytes(data))
                pending += len(data)
                if pending >= CHUNK_BYTES:
                    pending = 0
                    advance()
                    yield from decoder.flush()
    decoder.finish()
    advance()
    yield from decoder.flush()


@dataclass
class TableShape:
    """What reading a table needs: its columns as :func:`table_columns` lists them, its primary
    key and the SQL type of each key column (to cast stored key values back)."""

    schema: str
    table: str
    columns: list[tuple[str, int, int, bool]]
    pk: list[str]
    pk_types: list[str]
    #: The publication's row filter for this table (PostgreSQL 15+), applied to every read.
    row_filter: str | None = None
    #: ``(schema, table)`` the rows are read from when not the table itself: a partition read
    #: as the rows of the published table its changes are sent under.
    read_from: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def relation(self) -> sql.Identifier:
        """The relation the rows are read from."""
        return sql.Identifier(*(self.read_from or (self.schema, self.table)))


def table_shape(
    conn: psycopg.Connection, schema: str, table: str, published: PublishedTable | None = None
) -> TableShape:
    """Reads a table's columns, primary key and key types from the catalog; ``published``
    narrows them to a publication's column list and adds its row filter, so a snapshot holds
    what the stream will send."""
    columns, pk = table_columns(conn, schema, table)
    row_filter = None
    if published is not None:
        if published.columns is not None:
            keep = set(published.columns)
            columns = [c for c in columns if c[0] in keep]
            if not set(pk) <= keep:
                pk = []  # read in one COPY: chunks need the whole key
        row_filter = published.row_filter
    types: dict[str, str] = dict(
        conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (sql.Identifier(schema, table).as_string(conn),),
        ).fetchall()
    )
    return TableShape(schema, table, columns, pk, [str(types[c]) for c in pk], row_filter)


def _key_after(shape: TableShape, after: list[str] | None, op: str = ">") -> sql.Composable:
    """``(k1, k2) > (CAST('v1' AS t1), ...)`` for a key stored as text, or ``true``."""
    if after is None:
        return sql.SQL("true")
    return sql.SQL("({}) {} ({})").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in shape.pk),
        sql.SQL(op),
        sql.SQL(", ").join(
            sql.SQL("CAST({} AS {})").format(sql.Literal(v), sql.SQL(t))
            for v, t in zip(after, shape.pk_types, strict=True)
        ),
    )


def chunk_bound(
    conn: psycopg.Connection,
    shape: TableShape,
    after: list[str] | None,
    rows: int,
    where: sql.Composable | None = None,
) -> list[str] | None:
    """The key (as text) of the ``rows``-th row after ``after`` in key order (counting only rows
    that match ``where``), or ``None`` when fewer rows are left: keyset pagination without OFFSET
    over the data itself."""
    keys = sql.SQL(", ").join(sql.Identifier(c) for c in shape.pk)
    cond = _key_after(shape, after)
    if where is not None:
        cond = sql.SQL("{} AND ({})").format(cond, where)
    query = sql.SQL(
        "SELECT {} FROM (SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT 1 OFFSET {}) AS k"
    ).format(
        sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in shape.pk),
        keys,
        shape.relation,
        cond,
        keys,
        sql.Literal(rows - 1),
    )
    row = conn.execute(query).fetchone()
    return None if row is None else [str(v) for v in row]


def key_range(shape: TableShape, after: list[str] | None, upto: list[str] | None) -> sql.Composable:
    """``after < key <= upto`` (either bound ``None``: open on that side)."""
    return sql.SQL("{} AND {}").format(
        _key_after(shape, after),
        _key_after(shape, upto, "<=") if upto is not None else sql.SQL("true"),
    )


def page_range(first: int, end: int | None) -> sql.Composable:
    """The rows stored in heap pages ``first`` (included) to ``end`` (excluded, ``None``: to the
    end of the table); PostgreSQL 14+ reads such a range with a TID range scan."""
    low = sql.SQL("ctid >= {}::tid").format(sql.Literal(f"({first},0)"))
    if end is None:
        return low
    return sql.SQL("{} AND ctid < {}::tid").format(low, sql.Literal(f"({end},0)"))


def _as_text(name: str) -> sql.Composable:
    """A column read in the text its output function gives, as pgoutput sends it: a cast to
    text can differ (``inet``'s keeps a host address's netmask, ``10.0.0.1/32``); ``concat``
    calls the output function, and the ``CASE`` keeps NULL apart from the empty string."""
    col = sql.Identifier(name)
    return sql.SQL("CASE WHEN {} IS NULL THEN NULL ELSE concat({}) END").format(col, col)


def copy_rows(
    conn: psycopg.Connection | pgproto.PgConnection,
    shape: TableShape,
    decoder: _core.CopyDecoder,
    progress: TableProgress | None,
    *,
    after: list[str] | None = None,
    upto: list[str] | None = None,
    where: sql.Composable | None = None,
    pages: tuple[int, int | None] | None = None,
) -> Iterator[TableBatch]:
    """Copies the rows of the heap ``pages`` given as ``(first, end)``, or else those with
    ``after < key <= upto`` (either bound optional; a table without a primary key is read
    whole), and ``where`` (a further condition) through ``decoder``, yielding batches about
    every :data:`CHUNK_BYTES` of COPY data, counting them in ``progress``. The decoder is
    finished at the end. ``conn`` is either wire's connection, inside the snapshot."""
    select_list = sql.SQL(", ").join(
        _as_text(name) if cast else sql.Identifier(name)
        for name, _oid, _typmod, cast in shape.columns
    )
    order: sql.Composable
    cond: sql.Composable
    if pages is not None:
        # A TID range is read in heap order; asking for that order would only add a sort.
        order, cond = sql.SQL(""), page_range(*pages)
    elif shape.pk:
        order = sql.SQL(" ORDER BY {}").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in shape.pk)
        )
        cond = key_range(shape, after, upto)
    else:
        order, cond = sql.SQL(" ORDER BY ctid"), sql.SQL("true")
    if where is not None:
        cond = sql.SQL("{} AND ({})").format(cond, where)
    if shape.row_filter is not None:
        cond = sql.SQL("{} AND {}").format(cond, sql.SQL(shape.row_filter))  # type: ignore[arg-type]
    template = sql.SQL("COPY (SELECT {} FROM {} WHERE {}{}) TO STDOUT (FORMAT binary)")
    query = template.format(select_list, shape.relation, cond, order)
    context = conn if isinstance(conn, psycopg.Connection) else None
    yield from copy_batches(conn, query.as_string(context), decoder, progress)


def new_decoder(
    shape: TableShape,
    position: int,
    snapshot_ts_us: int,
    first_seq: int = 0,
    versions: _core.SchemaVersions | None = None,
) -> _core.CopyDecoder:
    """A COPY decoder for ``shape`` whose rows carry ``position`` as ``_pos``; its batches are
    numbered by ``versions``, the source's run-wide schema versions, when given."""
    return _core.CopyDecoder(
        shape.name,
        [(name, oid, typmod) for name, oid, typmod, _cast in shape.columns],
        shape.pk,
        position=position,
        snapshot_ts_us=snapshot_ts_us,
        first_seq=first_seq,
        versions=versions,
    )
