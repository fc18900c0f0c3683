"""Facts of a MySQL/MariaDB source that the binlog rows do not carry, added to every batch.

- ``arrowtail.not_null``: the NOT NULL columns (``information_schema.COLUMNS.IS_NULLABLE``), so a
  sink creating the table keeps the constraint.
- ``arrowtail.binlog_basename`` and ``arrowtail.server_id``: the server's binlog file base name
  (``cdc-bin`` for ``cdc-bin.000003``) and ``@@server_id``, for the Debezium ``source`` block.
- MariaDB ``UUID`` columns: binlog and snapshot rows both hold the 16 bytes in canonical order (the
  snapshot turns the text it reads back into them); they are turned into the canonical text
  (vectorised, no per-row Python), so a column has one type and one value form whichever way a row
  arrived. (MariaDB stores some UUIDs with their groups reordered so that they sort by time, but
  writes the binlog in the canonical byte order, so the bytes are read as they come.)
- ``arrowtail.flavor``: ``mariadb`` or ``mysql``, so Kafka events name the connector as
  Debezium's MariaDB or MySQL connector does.
- Field metadata ``arrowtail.logical_type`` on columns whose Arrow type does not tell the source
  type apart, with what Debezium's schemas need: ``enum`` / ``set`` with ``arrowtail.allowed``
  (the labels, comma-separated), ``bit`` with ``arrowtail.length``, ``year``, ``uuid``
  (MariaDB), ``float`` with ``arrowtail.length`` and ``arrowtail.scale`` for ``FLOAT(m,d)`` and
  ``mediumint`` for ``MEDIUMINT UNSIGNED`` (Debezium declares them ``double`` and ``int32``),
  ``point`` on ``POINT`` and ``geometry`` on the other spatial types (Debezium's ``Point`` and
  ``Geometry`` structs); and
  ``arrowtail.precision`` (the declared fraction digits) on ``DATETIME`` and ``TIMESTAMP``
  columns, for Debezium's ``Timestamp`` of a ``DATETIME(0..3)`` and the ``n`` fraction digits of
  a streamed ``TIMESTAMP(n)``.

Columns are read from ``information_schema`` when a table or schema version is first seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from arrowtail.sources.base import TableBatch
from arrowtail.sources.mysql.replication import close_quietly

#: Field metadata key of a column's source type where the Arrow type does not say it.
LOGICAL = "arrowtail.logical_type"
#: The spatial types other than ``POINT`` (``information_schema.COLUMNS.DATA_TYPE``; MySQL 8
#: names a geometry collection ``geomcollection``).
SPATIAL = (
    "geometry",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
    "geomcollection",
)

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
#: Output byte i of a canonical uuid takes hex digit _PICK[i] of the 32; -1 is a dash.
_PICK = np.array(
    [*range(8), -1, *range(8, 12), -1, *range(12, 16), -1, *range(16, 20), -1, *range(20, 32)]
)


def uuid_text(arr: pa.Array) -> pa.Array:
    """16-byte uuid values (binary or fixed_size_binary(16)) as canonical lower-case text."""
    n = len(arr)
    if n == 0:
        return pa.array([], pa.string())
    fixed = arr if pa.types.is_fixed_size_binary(arr.type) else arr.cast(pa.binary(16))
    valid = fixed.is_valid()
    filled = fixed.fill_null(pa.scalar(b"\0" * 16, pa.binary(16)))
    raw = np.frombuffer(filled.buffers()[1], dtype=np.uint8, count=(filled.offset + n) * 16)
    b = raw[filled.offset * 16 :].reshape(n, 16).copy()
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX[b >> 4]
    digits[:, 1::2] = _HEX[b & 0x0F]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    keep = _PICK >= 0
    out[:, keep] = digits[:, _PICK[keep]]
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    mask = pc.invert(valid)
    text = pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(out.tobytes())]
    )
    return pc.if_else(mask, pa.scalar(None, pa.string()), text)


class MysqlFacts:
    """Looks up and applies the facts above for the tables of one source."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        #: One kept connection for the lookups (a snapshot of many tables looks up one table per
        #: poll, and a connection costs more than the query); opened again when it broke.
        self._conn: Any = None
        #: (table, schema version) -> (not null columns, uuid columns, logical types per column)
        self._columns: dict[
            tuple[str, int], tuple[list[str], list[str], dict[str, dict[str, str]]]
        ] = {}
        self.server_id = 0
        self.basename = ""
        #: ``mariadb`` or ``mysql`` once known (empty: not said).
        self.flavor = ""
        #: Columns read ahead for the tables of a snapshot (:meth:`prefetch`), taken by each
        #: table's first lookup while the snapshot runs.
        self._prefetched: dict[str, list[tuple[Any, ...]]] = {}

    def annotate(self, batches: list[TableBatch]) -> list[TableBatch]:
        out = []
        for table, version, batch in batches:
            if table.startswith("_") or "." not in table:
                out.append((table, version, batch))
                continue
            key = (table, version)
            if key not in self._columns:
                self._columns[key] = self._lookup(table)
            not_null, uuids, logical = self._columns[key]
            batch = _with_field_facts(_with_uuid_text(batch, uuids), logical)
            meta = dict(batch.schema.metadata or {})
            if self.flavor:
                meta[b"arrowtail.flavor"] = self.flavor.encode()
            meta[b"arrowtail.not_null"] = ",".join(not_null).encode()
            if self.basename:
                meta[b"arrowtail.binlog_basename"] = self.basename.encode()
            if self.server_id:
                meta[b"arrowtail.server_id"] = str(self.server_id).encode()
            out.append((table, version, batch.replace_schema_metadata(meta)))
        return out

    def prefetch(self, tables: list[str]) -> None:
        """Reads the columns of ``tables`` (``db.table``) with one query, for a snapshot about
        to read them (one query per table costs a snapshot of many small tables much of its
        time). :meth:`end_prefetch` drops what no lookup took."""
        schemas = sorted({t.split(".", 1)[0] for t in tables})
        if not schemas:
            return
        wanted = set(tables)
        marks = ", ".join(["%s"] * len(schemas))
        rows = self._query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, IS_NULLABLE, DATA_TYPE, COLUMN_TYPE "
            f"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN ({marks}) "
            "ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION",
            schemas,
        )
        for d, t, *column in rows:
            table = f"{d}.{t}"
            if table in wanted:
                self._prefetched.setdefault(table, []).append(tuple(column))

    def end_prefetch(self) -> None:
        """Forgets the columns read ahead: later lookups (new schema versions) read them anew."""
        self._prefetched.clear()

    def _query(self, sql: str, params: Any) -> list[tuple[Any, ...]]:
        import pymysql

        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            try:
                with self._conn.cursor() as cur:
                    cur.execute(sql, params)
                    return list(cur.fetchall())
            except (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError):
                # A kept connection the server closed (wait_timeout, a restart): once more on a
                # new one; a second failure is the server's answer.
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _lookup(self, table: str) -> tuple[list[str], list[str], dict[str, dict[str, str]]]:
        rows = self._prefetched.pop(table, None)
        if rows is None:
            database, name = table.split(".", 1)
            rows = self._query(
                "SELECT COLUMN_NAME, IS_NULLABLE, DATA_TYPE, COLUMN_TYPE "
                "FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                (database, name),
            )
        not_null = [str(c) for c, nullable, _, _ in rows if str(nullable).upper() == "NO"]
        uuids = [str(c) for c, _, t, _ in rows if str(t).lower() == "uuid"]
        logical = {}
        for c, _, t, full in rows:
            facts = logical_type(str(t), _text(full))
            if facts:
                logical[str(c)] = facts
        return not_null, uuids, logical

    def close(self) -> None:
        conn, self._conn = self._conn, None
        close_quietly(conn)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


