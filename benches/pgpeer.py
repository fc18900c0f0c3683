"""The pypgoutput peer: parse a capture file with ``pypgoutput.decoders`` (one message class per
message, chosen by the first byte), and optionally turn the text tuples into typed Python values
written as Parquet in the same layout as arrowtail's sink (same schema, zstd, same row groups).

The typed conversion is the plain one a Python CDC tool would write: one converter per column type
OID, applied to every text value, rows buffered per transaction until its commit.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pypgoutput import decoders

_HEADER = struct.Struct(">QI")
_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

CLASSES: dict[int, type[decoders.PgoutputMessage]] = {
    ord("B"): decoders.Begin,
    ord("C"): decoders.Commit,
    ord("R"): decoders.Relation,
    ord("I"): decoders.Insert,
    ord("U"): decoders.Update,
    ord("D"): decoders.Delete,
    ord("T"): decoders.Truncate,
}


def records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """``(lsn, message)`` of each record of a capture file."""
    pos = 0
    end = len(data)
    while pos < end:
        lsn, length = _HEADER.unpack_from(data, pos)
        pos += _HEADER.size
        yield lsn, data[pos : pos + length]
        pos += length


def parse(data: bytes) -> int:
    """Parses every message of the capture; returns the number of row changes."""
    rows = 0
    for _, msg in records(data):
        cls = CLASSES.get(msg[0])
        if cls is None:
            continue
        cls(msg)
        if msg[0] in (73, 85, 68):  # I U D
            rows += 1
    return rows


def _bool(v: str) -> bool:
    return v == "t"


def _ts(v: str) -> dt.datetime:
    return dt.datetime.fromisoformat(v)


def _uuid(v: str) -> bytes:
    return uuid.UUID(v).bytes


CONVERTERS: dict[int, Callable[[str], Any]] = {
    16: _bool,
    20: int,
    21: int,
    23: int,
    700: float,
    701: float,
    1700: Decimal,
    25: str,
    1043: str,
    1184: _ts,
    1114: dt.datetime.fromisoformat,
    1082: dt.date.fromisoformat,
    114: str,
    3802: str,
    2950: _uuid,
}


class _Table:
    def __init__(self, rel: decoders.Relation) -> None:
        self.name = f"{rel.namespace}.{rel.relation_name}"
        self.names = [c.name for c in rel.columns]
        self.convert = [CONVERTERS.get(c.type_id, str) for c in rel.columns]
        self.columns: list[list[Any]] = [[] for _ in self.names]
        self.meta: dict[str, list[Any]] = {k: [] for k in ("_op", "_pos", "_seq", "_xid", "_ts")}
        self.unchanged: list[list[str] | None] = []
        #: row index -> old image values (a delete's key or REPLICA IDENTITY FULL image)
        self.before: dict[int, list[Any]] = {}

    def add(self, op: str, tup: decoders.TupleData, old: decoders.TupleData | None = None) -> int:
        """Appends one change; returns its row index in this table."""
        unchanged = None
        for i, (col, conv) in enumerate(zip(tup.column_data, self.convert, strict=True)):
            cat = col.col_data_category
            if cat == "t":
                self.columns[i].append(conv(col.col_data))
            else:
                self.columns[i].append(None)
                if cat == "u":
                    unchanged = (unchanged or []) + [self.names[i]]
        self.unchanged.append(unchanged)
        row = len(self.meta["_op"])
        if old is not None:
            self.before[row] = [
                conv(c.col_data) if c.col_data_category == "t" else None
                for c, conv in zip(old.column_data, self.convert, strict=True)
            ]
        self.meta["_op"].append(op)
        return row

    def before_array(self, typ: pa.StructType) -> pa.Array:
        n = len(self.meta["_op"])
        if not self.before:
            return pa.nulls(n, typ)
        children = []
        for i in range(typ.num_fields):
            values = [self.before[r][i] if r in self.before else None for r in range(n)]
            children.append(_array(values, typ.field(i).type))
        mask = pa.array([r not in self.before for r in range(n)])
        return pa.StructArray.from_arrays(children, fields=list(typ), mask=mask)


def _array(values: list[Any], typ: pa.DataType) -> pa.Array:
    if isinstance(typ, pa.BaseExtensionType):
        return pa.ExtensionArray.from_storage(typ, pa.array(values, typ.storage_type))
    return pa.array(values, typ)


def typed_parquet(data: bytes, out: Path, schema: pa.Schema, table_name: str) -> int:
    """Parses the capture with pypgoutput, converts the values of ``table_name`` to Python values
    and writes one Parquet file of ``schema`` under ``out/<table_name>/``. Returns rows written."""
    tables: dict[int, _Table] = {}
    pending: list[tuple[_Table, int]] = []
    xid = 0
    for _, msg in records(data):
        kind = msg[0]
        cls = CLASSES.get(kind)
        if cls is None:
            continue
        m: Any = cls(msg)
        if kind == 66:  # B
            xid = m.tx_xid
            pending = []
        elif kind == 82:  # R
            tables[m.relation_id] = _Table(m)
        elif kind == 73:  # I
            t = tables[m.relation_id]
            pending.append((t, t.add("c", m.new_tuple)))
        elif kind == 85:  # U
            t = tables[m.relation_id]
            pending.append((t, t.add("u", m.new_tuple, m.old_tuple)))
        elif kind == 68:  # D
            t = tables[m.relation_id]
            pending.append((t, t.add("d", m.old_tuple, m.old_tuple)))
        elif kind == 67:  # C
            ts = (m.commit_ts - _UNIX_EPOCH) // dt.timedelta(microseconds=1)
            for seq, (t, _) in enumerate(pending):
                t.meta["_pos"].append(m.lsn_commit)
                t.meta["_seq"].append(seq)
                t.meta["_xid"].append(xid)
                t.meta["_ts"].append(ts)
            pending = []
    written = 0
    for t in tables.values():
        if t.name != table_name:
            continue
        n = len(t.meta["_op"])
        arrays: list[pa.Array] = []
        for field in schema:
            if field.name == "_op":
                arrays.append(pa.array(t.meta["_op"], pa.string()).cast(field.type))
            elif field.name in ("_pos", "_seq", "_xid"):
                arrays.append(pa.array(t.meta[field.name], field.type))
            elif field.name == "_commit_ts":
                arrays.append(pa.array(t.meta["_ts"], pa.int64()).cast(field.type))
            elif field.name == "_before":
                arrays.append(t.before_array(field.type))
            elif field.name == "_unchanged":
                arrays.append(pa.array(t.unchanged, field.type))
            else:
                values = t.columns[t.names.index(field.name)]
                arrays.append(_array(values, field.type))
        table = pa.Table.from_arrays(arrays, schema=schema)
        target = out / table_name
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            table, target / "part-0.parquet", compression="zstd", row_group_size=128 * 1024
        )
        written += n
    return written
