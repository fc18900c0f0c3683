"""Initial snapshots of MySQL/MariaDB tables, consistent with a binlog position.

MariaDB: ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` then ``SHOW STATUS LIKE
'binlog_snapshot_%'`` gives the binlog file and position of exactly that snapshot without locking
(MariaDB KB "Enhancements for START TRANSACTION WITH CONSISTENT SNAPSHOT"). MySQL has no such
status: ``FLUSH TABLES WITH READ LOCK`` is held only while the transaction starts and ``SHOW MASTER
STATUS`` is read, then released.

Tables are read in primary-key order in chunks (``WHERE (pk) > (last) ORDER BY pk LIMIT n``), all
inside the one snapshot transaction. Rows become ``_op = r`` batches whose column types are the
ones the binlog decoder gives the same columns (``rust/arrowtail-core/src/types/mysql/mod.rs``,
``Codec::arrow_type``): signedness decides intN/uintN, DECIMAL over 38 digits is its text, DATETIME
is a naive timestamp, TIMESTAMP a UTC one (the session runs at ``+00:00``), TIME a duration,
YEAR int16, ENUM its label, SET a list of labels, BIT uint64, the ``binary`` charset binary. Every
row carries the snapshot position as ``_pos``, so the streamed changes sort after it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

from arrowtail.exceptions import SourceError
from arrowtail.sources.base import TableBatch
from arrowtail.sources.mysql.replication import binlog_status

log = logging.getLogger("arrowtail.mysql.snapshot")

#: Rows read per query.
CHUNK_ROWS = 20_000
SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
_INTS = {"tinyint": 8, "smallint": 16, "mediumint": 32, "int": 32, "integer": 32, "bigint": 64}
_TEXTS = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "json"}
_BLOBS = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
_GEOMETRY = {
    "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
    "multipolygon", "geometrycollection", "geomcollection",
}  # fmt: skip
UTC = dt.timezone.utc


@dataclass(frozen=True)
class SnapshotPoint:
    """Where the snapshot sits in the binlog."""

    file: str
    offset: int
    gtid: str = ""


@dataclass
class Column:
    """One column as ``information_schema.COLUMNS`` describes it, with its Arrow type."""

    name: str
    data_type: str
    column_type: str
    precision: int | None
    scale: int | None
    charset: str | None

    @property
    def arrow_type(self) -> pa.DataType:
        t, unsigned = self.data_type, "unsigned" in self.column_type.lower()
        if t in _INTS:
            bits = _INTS[t]
            return getattr(pa, f"{'u' if unsigned else ''}int{bits}")()
        if t in ("decimal", "numeric"):
            p, s = self.precision or 10, self.scale or 0
            return pa.decimal128(p, s) if p <= 38 else pa.string()
        if t == "float":
            return pa.float32()
        if t in ("double", "real"):
            return pa.float64()
        if t == "date":
            return pa.date32()
        if t == "datetime":
            return pa.timestamp("us")
        if t == "timestamp":
            return pa.timestamp("us", tz="UTC")
        if t == "time":
            return pa.duration("us")
        if t == "year":
            return pa.int16()
        if t == "bit":
            return pa.uint64()
        if t == "set":
            return pa.list_(pa.field("item", pa.string(), nullable=True))
        if t in _BLOBS or t in _GEOMETRY:
            return pa.binary()
        if t in _TEXTS or t == "enum":
            return pa.binary() if (self.charset or "").lower() == "binary" else pa.string()
        return pa.string()

    def convert(self, value: Any) -> Any:
        """A PyMySQL value in the form ``pa.array`` takes for :attr:`arrow_type`."""
        if value is None:
            return None
        t = self.data_type
        if t == "bit":
            return int.from_bytes(value, "big") if isinstance(value, bytes) else int(value)
        if t == "set":
            return [v for v in value.split(",") if v] if isinstance(value, str) else sorted(value)
        if t in ("date", "datetime", "timestamp") and isinstance(value, str):
            return None  # a zero or invalid date: null, as the decoder gives it
        if isinstance(value, Decimal) and self.arrow_type == pa.string():
            return format(value, "f")
        if isinstance(value, str) and self.arrow_type == pa.binary():
            return value.encode("utf-8", "surrogateescape")
        if isinstance(value, bytes) and self.arrow_type == pa.string():
            return value.decode("utf-8", "replace")
        return value


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


def list_tables(conn: Any, database: str, tables: set[str]) -> list[tuple[str, str]]:
    """Base tables to snapshot: those named in ``tables`` (``db.table``), else every table of
    ``database``, else every non-system table."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
            "WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME"
        )
        found = [(str(s), str(t)) for s, t in cur.fetchall()]
    if tables:
        return [(s, t) for s, t in found if f"{s}.{t}" in tables]
    if database:
        return [(s, t) for s, t in found if s == database]
    return [(s, t) for s, t in found if s.lower() not in SYSTEM_SCHEMAS]


