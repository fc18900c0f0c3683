"""Initial snapshots of MySQL/MariaDB tables, consistent with a binlog position.

MariaDB: ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` then ``SHOW STATUS LIKE
'binlog_snapshot_%'`` gives the binlog file and position of exactly that snapshot without locking
(MariaDB KB "Enhancements for START TRANSACTION WITH CONSISTENT SNAPSHOT"). MySQL has no such
status: ``FLUSH TABLES WITH READ LOCK`` is held only while the transaction starts and ``SHOW MASTER
STATUS`` is read, then released.

Tables are read in primary-key order in chunks (``WHERE (pk) > (last) ORDER BY pk LIMIT n``), all
inside the one snapshot transaction. Values are read without conversion (the text protocol's
bytes; a FLOAT is selected as a DOUBLE, whose text keeps every digit of it) and handed in blocks
to the core's ``TextRowsBuilder`` (``rust/arrowtail-core/src/textrows/``), which gives each column
the codec the binlog decoder gives it: a snapshot row and a streamed row of the same column have
one Arrow type and one value form. TIMESTAMP text is UTC because the session runs at ``+00:00``.
Every row carries the snapshot position as ``_pos``, so the streamed changes sort after it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from arrowtail._core import TextRowsBuilder
from arrowtail.exceptions import SourceError
from arrowtail.sources.base import TableBatch
from arrowtail.sources.marks import SnapshotMarks
from arrowtail.sources.mysql import errors as mysql_errors
from arrowtail.sources.mysql.ddl import quote_name as _quote
from arrowtail.sources.mysql.replication import binlog_status
from arrowtail.tables import Selection

log = logging.getLogger("arrowtail.mysql.snapshot")

#: Rows read per query.
CHUNK_ROWS = 20_000
SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
UTC = dt.timezone.utc


@dataclass(frozen=True)
class SnapshotPoint:
    """Where the snapshot sits in the binlog."""

    file: str
    offset: int
    gtid: str = ""


@dataclass
class Column:
    """One column as ``information_schema.COLUMNS`` describes it."""

    name: str
    data_type: str
    column_type: str
    precision: int | None
    scale: int | None
    charset: str | None

    def as_arg(self) -> tuple[str, str, str, int | None, int | None, str | None]:
        """The column as ``TextRowsBuilder`` takes it."""
        return (
            self.name, self.data_type, self.column_type, self.precision, self.scale, self.charset
        )  # fmt: skip

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type the binlog decoder (and so the snapshot) gives the column."""
        builder = TextRowsBuilder("t", [self.as_arg()], [], position=0, snapshot_ts_us=0)
        return builder.schema.field(0).type


def row_builder(
    table: str,
    columns: list[Column],
    pk: list[str],
    position: int,
    snapshot_ts: dt.datetime,
    first_seq: int = 0,
) -> TextRowsBuilder:
    """The builder of ``table``'s snapshot batches (schema version 1)."""
    ts_us = (snapshot_ts - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)
    return TextRowsBuilder(
        table,
        [c.as_arg() for c in columns],
        pk,
        position=position,
        snapshot_ts_us=ts_us,
        first_seq=first_seq,
    )


@contextmanager
def raw_values(conn: Any) -> Iterator[None]:
    """While inside, PyMySQL returns every value as the bytes the server sent (no decoding, no
    converters), which is what ``TextRowsBuilder`` reads."""
    decoders, use_unicode = conn.decoders, conn.use_unicode
    conn.decoders, conn.use_unicode = {}, False
    try:
        yield
    finally:
        conn.decoders, conn.use_unicode = decoders, use_unicode


def consistent_snapshot(conn: Any, is_mariadb: bool) -> SnapshotPoint:
    """Starts the snapshot transaction on ``conn`` and returns its binlog position."""
    with conn.cursor() as cur:
        cur.execute("SET SESSION time_zone = '+00:00'")
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        if is_mariadb:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
            status = {str(k).lower(): str(v) for k, v in cur.fetchall()}
            file = status.get("binlog_snapshot_file", "")
            offset = int(status.get("binlog_snapshot_position") or 0)
            gtid = ""
            if file:
                cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (file, offset))
                row = cur.fetchone()
                gtid = str(row[0]) if row and row[0] is not None else ""
        else:
            cur.execute("FLUSH TABLES WITH READ LOCK")
            try:
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                row = binlog_status(cur)
            finally:
                cur.execute("UNLOCK TABLES")
            file, offset = (str(row[0]), int(row[1])) if row else ("", 0)
            gtid = str(row[4]) if row and len(row) > 4 and row[4] else ""
    if not file:
        raise SourceError("the server reports no binlog position for the snapshot")
    return SnapshotPoint(file, offset, gtid)


