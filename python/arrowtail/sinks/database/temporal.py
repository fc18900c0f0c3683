"""Dates, timestamps and times of change batches as text, computed from their integer values.

The PostgreSQL decoders keep every legal PostgreSQL value (docs/design.md, "Type mapping"):
``date32`` days and ``timestamp[us]`` microseconds since 1970 with BC dates as negative
(astronomical) years and years far above 9999, PostgreSQL's ±infinity as the smallest and
largest integers, and ``time64[us]`` up to PostgreSQL's ``24:00:00`` (86 400 000 000 µs). Python's
``datetime`` holds none of these (``to_pylist`` raises, or turns ``24:00:00`` into ``00:00:00``),
and Arrow's own casts to text print a minus sign instead of ``BC`` (which PostgreSQL does not
read) or ``<value out of range>``. :func:`pg_text` writes PostgreSQL's input form of each value
instead, column-wise with numpy and Arrow kernels (PostgreSQL docs, "Date/Time Input"):
``YYYY-MM-DD[ HH:MM:SS.ffffff[+00]][ BC]``, ``HH:MM:SS.ffffff``, ``infinity``, ``-infinity``.

:func:`out_of_years` finds the values outside the years 1 to 9999 that Python, MySQL and MariaDB
hold.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

US_PER_DAY = 86_400_000_000
#: PostgreSQL's -infinity/infinity as the decoders give them: the smallest and largest integers.
DATE_INFINITY = (-(2**31), 2**31 - 1)
TIMESTAMP_INFINITY = (-(2**63), 2**63 - 1)
#: Days since 1970-01-01 of 0001-01-01 and of 9999-12-31.
FIRST_DAY, LAST_DAY = -719_162, 2_932_896
FIRST_US, LAST_US = FIRST_DAY * US_PER_DAY, (LAST_DAY + 1) * US_PER_DAY - 1

_TIME_US = pa.time64("us")


def kind(t: pa.DataType) -> str | None:
    """``"date"``, ``"timestamp"`` or ``"time"`` for the types written here (``date32``,
    ``timestamp[us]`` with or without a time zone, ``time64[us]``); ``None`` for others."""
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_timestamp(t) and t.unit == "us":
        return "timestamp"
    if t == _TIME_US:
        return "time"
    return None


def _raw(array: pa.Array) -> pa.Array:
    """The integer storage of a date32, timestamp or time64 array."""
    return array.cast(pa.int32() if pa.types.is_date32(array.type) else pa.int64())


def infinities(array: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Masks of the -infinity and infinity sentinels (false for nulls and times)."""
    if kind(array.type) == "time":
        false = pa.array(np.zeros(len(array), dtype=bool))
        return false, false
    raw = _raw(array)
    low, high = DATE_INFINITY if kind(array.type) == "date" else TIMESTAMP_INFINITY
    return (
        pc.fill_null(pc.equal(raw, low), False),
        pc.fill_null(pc.equal(raw, high), False),
    )


def out_of_years(array: pa.Array) -> pa.Array:
    """Mask of the finite dates or timestamps before 0001-01-01 or after 9999-12-31 (nulls and
    ±infinity are false)."""
    raw = _raw(array)
    first, last = (FIRST_DAY, LAST_DAY) if kind(array.type) == "date" else (FIRST_US, LAST_US)
    low, high = infinities(array)
    outside = pc.or_(pc.less(raw, first), pc.greater(raw, last))
    finite = pc.invert(pc.or_(low, high))
    return pc.fill_null(pc.and_(outside, finite), False)


def needs_text(array: pa.Array) -> bool:
    """Whether Arrow's own rendering of ``array`` (a type :func:`kind` knows) is wrong for
    PostgreSQL: it holds ±infinity, a year outside 1 to 9999 or a time of 24:00:00."""
    if array.null_count == len(array):
        return False
    bounds = pc.min_max(_raw(array))
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if kind(array.type) == "time":
        return bool(high >= US_PER_DAY)
    # The ±infinity sentinels lie outside the years 1 to 9999 as well.
    first, last = (FIRST_DAY, LAST_DAY) if kind(array.type) == "date" else (FIRST_US, LAST_US)
    return bool(low < first or high > last)


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proleptic Gregorian (astronomical year, month, day) of days since 1970-01-01 (H. Hinnant,
    "chrono-Compatible Low-Level Date Algorithms", ``civil_from_days``)."""
    z = days.astype(np.int64) + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _digits(values: np.ndarray, width: int) -> pa.Array:
    """Non-negative integers as decimal text, left-padded with zeros to ``width``."""
    return pc.utf8_lpad(pa.array(values, pa.int64()).cast(pa.string()), width, "0")


def _clock(micros: np.ndarray) -> list[pa.Array | str]:
    """``HH:MM:SS.ffffff`` parts of microseconds into a day (hours may reach 24)."""
    seconds, fraction = np.divmod(micros, 1_000_000)
    minutes, second = np.divmod(seconds, 60)
    hour, minute = np.divmod(minutes, 60)
    return [
        _digits(hour, 2),
        ":",
        _digits(minute, 2),
        ":",
        _digits(second, 2),
        ".",
        _digits(fraction, 6),
    ]


def _join(parts: list[pa.Array | str]) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def pg_text(array: pa.Array) -> pa.Array:
    """PostgreSQL's input text of each value of a ``date32``, ``timestamp[us]`` (a time zone
    gives a UTC offset ``+00``) or ``time64[us]`` array; nulls stay null."""
    what = kind(array.type)
    if what is None:
        raise TypeError(f"no PostgreSQL date/time text for Arrow {array.type}")
    raw = _raw(array).cast(pa.int64())
    values = pc.fill_null(raw, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    if what == "time":
        text = _join(_clock(values))
    else:
        low, high = infinities(array)
        special = pc.or_(low, high).to_numpy(zero_copy_only=False)
        values = np.where(special, 0, values)
        if what == "date":
            days, micros = values, None
        else:
            days, micros = np.divmod(values, US_PER_DAY)
        year, month, day = _civil(days)
        bc = year <= 0  # year 0 is 1 BC
        parts: list[pa.Array | str] = [
            _digits(np.where(bc, 1 - year, year), 4),
            "-",
            _digits(month, 2),
            "-",
            _digits(day, 2),
        ]
        if micros is not None:
            parts += [" ", *_clock(micros)]
            if array.type.tz is not None:
                parts.append("+00")
        parts.append(pa.array(np.where(bc, " BC", "")))
        text = _join(parts)
        text = pc.if_else(low, "-infinity", pc.if_else(high, "infinity", text))
    if array.null_count:
        text = pc.if_else(pc.is_valid(array), text, pa.scalar(None, pa.string()))
    return text


def python_time_text(array: pa.Array) -> pa.Array:
    """``time64[us]`` values as ``str(datetime.time)`` writes them (``HH:MM:SS``, with
    ``.ffffff`` only when there are microseconds), ``24:00:00`` included; nulls stay null."""
    values = pc.fill_null(_raw(array), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    parts = _clock(values)
    whole = _join(parts[:5])
    text = pc.if_else(pa.array(values % 1_000_000 == 0), whole, _join(parts))
    if array.null_count:
        text = pc.if_else(pc.is_valid(array), text, pa.scalar(None, pa.string()))
    return text
