"""SQL value lists for MySQL/MariaDB built column-wise by Arrow, without a Python loop over rows.

``row_literals(table)`` gives one ``(v1, v2, ...)`` literal per row; ``statements`` packs them into
multi-row statements of bounded size. Every text and binary value is written as a hexadecimal
literal (``X'...'``, text as ``_utf8mb4 X'...'``; MySQL manual, "Hexadecimal Literals" and
"Character Set Introducers"), which the server converts to the column's character set, so no
value is ever escaped or can break out of its literal. Numbers are their decimal text; dates
and timestamps are quoted ISO text (timestamps with a time zone in UTC, matching the session's
``time_zone = '+00:00'``; the sink has refused years outside 1 to 9999 before); durations and
times are ``'[-]H:MM:SS.ffffff'`` (PostgreSQL's ``24:00:00`` included). Types without such a
form (lists, intervals, structs) return ``None`` and the caller falls back to PyMySQL's parameter
escaping.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from arrowtail.sinks.database.postgres_copy import hex_strings

#: Bytes per statement, well below the servers' default ``max_allowed_packet``.
MAX_STATEMENT_BYTES = 1 << 20


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of arrays and constant strings (null if any part is null)."""
    args = [
        pa.scalar(p, pa.large_string()) if isinstance(p, str) else p.cast(pa.large_string())
        for p in parts
    ]
    return pc.binary_join_element_wise(*args, pa.scalar("", pa.large_string()))


def _quoted(text: pa.Array) -> pa.Array:
    return _join("'", text, "'")


def _duration(array: pa.Array) -> pa.Array:
    micros = array.cast(pa.duration("us")).cast(pa.int64())
    sign = pc.if_else(pc.less(micros, 0), "-", "")
    total = pc.abs(micros)
    seconds = pc.divide(total, 1_000_000)
    fraction = pc.subtract(total, pc.multiply(seconds, 1_000_000))

    def pad(values: pa.Array, width: int) -> pa.Array:
        return pc.utf8_lpad(values.cast(pa.string()), width, "0")

    hours = pc.divide(seconds, 3600).cast(pa.string())
    minutes = pad(
        pc.divide(pc.subtract(seconds, pc.multiply(pc.divide(seconds, 3600), 3600)), 60), 2
    )
    secs = pad(pc.subtract(seconds, pc.multiply(pc.divide(seconds, 60), 60)), 2)
    text = pc.binary_join_element_wise(
        sign, hours, ":", minutes, ":", secs, ".", pad(fraction, 6), ""
    )
    return _quoted(text)


def literal(array: pa.Array) -> pa.Array | None:
    """SQL literals of one column (``NULL`` for nulls), or ``None`` if the type has none here."""
    t = array.type
    if isinstance(t, pa.BaseExtensionType):
        array, t = array.storage, t.storage_type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    out: pa.Array
    if pa.types.is_boolean(t):
        out = array.cast(pa.int8()).cast(pa.string())
    elif pa.types.is_integer(t) or pa.types.is_decimal(t):
        out = array.cast(pa.string())
    elif pa.types.is_floating(t) and t != pa.float16():
        out = array.cast(pa.string())
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        # The introducer makes it a text literal (MySQL 8 refuses binary strings for JSON).
        out = _join(hex_strings(array, b"_utf8mb4 X'"), "'")
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        out = _join(hex_strings(array.cast(pa.binary()), b"X'"), "'")
    elif t == pa.time64("us"):
        # As a duration: PostgreSQL's 24:00:00 is a TIME too, but out of range for Arrow's text.
        out = _duration(array.cast(pa.int64()).cast(pa.duration("us")))
    elif pa.types.is_date(t) or pa.types.is_time(t):
        out = _quoted(array.cast(pa.string()))
    elif pa.types.is_timestamp(t):
        if t.tz is not None:
            array = array.cast(pa.timestamp(t.unit))  # the UTC wall time
        out = _quoted(array.cast(pa.string()))
    elif pa.types.is_duration(t):
        out = _duration(array)
    else:
        return None
    return pc.fill_null(out.cast(pa.large_string()), "NULL")


def row_literals(table: pa.Table) -> pa.Array | None:
    """``(v1, v2, ...),`` per row (with a trailing comma), or ``None``."""
    columns = []
    for name in table.column_names:
        rendered = literal(table.column(name).combine_chunks())
        if rendered is None:
            return None
        columns.append(rendered)
    comma = pa.scalar(",", pa.large_string())
    return _join("(", pc.binary_join_element_wise(*columns, comma), "),")


def statements(prefix: str, rows: pa.Array, suffix: str) -> Iterator[str]:
    """``prefix`` + as many rows as fit in :data:`MAX_STATEMENT_BYTES` + ``suffix``, repeatedly."""
    rows = rows.cast(pa.large_string())
    n = len(rows)
    if n == 0:
        return
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset : rows.offset + n + 1]
    data = rows.buffers()[2].to_pybytes()
    budget = max(MAX_STATEMENT_BYTES - len(prefix) - len(suffix), 1)
    start = 0
    while start < n:
        end = int(np.searchsorted(offsets, offsets[start] + budget, side="right")) - 1
        end = min(max(end, start + 1), n)
        values = data[int(offsets[start]) : int(offsets[end]) - 1].decode("ascii")
        yield prefix + values + suffix
        start = end
