"""Change-batch columns in the types Iceberg and Delta Lake tables can hold.

The Parquet sink's conversions come first (intervals as ``struct<months, days, nanoseconds>``,
see :mod:`arrowtail.sinks.parquet_types`); then what the table formats lack:

- extension types (``arrow.uuid``, ``arrow.json``) -> their storage type (16 fixed bytes, text);
  dictionary-encoded columns -> their value type;
- unsigned integers -> the next wider signed type; ``uint64`` -> ``decimal128(20, 0)``, which
  holds every value (Delta would cast it to ``int64`` and wrap values above 2^63 - 1);
- ``duration[us]`` (MySQL TIME, which can be negative or pass 24 h) -> ``int64`` microseconds;
- Delta only: ``time64[us]`` -> ``int64`` microseconds since midnight, ``fixed_size_binary`` ->
  ``binary`` (Delta has neither type).

Each changed field keeps the Arrow type it had in its metadata (``arrowtail.arrow_type``), and the
table keeps the original Arrow schema in a property, so :func:`restore` gives readers such as
``arrowtail verify`` the change batch's own types back.
"""

from __future__ import annotations

import base64

import pyarrow as pa

from arrowtail.sinks.parquet_types import convert_array as parquet_array
from arrowtail.sinks.parquet_types import convert_field as parquet_field

ARROW_TYPE_KEY = b"arrowtail.arrow_type"
_UNSIGNED = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.decimal128(20, 0),
}


def lake_type(t: pa.DataType, fmt: str) -> pa.DataType:
    """The type a column of Arrow type ``t`` gets in a table of format ``fmt``."""
    if isinstance(t, pa.BaseExtensionType):
        return lake_type(t.storage_type, fmt)
    if pa.types.is_dictionary(t):
        return lake_type(t.value_type, fmt)
    if t in _UNSIGNED:
        return _UNSIGNED[t]
    if pa.types.is_duration(t):
        return pa.int64()
    if fmt == "delta" and pa.types.is_time(t):
        return pa.int64()
    if fmt == "delta" and pa.types.is_fixed_size_binary(t):
        return pa.binary()
    if pa.types.is_large_string(t):
        return pa.string() if fmt == "iceberg" else t
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(lake_field(t.value_field, fmt))
    if pa.types.is_struct(t):
        return pa.struct([lake_field(t.field(i), fmt) for i in range(t.num_fields)])
    return t


def lake_field(f: pa.Field, fmt: str) -> pa.Field:
    f = parquet_field(f)
    t = lake_type(f.type, fmt)
    if t == f.type:
        return f
    metadata = dict(f.metadata or {})
    metadata[ARROW_TYPE_KEY] = str(f.type).encode()
    return f.with_type(t).with_metadata(metadata)


def lake_schema(schema: pa.Schema, fmt: str) -> pa.Schema:
    return pa.schema([lake_field(f, fmt) for f in schema])


def _storage(arr: pa.Array) -> pa.Array:
    if isinstance(arr, pa.ExtensionArray):
        return arr.storage
    if pa.types.is_dictionary(arr.type):
        return arr.dictionary_decode()
    return arr


def lake_array(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """``arr`` in type ``target`` (from :func:`lake_type`); values are kept exactly."""
    arr = parquet_array(_storage(arr))
    if arr.type == target:
        return arr
    t = arr.type
    if pa.types.is_duration(t) or pa.types.is_time(t):
        return arr.view(pa.int64()) if pa.types.is_time64(t) else arr.cast(pa.int64())
    if pa.types.is_struct(t) and pa.types.is_struct(target):
        children = [lake_array(arr.field(i), target.field(i).type) for i in range(t.num_fields)]
        mask = arr.is_null() if arr.null_count else None
        return pa.StructArray.from_arrays(children, fields=list(target), mask=mask)
    if (pa.types.is_list(t) or pa.types.is_large_list(t)) and pa.types.is_list(target):
        offsets = arr.offsets
        first, last = offsets[0].as_py(), offsets[-1].as_py()
        child = lake_array(arr.values.slice(first, last - first), target.value_type)
        rebased = pa.array([o - first for o in offsets.to_pylist()], pa.int32())
        mask = arr.is_null() if arr.null_count else None
        return pa.ListArray.from_arrays(rebased, child, type=target, mask=mask)
    return arr.cast(target)


def lake_batch(batch: pa.RecordBatch | pa.Table, schema: pa.Schema) -> pa.Table:
    """``batch``'s columns named in ``schema``, converted to its types (missing ones null)."""
    columns = []
    for field in schema:
        if field.name in batch.schema.names:
            col = batch.column(field.name)
            chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
            columns.append(
                pa.chunked_array([lake_array(c, field.type) for c in chunks], field.type)
            )
        else:
            columns.append(pa.nulls(batch.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def encode_schema(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def decode_schema(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def _struct_to_interval(arr: pa.StructArray) -> pa.Array:
    import numpy as np

    values = np.zeros(
        len(arr), dtype=np.dtype([("months", "<i4"), ("days", "<i4"), ("nanoseconds", "<i8")])
    )
    for name in ("months", "days", "nanoseconds"):
        child = arr.field(name).fill_null(0)
        values[name] = child.to_numpy(zero_copy_only=False)
    validity = arr.is_valid().buffers()[1] if arr.null_count else None
    return pa.Array.from_buffers(
        pa.month_day_nano_interval(), len(arr), [validity, pa.py_buffer(values.tobytes())]
    )


def restore(table: pa.Table, original: pa.Schema | None) -> pa.Table:
    """A table read back from a lake table, with the change batch's own types where the lake
        table stores another (integers back to durations, times and unsigned integers, storage back
    to uuid and json)."""
    if original is None:
        return table
    columns, fields = [], []
    for name in table.column_names:
        col = table.column(name)
        if name in original.names:
            want = original.field(name).type
            extension = want if isinstance(want, pa.BaseExtensionType) else None
            if extension is not None:
                want = extension.storage_type
            if pa.types.is_dictionary(want):
                want = want.value_type
            if want == pa.month_day_nano_interval() and pa.types.is_struct(col.type):
                col = _struct_to_interval(col.combine_chunks())
            elif col.type != want and (
                pa.types.is_duration(want)
                or pa.types.is_time(want)
                or pa.types.is_unsigned_integer(want)
                or pa.types.is_fixed_size_binary(want)
            ):
                col = col.cast(want)
            if extension is not None and col.type == want:
                col = pa.chunked_array(
                    [pa.ExtensionArray.from_storage(extension, c) for c in col.chunks], extension
                )
        columns.append(col)
        fields.append(pa.field(name, col.type))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))
