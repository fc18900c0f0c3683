"""Arrow types Parquet cannot store, and the lossless forms the Parquet sink writes instead.

docs/design.md requires that nothing is dropped. pyarrow writes most change-batch types directly:

- ``uuid`` (``arrow.uuid`` extension) -> ``FIXED_LEN_BYTE_ARRAY(16)`` with the UUID logical type;
  DuckDB reads it as ``UUID``. Plain ``fixed_size_binary(16)`` stays plain.
- ``json``/``jsonb`` (``arrow.json`` extension) -> ``BYTE_ARRAY`` with the JSON logical type.
- ``uint64`` -> ``INT64`` annotated unsigned (DuckDB ``UBIGINT``).
- ``duration[us]`` (MySQL TIME) -> ``INT64`` microseconds; pyarrow restores ``duration[us]``
  from the Arrow schema it stores in the file, other readers see ``BIGINT`` microseconds.
- ``timestamp[us, UTC]`` -> ``TIMESTAMP(isAdjustedToUTC=true, MICROS)``; ``timestamp[us]`` ->
  ``TIMESTAMP(isAdjustedToUTC=false, MICROS)``.

What is converted here (at any depth: inside lists and the ``_before`` struct too):

- ``month_day_nano`` interval -> ``struct<months: int32, days: int32, nanoseconds: int64>``; the
  field gets the metadata ``arrowtail.logical_type = interval_month_day_nano``, so a reader can
  tell it from a user struct.
- a struct without fields (the ``_before`` of a table without columns, which PostgreSQL allows)
  -> a column of type ``null``: Parquet has no empty groups. Nothing is lost: such a table
  cannot be updated, so its ``_before`` is always null.

The conversion is vectorised (views of the Arrow buffers through numpy); no row is visited in
Python.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from arrowtail.lazy import call

#: Field metadata key naming the Arrow type a converted column had.
LOGICAL_TYPE_KEY = b"arrowtail.logical_type"
INTERVAL_MDN = b"interval_month_day_nano"

INTERVAL_STRUCT = pa.struct(
    [
        pa.field("months", pa.int32(), nullable=False),
        pa.field("days", pa.int32(), nullable=False),
        pa.field("nanoseconds", pa.int64(), nullable=False),
    ]
)

_MDN_DTYPE = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanoseconds", "<i8")])


def needs_conversion(t: pa.DataType) -> bool:
    """True when ``t`` (or a type nested in it) cannot be written to Parquet as is."""
    if t == pa.month_day_nano_interval():
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return needs_conversion(t.value_type)
    if pa.types.is_struct(t):
        return t.num_fields == 0 or any(
            needs_conversion(t.field(i).type) for i in range(t.num_fields)
        )
    return False


def convert_type(t: pa.DataType) -> pa.DataType:
    """The Parquet-storable type of ``t``."""
    if t == pa.month_day_nano_interval():
        return INTERVAL_STRUCT
    if pa.types.is_list(t):
        return pa.list_(convert_field(t.value_field))
    if pa.types.is_large_list(t):
        return pa.large_list(convert_field(t.value_field))
    if pa.types.is_struct(t) and t.num_fields == 0:
        return pa.null()
    if pa.types.is_struct(t):
        return pa.struct([convert_field(t.field(i)) for i in range(t.num_fields)])
    return t


def convert_field(f: pa.Field) -> pa.Field:
    """``f`` with its Parquet-storable type, marked when its type changed."""
    if not needs_conversion(f.type):
        return f
    out = f.with_type(convert_type(f.type))
    if f.type == pa.month_day_nano_interval():
        metadata = dict(f.metadata or {})
        metadata[LOGICAL_TYPE_KEY] = INTERVAL_MDN
        out = out.with_metadata(metadata)
    return out


def convert_schema(schema: pa.Schema) -> pa.Schema:
    """The schema the Parquet sink writes for change batches of ``schema``."""
    return pa.schema([convert_field(f) for f in schema], metadata=schema.metadata)


def _interval_to_struct(arr: pa.Array) -> pa.Array:
    n = len(arr)
    values = np.frombuffer(arr.buffers()[1], dtype=_MDN_DTYPE)[arr.offset : arr.offset + n]
    children = [pa.array(np.ascontiguousarray(values[name])) for name in _MDN_DTYPE.names or ()]
    mask = arr.is_null() if arr.null_count else None
    return pa.StructArray.from_arrays(children, fields=list(INTERVAL_STRUCT), mask=mask)


def convert_array(arr: pa.Array) -> pa.Array:
    """``arr`` in its Parquet-storable form (itself when nothing needs converting)."""
    t = arr.type
    if not needs_conversion(t):
        return arr
    if t == pa.month_day_nano_interval():
        return _interval_to_struct(arr)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        list_cls = pa.ListArray if pa.types.is_list(t) else pa.LargeListArray
        # Flattening through the offsets keeps nulls and slicing right.
        offsets = arr.offsets
        values = arr.values
        first = offsets[0].as_py()
        last = offsets[-1].as_py()
        child = convert_array(values.slice(first, last - first))
        rebased = call("subtract", offsets, pa.scalar(first, offsets.type))
        mask = arr.is_null() if arr.null_count else None
        return list_cls.from_arrays(rebased, child, type=convert_type(t), mask=mask)
    if pa.types.is_struct(t) and t.num_fields == 0:
        return pa.nulls(len(arr))
    if pa.types.is_struct(t):
        children = [convert_array(arr.field(i)) for i in range(t.num_fields)]
        mask = arr.is_null() if arr.null_count else None
        fields = [convert_field(t.field(i)) for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(children, fields=fields, mask=mask)
    return arr


def convert_batch(batch: pa.RecordBatch, schema: pa.Schema | None = None) -> pa.RecordBatch:
    """``batch`` with every column in its Parquet-storable form."""
    if not any(needs_conversion(f.type) for f in batch.schema):
        return batch
    schema = schema or convert_schema(batch.schema)
    columns = [convert_array(c) for c in batch.columns]
    return pa.RecordBatch.from_arrays(columns, schema=schema)
