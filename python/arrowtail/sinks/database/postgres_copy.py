"""COPY payloads for PostgreSQL built column-wise by Arrow, without a Python loop over rows.

``csv_payload(table)`` renders a table as PostgreSQL ``COPY ... (FORMAT csv)`` input with
pyarrow's CSV writer (PostgreSQL docs, "COPY", "CSV Format": an unquoted empty field is NULL, a
quoted empty string is an empty string; pyarrow quotes every string and leaves nulls unquoted).
Columns the CSV writer cannot render are first turned into their PostgreSQL text form with
vectorised kernels: ``bytea`` hex (``\\x0aff``), uuid as 32 hex digits, durations and intervals
as ``N microseconds`` (``M mons D days N microseconds``), lists as array literals
(``{"a",NULL}``), and dates, timestamps and times that Arrow's own text gets wrong for PostgreSQL
(±infinity, BC, years above 9999, ``24:00:00``) in PostgreSQL's input form
(:func:`arrowtail.sinks.database.temporal.pg_text`). Types without such a form (structs,
intervals with nanoseconds) return ``None`` and the caller falls back to psycopg's per-row COPY.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from arrowtail.sinks.database import temporal


def hex_strings(array: pa.Array, prefix: bytes) -> pa.Array:
    """Binary values as ``prefix`` + lower-case hex, as a large_string array (nulls stay null)."""
    array = array.cast(pa.large_binary())
    n = len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + n + 1]
    data = array.buffers()[2]
    raw = b"" if data is None else data.to_pybytes()[int(offsets[0]) : int(offsets[-1])]
    hexed = np.frombuffer(raw.hex().encode("ascii"), dtype=np.uint8)
    lengths = np.diff(offsets)
    width = len(prefix)
    new_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(width + 2 * lengths, out=new_offsets[1:])
    out = np.empty(int(new_offsets[-1]), dtype=np.uint8)
    body = np.ones(len(out), dtype=bool)
    starts = new_offsets[:-1]
    for i, byte in enumerate(prefix):
        out[starts + i] = byte
        body[starts + i] = False
    out[body] = hexed
    result = pa.LargeStringArray.from_buffers(n, pa.py_buffer(new_offsets), pa.py_buffer(out))
    if array.null_count:
        result = pc.if_else(pc.is_null(array), pa.scalar(None, pa.large_string()), result)
    return result


def _render(array: pa.Array) -> pa.Array | None:
    """``array`` in a form the CSV writer renders as PostgreSQL input, or ``None``."""
    t = array.type
    if isinstance(t, pa.BaseExtensionType):
        if t.extension_name == "arrow.uuid":
            return hex_strings(array.storage.cast(pa.binary()), b"")
        array, t = array.storage, t.storage_type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return hex_strings(array, b"\\x")
    if pa.types.is_fixed_size_binary(t):
        return hex_strings(array.cast(pa.binary()), b"\\x")
    if pa.types.is_duration(t):
        micros = array.cast(pa.duration("us")).cast(pa.int64()).cast(pa.string())
        return pc.binary_join_element_wise(micros, " microseconds", "")
    if temporal.kind(t) is not None:
        # Arrow's CSV writer is right (and quick) for the years 1 to 9999 and times before 24h.
        return temporal.pg_text(array) if temporal.needs_text(array) else array
    if t == pa.month_day_nano_interval():
        return _interval(array)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return array_literal(array)
    if (
        pa.types.is_boolean(t)
        or pa.types.is_integer(t)
        or (pa.types.is_floating(t) and t != pa.float16())
        or pa.types.is_decimal(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_date(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_time(t)
    ):
        return array
    return None


def _interval(array: pa.Array) -> pa.Array | None:
    """month-day-nano intervals as ``M mons D days U microseconds``; ``None`` when a value has
    nanoseconds (PostgreSQL keeps microseconds: the slow path reports the column)."""
    n = len(array)
    values = np.frombuffer(array.buffers()[1], dtype=_MDN)[array.offset : array.offset + n]
    if np.any(values["nanoseconds"] % 1000):
        return None
    parts = [
        pa.array(values["months"]).cast(pa.string()),
        " mons ",
        pa.array(values["days"]).cast(pa.string()),
        " days ",
        pa.array(values["nanoseconds"] // 1000).cast(pa.string()),
        " microseconds",
    ]
    text = pc.binary_join_element_wise(*parts, "")
    if array.null_count:
        text = pc.if_else(pc.is_null(array), pa.scalar(None, pa.string()), text)
    return text


_MDN = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanoseconds", "<i8")])


def array_literal(array: pa.Array) -> pa.Array | None:
    """Lists as PostgreSQL array input (PostgreSQL docs, "Arrays", "Array Value Input"): every
    element double-quoted with ``\\`` and ``"`` escaped, ``NULL`` for a null element,
    ``{...}`` around them; a null list stays null."""
    elements = _render(array.flatten())
    if elements is None or pa.types.is_list(elements.type):
        return None  # nested lists: PostgreSQL's multi-dimensional arrays are not lists
    text = elements.cast(pa.large_string())
    text = pc.replace_substring(text, "\\", "\\\\")
    text = pc.replace_substring(text, '"', '\\"')
    quote = pa.scalar('"', pa.large_string())
    empty = pa.scalar("", pa.large_string())
    text = pc.binary_join_element_wise(quote, text, quote, empty)
    text = pc.fill_null(text, "NULL")
    counts = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
    offsets = np.zeros(len(array) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), text)
    joined = pc.binary_join(lists, pa.scalar(",", pa.large_string()))
    out = pc.binary_join_element_wise(
        pa.scalar("{", pa.large_string()), joined, pa.scalar("}", pa.large_string()), empty
    )
    if array.null_count:
        out = pc.if_else(pc.is_null(array), pa.scalar(None, pa.large_string()), out)
    return out


def csv_payload(table: pa.Table, target_types: dict[str, str] | None = None) -> bytes | None:
    """``table`` as COPY CSV input (no header), or ``None`` if a column needs the slow path."""
    types = target_types or {}
    columns = []
    for name in table.column_names:
        array = table.column(name).combine_chunks()
        if types.get(name) == "uuid" and pa.types.is_fixed_size_binary(array.type):
            rendered = hex_strings(array.cast(pa.binary()), b"")
        else:
            rendered = _render(array)
        if rendered is None:
            return None
        columns.append(rendered)
    out = io.BytesIO()
    pacsv.write_csv(
        pa.table(columns, names=table.column_names),
        out,
        pacsv.WriteOptions(include_header=False),
    )
    return out.getvalue()