def list_tables(conn: Any, database: str, tables: Selection) -> list[tuple[str, str]]:
    """Base tables to snapshot: those ``tables`` selects (``db.table`` names and patterns),
    else every table of ``database``, else every non-system table."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
            "WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME"
        )
        found = [(str(s), str(t)) for s, t in cur.fetchall()]
    if tables:
        return [(s, t) for s, t in found if tables(f"{s}.{t}")]
    if database:
        return [(s, t) for s, t in found if s == database]
    return [(s, t) for s, t in found if s.lower() not in SYSTEM_SCHEMAS]


def table_columns(conn: Any, schema: str, table: str) -> tuple[list[Column], list[str]]:
    """The columns in order and the primary key, from ``information_schema``."""
    return tables_columns(conn, [(schema, table)]).get((schema, table), ([], []))


def tables_columns(
    conn: Any, tables: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[list[Column], list[str]]]:
    """:func:`table_columns` of many tables with two queries in all (a snapshot of thousands of
    small tables spent most of its time asking for each one's)."""
    wanted = set(tables)
    schemas = sorted({s for s, _ in tables})
    out: dict[tuple[str, str], tuple[list[Column], list[str]]] = {}
    if not schemas:
        return out
    marks = ", ".join(["%s"] * len(schemas))
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, "
            "NUMERIC_PRECISION, NUMERIC_SCALE, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
            f"WHERE TABLE_SCHEMA IN ({marks}) ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION",
            schemas,
        )
        for d, tb, n, t, ct, p, s, c in cur.fetchall():
            key = (str(d), str(tb))
            if key in wanted:
                column = Column(
                    str(n),
                    str(t).lower(),
                    str(ct),
                    None if p is None else int(p),
                    None if s is None else int(s),
                    None if c is None else str(c),
                )  # fmt: skip
                out.setdefault(key, ([], []))[0].append(column)
        cur.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE"
            f" WHERE TABLE_SCHEMA IN ({marks}) AND CONSTRAINT_NAME = 'PRIMARY'"
            " ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION",
            schemas,
        )
        for d, tb, n in cur.fetchall():
            key = (str(d), str(tb))
            if key in out:
                out[key][1].append(str(n))
    return out


def _selected(column: Column) -> str:
    """``column`` in the select list: as it is, but a FLOAT times a DOUBLE one, whose text holds
    the single-precision value exactly. A FLOAT's own text has six significant digits (16777218
    reads 1.67772e+07), while the binlog carries its four bytes."""
    if column.data_type == "float":
        return f"{_quote(column.name)} * 1e0"
    return _quote(column.name)


#: Binary in Arrow but written as text in SQL (MariaDB).
_TEXT_KEYS = ("uuid", "inet6", "inet4")


def _pk_param(column: Column, value: bytes | None, encoding: str) -> Any:
    """A raw key value as a query parameter: text columns as text, so the comparison uses the
    column's collation; byte strings as bytes; BIT as its number (compared with a byte string,
    BIT would take the string's numeric value)."""
    if value is None:
        return value
    if column.data_type == "bit":
        return int.from_bytes(value, "big")
    if pa.types.is_binary(column.arrow_type) and column.data_type not in _TEXT_KEYS:
        return value
    return value.decode(encoding)


def snapshot_table(
    conn: Any,
    schema: str,
    table: str,
    position: int,
    snapshot_ts: dt.datetime,
    described: tuple[list[Column], list[str]] | None = None,
) -> Iterator[TableBatch]:
    """Reads one table inside the caller's snapshot transaction, chunk by chunk (``described``:
    its :func:`table_columns`, when already read)."""
    columns, pk = described if described is not None else table_columns(conn, schema, table)
    name = f"{schema}.{table}"
    builder = row_builder(name, columns, pk, position, snapshot_ts)
    select = ", ".join(_selected(c) for c in columns)
    source = f"{_quote(schema)}.{_quote(table)}"
    pk_idx = [[c.name for c in columns].index(k) for k in pk]
    order = ", ".join(_quote(k) for k in pk)
    started = time.monotonic()
    if not pk:
        # No key to page by: one unbuffered pass, handed on CHUNK_ROWS rows at a time.
        import pymysql.cursors

        with raw_values(conn), conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(f"SELECT {select} FROM {source}")
            while rows := cur.fetchmany(CHUNK_ROWS):
                builder.append_rows(rows)
                yield from builder.flush()
    else:
        last: tuple[Any, ...] | None = None
        while True:
            with raw_values(conn), conn.cursor() as cur:
                if last is None:
                    cur.execute(
                        f"SELECT {select} FROM {source} ORDER BY {order} LIMIT {CHUNK_ROWS}"
                    )
                else:
                    marks = ", ".join(["%s"] * len(pk))
                    cur.execute(
                        f"SELECT {select} FROM {source} WHERE ({order}) > ({marks}) "
                        f"ORDER BY {order} LIMIT {CHUNK_ROWS}",
                        last,
                    )
                rows = cur.fetchall()
            if rows:
                builder.append_rows(rows)
                yield from builder.flush()
            if len(rows) < CHUNK_ROWS:
                break
            last = tuple(_pk_param(columns[i], rows[-1][i], conn.encoding) for i in pk_idx)
    seconds = time.monotonic() - started
    log.info("snapshot of %s: %d rows in %.1fs", name, builder.rows, seconds)


def snapshot(conn: Any, point_position: int, tables: list[tuple[str, str]]) -> Iterator[TableBatch]:
    """Reads ``tables`` inside the snapshot transaction already started on ``conn``, then ends
    it and closes ``conn``. The batches carry Debezium's snapshot markers
    (:mod:`arrowtail.sources.marks`)."""
    import pymysql

    snapshot_ts = dt.datetime.now(UTC)
    marks = SnapshotMarks(f"{tables[0][0]}.{tables[0][1]}" if tables else None)
    try:
        described = tables_columns(conn, tables)
        for schema, table in tables:
            table_described = described.get((schema, table))
            try:
                for batch in snapshot_table(
                    conn, schema, table, point_position, snapshot_ts, table_described
                ):
                    yield from marks.batch(batch)
            except pymysql.err.OperationalError as exc:
                if mysql_errors.code_of(exc) == str(mysql_errors.TABLE_DEF_CHANGED):
                    raise mysql_errors.error(
                        f"{schema}.{table}: an ALTER TABLE rebuilt the table after the snapshot"
                        f" began (error {mysql_errors.TABLE_DEF_CHANGED}, table definition has"
                        " changed), so the snapshot cannot read it; no position of this snapshot"
                        " is stored: run again to take it anew",
                        exc,
                    ) from None
                raise
            yield from marks.table_done(f"{schema}.{table}")
        yield from marks.finish()
        conn.rollback()
    finally:
        conn.close()
