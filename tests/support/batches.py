"""Builds change batches shaped exactly like the contract in docs/design.md, for sink tests.

User columns first, then ``_op``, ``_pos``, ``_seq``, ``_xid``, ``_commit_ts``, ``_before`` (a
nullable struct of the user columns) and ``_unchanged`` (nullable list of column names), with the
``arrowtail.*`` schema metadata.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

META_FIELDS = ["_op", "_pos", "_seq", "_xid", "_commit_ts", "_before", "_unchanged"]


def change_schema(
    columns: Sequence[pa.Field],
    *,
    source: str = "postgres",
    table: str = "public.t",
    primary_key: Iterable[str] = ("id",),
    schema_version: int = 1,
) -> pa.Schema:
    """The change-batch schema of a table with these user columns."""
    user = [f.with_nullable(True) for f in columns]
    fields = [
        *user,
        pa.field("_op", pa.string(), nullable=False),
        pa.field("_pos", pa.uint64(), nullable=False),
        pa.field("_seq", pa.uint32(), nullable=False),
        pa.field("_xid", pa.uint64(), nullable=False),
        pa.field("_commit_ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("_before", pa.struct(user), nullable=True),
        pa.field("_unchanged", pa.list_(pa.string()), nullable=True),
    ]
    metadata = {
        "arrowtail.source": source,
        "arrowtail.table": table,
        "arrowtail.primary_key": ",".join(primary_key),
        "arrowtail.schema_version": str(schema_version),
    }
    return pa.schema(fields, metadata=metadata)


def change_batch(
    columns: Sequence[pa.Field],
    rows: Sequence[Mapping[str, Any]],
    **schema_kw: Any,
) -> pa.RecordBatch:
    """A change batch from row dicts.

    Each row maps user column names to values plus ``_op``, ``_pos`` and optionally ``_seq``
    (default: the row's index), ``_xid`` (default 1), ``_commit_ts`` (datetime or epoch micros;
    default 2024-01-01 UTC + ``_pos`` microseconds), ``_before`` (a dict or None) and
    ``_unchanged`` (a list of names or None).
    """
    schema = change_schema(columns, **schema_kw)
    names = [f.name for f in columns]
    data: dict[str, list[Any]] = {n: [] for n in [*names, *META_FIELDS]}
    epoch = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    for i, row in enumerate(rows):
        for n in names:
            data[n].append(row.get(n))
        data["_op"].append(row["_op"])
        data["_pos"].append(row["_pos"])
        data["_seq"].append(row.get("_seq", i))
        data["_xid"].append(row.get("_xid", 1))
        ts = row.get("_commit_ts", epoch + dt.timedelta(microseconds=row["_pos"]))
        data["_commit_ts"].append(ts)
        before = row.get("_before")
        data["_before"].append(None if before is None else {n: before.get(n) for n in names})
        data["_unchanged"].append(row.get("_unchanged"))
    arrays = [_array(data[f.name], f.type) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _array(values: list[Any], t: pa.DataType) -> pa.Array:
    """``pa.array`` that also handles extension types (uuid, json), at the top or in a struct."""
    if isinstance(t, pa.BaseExtensionType):
        return pa.ExtensionArray.from_storage(t, _array(values, t.storage_type))
    if pa.types.is_struct(t) and any(isinstance(f.type, pa.BaseExtensionType) for f in t):
        children = [
            _array([None if v is None else v.get(f.name) for v in values], f.type) for f in t
        ]
        mask = pa.array([v is None for v in values], pa.bool_())
        return pa.StructArray.from_arrays(children, fields=list(t), mask=mask)
    return pa.array(values, type=t)


def simple_rows(start: int, count: int, *, pos: int, op: str = "c") -> list[dict[str, Any]]:
    """``count`` rows of the ``(id int64, name string)`` table, ids from ``start``."""
    return [
        {"id": start + i, "name": f"n{start + i}", "_op": op, "_pos": pos} for i in range(count)
    ]


SIMPLE_COLUMNS = [pa.field("id", pa.int64()), pa.field("name", pa.string())]


# -- make_* helpers of the database sink and verify tests, on top of change_batch ---------------


def make_fields(columns: Sequence[pa.Field | tuple[str, pa.DataType]]) -> list[pa.Field]:
    """User columns as ``pa.Field`` objects (``(name, type)`` pairs accepted)."""
    return [c if isinstance(c, pa.Field) else pa.field(c[0], c[1]) for c in columns]


def make_schema(
    columns: Sequence[pa.Field | tuple[str, pa.DataType]], **schema_kw: Any
) -> pa.Schema:
    """:func:`change_schema` for ``pa.Field`` or ``(name, type)`` columns."""
    return change_schema(make_fields(columns), **schema_kw)


def make_batch(
    columns: Sequence[pa.Field | tuple[str, pa.DataType]],
    rows: Iterable[Mapping[str, Any]],
    **schema_kw: Any,
) -> pa.RecordBatch:
    """:func:`change_batch` for ``pa.Field`` or ``(name, type)`` columns."""
    return change_batch(make_fields(columns), list(rows), **schema_kw)


def make_changes(
    columns: Sequence[pa.Field | tuple[str, pa.DataType]],
    transactions: Sequence[Sequence[Mapping[str, Any]]],
    *,
    first_pos: int = 1000,
    **schema_kw: Any,
) -> pa.RecordBatch:
    """A batch of several transactions: each gets its own ``_pos`` (increasing by 100) and its
    rows ``_seq`` 0, 1, 2, ... in the order given."""
    rows = []
    for t, changes in enumerate(transactions):
        for s, change in enumerate(changes):
            rows.append({"_pos": first_pos + 100 * t, "_seq": s, **change})
    return make_batch(columns, rows, **schema_kw)
