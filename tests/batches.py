"""Builds change batches with exactly the contract schema of DESIGN.md ("The change batch"), for
tests of sinks and consumers that must not depend on a decoder.

``make_batch(columns, rows, table=..., primary_key=...)`` takes the user columns as a list of
``pa.Field`` (or ``(name, type)``) and rows as dicts holding user column values plus ``_op``,
``_pos``, ``_seq`` and optionally ``_xid``, ``_commit_ts``, ``_before`` (dict) and ``_unchanged``
(list of column names).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def make_fields(columns: Sequence[pa.Field | tuple[str, pa.DataType]]) -> list[pa.Field]:
    """User columns as ``pa.Field`` objects."""
    return [c if isinstance(c, pa.Field) else pa.field(c[0], c[1]) for c in columns]


def make_schema(
    columns: Sequence[pa.Field | tuple[str, pa.DataType]],
    *,
    table: str = "public.items",
    primary_key: Sequence[str] = ("id",),
    source: str = "postgres",
    schema_version: int = 1,
) -> pa.Schema:
    """The change-batch schema for these user columns, with the ``arrowtail.*`` metadata."""
    fields = make_fields(columns)
    meta_fields = [
        pa.field("_op", pa.string(), nullable=False),
        pa.field("_pos", pa.uint64(), nullable=False),
        pa.field("_seq", pa.uint32(), nullable=False),
        pa.field("_xid", pa.uint64(), nullable=False),
        pa.field("_commit_ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("_before", pa.struct(fields), nullable=True),
        pa.field("_unchanged", pa.list_(pa.string()), nullable=True),
    ]
    metadata = {
        "arrowtail.source": source,
        "arrowtail.table": table,
        "arrowtail.primary_key": ",".join(primary_key),
        "arrowtail.schema_version": str(schema_version),
    }
    return pa.schema(fields + meta_fields, metadata=metadata)


def make_batch(
    columns: Sequence[pa.Field | tuple[str, pa.DataType]],
    rows: Iterable[dict[str, Any]],
    **schema_kw: Any,
) -> pa.RecordBatch:
    """One change batch; missing user values are null, ``_xid`` defaults to ``_pos``."""
    schema = make_schema(columns, **schema_kw)
    rows = list(rows)
    data: dict[str, list[Any]] = {name: [] for name in schema.names}
    for row in rows:
        for name in schema.names:
            value = row.get(name)
            if name == "_xid" and value is None:
                value = row["_pos"]
            elif name == "_commit_ts" and value is None:
                value = _EPOCH + dt.timedelta(microseconds=int(row["_pos"]))
            data[name].append(value)
    return pa.RecordBatch.from_arrays([_array(data[f.name], f.type) for f in schema], schema=schema)


def _array(values: list[Any], type_: pa.DataType) -> pa.Array:
    # pyarrow cannot build extension types (arrow.uuid) from Python objects, nor structs of them.
    if all(v is None for v in values):
        return pa.nulls(len(values), type_)
    if isinstance(type_, pa.ExtensionType):
        return pa.ExtensionArray.from_storage(type_, pa.array(values, type_.storage_type))
    return pa.array(values, type_)


def make_changes(
    columns: Sequence[pa.Field | tuple[str, pa.DataType]],
    transactions: Sequence[Sequence[dict[str, Any]]],
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