def logical_type(data_type: str, column_type: str) -> dict[str, str]:
    """The ``arrowtail.*`` field metadata of a column from ``information_schema.COLUMNS``
    (``DATA_TYPE``, ``COLUMN_TYPE``); empty when the Arrow type says enough."""
    kind = data_type.lower()
    if kind in ("enum", "set"):
        inside = column_type[column_type.index("(") + 1 : column_type.rindex(")")]
        labels = [m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", inside)]
        return {LOGICAL: kind, "arrowtail.allowed": ",".join(labels)}
    if kind == "bit":
        m = re.search(r"\((\d+)\)", column_type)
        return {LOGICAL: "bit", "arrowtail.length": m.group(1) if m else "1"}
    if kind in ("year", "uuid"):
        return {LOGICAL: kind}
    if kind in ("datetime", "timestamp"):
        m = re.search(r"\((\d+)\)", column_type)
        return {"arrowtail.precision": m.group(1) if m else "0"}
    if kind == "float":
        m = re.search(r"\((\d+),(\d+)\)", column_type)
        if m:
            return {LOGICAL: "float", "arrowtail.length": m.group(1), "arrowtail.scale": m.group(2)}
        return {}
    if kind == "mediumint" and "unsigned" in column_type.lower():
        return {LOGICAL: "mediumint"}
    if kind == "point":
        return {LOGICAL: "point"}
    if kind in SPATIAL:
        return {LOGICAL: "geometry"}
    return {}


def _with_field_facts(batch: pa.RecordBatch, logical: dict[str, dict[str, str]]) -> pa.RecordBatch:
    """``batch`` with the columns' logical-type facts as field metadata."""
    if not logical or not any(name in logical for name in batch.schema.names):
        return batch
    fields = [
        f.with_metadata({**(f.metadata or {}), **logical[f.name]}) if f.name in logical else f
        for f in batch.schema
    ]
    schema = pa.schema(fields, metadata=batch.schema.metadata)
    return pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def _with_uuid_text(batch: pa.RecordBatch, uuids: list[str]) -> pa.RecordBatch:
    """``batch`` with its binary uuid columns (and those of ``_before``) as text."""
    names = [c for c in uuids if c in batch.schema.names]
    binary = [
        c
        for c in names
        if pa.types.is_binary(batch.schema.field(c).type)
        or pa.types.is_fixed_size_binary(batch.schema.field(c).type)
    ]
    if not binary:
        return batch
    arrays = list(batch.columns)
    fields = list(batch.schema)
    for c in binary:
        i = batch.schema.get_field_index(c)
        arrays[i] = uuid_text(arrays[i])
        fields[i] = fields[i].with_type(pa.string())
    bi = batch.schema.get_field_index("_before")
    if bi >= 0:
        before = batch.column(bi)
        children = []
        child_fields = []
        for j, f in enumerate(before.type):
            child = before.field(j)
            if f.name in binary:
                child = uuid_text(child)
                f = f.with_type(pa.string())
            children.append(child)
            child_fields.append(f)
        mask = pc.invert(before.is_valid()) if before.null_count else None
        arrays[bi] = pa.StructArray.from_arrays(children, fields=child_fields, mask=mask)
        fields[bi] = fields[bi].with_type(arrays[bi].type)
    schema = pa.schema(fields, metadata=batch.schema.metadata)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