def table_columns(conn: Any, schema: str, table: str) -> tuple[list[Column], list[str]]:
    """The columns in order and the primary key, from ``information_schema``."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, "
            "CHARACTER_SET_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
        columns = [
            Column(
                str(n),
                str(t).lower(),
                str(ct),
                None if p is None else int(p),
                None if s is None else int(s),
                None if c is None else str(c),
            )  # fmt: skip
            for n, t, ct, p, s, c in cur.fetchall()
        ]
        cur.execute(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s"
            " AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
        pk = [str(r[0]) for r in cur.fetchall()]
    return columns, pk


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def change_schema(table: str, columns: list[Column], pk: list[str]) -> pa.Schema:
    """The change-batch schema the binlog decoder gives ``table`` (schema version 1)."""
    user = [pa.field(c.name, c.arrow_type, nullable=True) for c in columns]
    meta = [
        pa.field("_op", pa.string(), nullable=False),
        pa.field("_pos", pa.uint64(), nullable=False),
        pa.field("_seq", pa.uint32(), nullable=False),
        pa.field("_xid", pa.uint64(), nullable=False),
        pa.field("_commit_ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("_before", pa.struct(user), nullable=True),
        pa.field("_unchanged", pa.list_(pa.field("item", pa.string(), nullable=True))),
    ]
    metadata = {
        "arrowtail.source": "mysql",
        "arrowtail.table": table,
        "arrowtail.primary_key": ",".join(pk),
        "arrowtail.schema_version": "1",
    }
    return pa.schema(user + meta, metadata=metadata)


def snapshot_table(
    conn: Any, schema: str, table: str, position: int, snapshot_ts: dt.datetime
) -> Iterator[TableBatch]:
    """Reads one table inside the caller's snapshot transaction, chunk by chunk."""
    columns, pk = table_columns(conn, schema, table)
    name = f"{schema}.{table}"
    arrow_schema = change_schema(name, columns, pk)
    select = ", ".join(_quote(c.name) for c in columns)
    source = f"{_quote(schema)}.{_quote(table)}"
    pk_idx = [[c.name for c in columns].index(k) for k in pk]
    order = ", ".join(_quote(k) for k in pk)
    seq = 0
    started = time.monotonic()
    if not pk:
        # No key to page by: one unbuffered pass, handed on CHUNK_ROWS rows at a time.
        import pymysql.cursors

        with conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(f"SELECT {select} FROM {source}")
            while rows := cur.fetchmany(CHUNK_ROWS):
                yield name, 1, _batch(arrow_schema, columns, rows, seq, position, snapshot_ts)
                seq += len(rows)
    else:
        last: tuple[Any, ...] | None = None
        with conn.cursor() as cur:
            while True:
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
                    yield name, 1, _batch(arrow_schema, columns, rows, seq, position, snapshot_ts)
                    seq += len(rows)
                if len(rows) < CHUNK_ROWS:
                    break
                last = tuple(rows[-1][i] for i in pk_idx)
    seconds = time.monotonic() - started
    log.info("snapshot of %s: %d rows in %.1fs", name, seq, seconds)


def _batch(
    schema: pa.Schema,
    columns: list[Column],
    rows: list[tuple[Any, ...]],
    seq: int,
    position: int,
    snapshot_ts: dt.datetime,
) -> pa.RecordBatch:
    n = len(rows)
    arrays = [
        pa.array([c.convert(r[i]) for r in rows], type=c.arrow_type) for i, c in enumerate(columns)
    ]
    arrays += [
        pa.array(["r"] * n, pa.string()),
        pa.array([position] * n, pa.uint64()),
        pa.array(range(seq, seq + n), pa.uint32()),
        pa.array([0] * n, pa.uint64()),
        pa.array([snapshot_ts] * n, pa.timestamp("us", tz="UTC")),
        pa.nulls(n, schema.field("_before").type),
        pa.nulls(n, schema.field("_unchanged").type),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def snapshot(conn: Any, point_position: int, tables: list[tuple[str, str]]) -> Iterator[TableBatch]:
    """Reads ``tables`` inside the snapshot transaction already started on ``conn``, then ends
    it and closes ``conn``."""
    snapshot_ts = dt.datetime.now(UTC)
    try:
        for schema, table in tables:
            yield from snapshot_table(conn, schema, table, point_position, snapshot_ts)
        conn.rollback()
    finally:
        conn.close()
