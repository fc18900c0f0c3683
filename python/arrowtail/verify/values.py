"""Values that Python's ``datetime`` cannot hold, read the same way from PostgreSQL and from Arrow.

PostgreSQL's ``date``, ``timestamp``, ``timestamptz`` and ``time`` hold values outside Python's
range: ``±infinity``, dates before year 1 (``0044-03-15 BC``) or after 9999, and ``24:00:00``;
an ``interval`` may exceed ``timedelta``'s 999,999,999 days. psycopg refuses to load them
(``DataError``), and Arrow's ``to_pylist`` raises on them, or worse, turns a ``time64`` of
24:00:00 into 00:00:00. Verify reads both sides into one comparable form instead: a value Python
can hold stays a ``date``/``datetime``/``time``/``timedelta``; any other is an
:class:`OutOfRange` holding the count Arrow stores (docs/design.md, "Type mapping").

* PostgreSQL side: :func:`adapt` registers text loaders for these types on a verify cursor (never
  on the caller's connection). They parse PostgreSQL's own text output (``DateStyle=ISO``,
  ``IntervalStyle=postgres``, ``TimeZone=UTC``, pinned by the verify session) without any of
  arrowtail's decoders, so the comparison stays an independent check. A text they cannot parse
  becomes an :class:`OutOfRange` holding that text, which equals nothing: a difference, not a
  crash. The same cursor loads the types arrowtail keeps as their text (``DbSide.reading``) as
  the text PostgreSQL sends.
* Arrow side: :func:`arrow_values` converts a column (also inside lists) from its stored integers
  where it holds out-of-range values, and ``float32`` to the value a PostgreSQL driver reads from
  the shortest text of a ``real``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from psycopg.adapt import AdaptersMap, Dumper, Loader
from psycopg.types.string import StrDumperUnknown, TextLoader

#: Arrow's (and arrowtail's) sentinels for ±infinity: ``date32`` days, ``timestamp`` µs.
DATE_INFINITY = 2**31 - 1
DATE_MINUS_INFINITY = -(2**31)
TIMESTAMP_INFINITY = 2**63 - 1
TIMESTAMP_MINUS_INFINITY = -(2**63)
#: An infinite ``interval`` (PostgreSQL 17) in Arrow: every field at its maximum / minimum.
INTERVAL_INFINITY = (2**31 - 1, 2**31 - 1, 2**63 - 1)
INTERVAL_MINUS_INFINITY = (-(2**31), -(2**31), -(2**63))

DAY_US = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
#: Days since 1970-01-01 that ``datetime.date`` can hold.
_DAYS_MIN = dt.date.min.toordinal() - _EPOCH_ORDINAL
_DAYS_MAX = dt.date.max.toordinal() - _EPOCH_ORDINAL
#: Microseconds since 1970-01-01 00:00 that ``datetime.datetime`` can hold.
_US_MIN = _DAYS_MIN * DAY_US
_US_MAX = (_DAYS_MAX + 1) * DAY_US - 1
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class OutOfRange:
    """A ``date`` (days since 1970-01-01), ``timestamp`` (µs since 1970-01-01 00:00 UTC, with or
    without time zone), ``time`` (µs since midnight) or ``interval`` (µs, a month counted as 30
    days, or ``'infinity'`` / ``'-infinity'``) that Python's types cannot hold; ±infinity of a date
    or timestamp as Arrow's sentinels. ``value`` is the unparsed text when PostgreSQL's output
    could not be read (then it equals nothing read from Arrow)."""

    kind: str
    value: int | str

    def text(self) -> str:
        """PostgreSQL's input text of the value (binds it as a query parameter)."""
        value = self.value
        if isinstance(value, str):
            return value
        if self.kind == "date":
            if value in (DATE_INFINITY, DATE_MINUS_INFINITY):
                return "infinity" if value > 0 else "-infinity"
            return _date_text(value)
        if self.kind == "timestamp":
            if value in (TIMESTAMP_INFINITY, TIMESTAMP_MINUS_INFINITY):
                return "infinity" if value > 0 else "-infinity"
            days, micros = divmod(value, DAY_US)
            date = _date_text(days)
            bc = date.endswith(" BC")
            return date.removesuffix(" BC") + " " + _time_text(micros) + (" BC" if bc else "")
        if self.kind == "time":
            return _time_text(value)
        return f"{value} microseconds"

    def __repr__(self) -> str:
        return f"{self.kind} '{self.text()}'"


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date; ``year`` astronomical (1 BC is 0)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The inverse of :func:`days_from_civil`."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _date_text(days: int) -> str:
    year, month, day = civil_from_days(days)
    if year <= 0:
        return f"{1 - year:04d}-{month:02d}-{day:02d} BC"
    return f"{year:04d}-{month:02d}-{day:02d}"


def _time_text(micros: int) -> str:
    seconds, fraction = divmod(micros, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    text = f"{hour:02d}:{minute:02d}:{second:02d}"
    return text + (f".{fraction:06d}".rstrip("0") if fraction else "")


# PostgreSQL's output with DateStyle=ISO: a year of 4 or more digits, " BC" at the very end; a
# timestamptz carries its offset in the session's time zone (UTC here, so "+00").
_DATE = re.compile(r"(\d{4,})-(\d\d)-(\d\d)( BC)?\Z")
_TIMESTAMP = re.compile(
    r"(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?"
    r"(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?( BC)?\Z"
)
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?\Z")


def _micros(fraction: str | None) -> int:
    return int((fraction or "").ljust(6, "0"))


def pg_date(text: str) -> dt.date | OutOfRange:
    """A ``date`` from PostgreSQL's text."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    if text in ("infinity", "-infinity"):
        return OutOfRange("date", DATE_INFINITY if text == "infinity" else DATE_MINUS_INFINITY)
    m = _DATE.match(text)
    if m is None:
        return OutOfRange("date", text)
    year = int(m.group(1))
    return _arrow_date(
        days_from_civil(1 - year if m.group(4) else year, int(m.group(2)), int(m.group(3)))
    )


def pg_timestamp(text: str) -> dt.datetime | OutOfRange:
    """A ``timestamp`` or ``timestamptz`` (aware, then) from PostgreSQL's text."""
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    if text in ("infinity", "-infinity"):
        sentinel = TIMESTAMP_INFINITY if text == "infinity" else TIMESTAMP_MINUS_INFINITY
        return OutOfRange("timestamp", sentinel)
    m = _TIMESTAMP.match(text)
    if m is None:
        return OutOfRange("timestamp", text)
    year = int(m.group(1))
    days = days_from_civil(1 - year if m.group(12) else year, int(m.group(2)), int(m.group(3)))
    seconds = int(m.group(4)) * 3600 + int(m.group(5)) * 60 + int(m.group(6))
    if m.group(8):
        offset = int(m.group(9)) * 3600 + int(m.group(10) or 0) * 60 + int(m.group(11) or 0)
        seconds -= offset if m.group(8) == "+" else -offset
    return _arrow_timestamp(days * DAY_US + seconds * 1_000_000 + _micros(m.group(7)), "us")


def pg_time(text: str) -> dt.time | OutOfRange:
    """A ``time`` from PostgreSQL's text (``24:00:00`` is a valid one)."""
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        pass
    m = _TIME.match(text)
    if m is None:
        return OutOfRange("time", text)
    seconds = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
    return _arrow_time(seconds * 1_000_000 + _micros(m.group(4)))


_INTERVAL_UNITS = {"year": 12, "years": 12, "mon": 1, "mons": 1}
_CLOCK = re.compile(r"([+-]?)(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?\Z")


def pg_interval(text: str) -> dt.timedelta | OutOfRange:
    """An ``interval`` from PostgreSQL's text (IntervalStyle ``postgres``: ``1 year 2 mons -3
    days +04:05:06.789``) by PostgreSQL's own rule for comparing intervals: a year is 12 months,
    a month 30 days. (psycopg's loader counts a year as 365 days, which no Arrow interval
    does.)"""
    if text in ("infinity", "-infinity"):
        return OutOfRange("interval", text)
    months = days = micros = 0
    tokens = text.split()
    i = 0
    try:
        while i < len(tokens):
            clock = _CLOCK.match(tokens[i])
            if clock is not None:
                sign = -1 if clock.group(1) == "-" else 1
                seconds = int(clock.group(2)) * 3600 + int(clock.group(3)) * 60
                seconds += int(clock.group(4))
                micros += sign * (seconds * 1_000_000 + _micros(clock.group(5)))
                i += 1
                continue
            count, unit = int(tokens[i]), tokens[i + 1]
            if unit in ("day", "days"):
                days += count
            else:
                months += count * _INTERVAL_UNITS[unit]
            i += 2
    except (IndexError, KeyError, ValueError):
        return OutOfRange("interval", text)
    return interval(months, days, micros)


def interval(months: int, days: int, micros: int) -> dt.timedelta | OutOfRange:
    """An interval's three parts as one span (a month counted as 30 days): a ``timedelta``, or an
    :class:`OutOfRange` of the span in µs when ``timedelta`` cannot hold it."""
    try:
        return dt.timedelta(days=30 * months + days, microseconds=micros)
    except OverflowError:
        return OutOfRange("interval", (30 * months + days) * DAY_US + micros)


def arrow_interval(months: int, days: int, nanoseconds: int) -> dt.timedelta | OutOfRange:
    """An Arrow ``month_day_nano`` interval as :func:`interval` gives it."""
    if (months, days, nanoseconds) == INTERVAL_INFINITY:
        return OutOfRange("interval", "infinity")
    if (months, days, nanoseconds) == INTERVAL_MINUS_INFINITY:
        return OutOfRange("interval", "-infinity")
    return interval(months, days, nanoseconds // 1000)


class _TextLoader(Loader):
    parse: Any = None

    def load(self, data: Any) -> Any:
        return type(self).parse(bytes(data).decode())


class _DateLoader(_TextLoader):
    parse = staticmethod(pg_date)


class _TimestampLoader(_TextLoader):
    parse = staticmethod(pg_timestamp)


class _TimeLoader(_TextLoader):
    parse = staticmethod(pg_time)


class _IntervalLoader(_TextLoader):
    parse = staticmethod(pg_interval)


class _OutOfRangeDumper(Dumper):
    """An :class:`OutOfRange` key as a parameter: its text, of unknown type (the server reads it
    as the column's type)."""

    oid = 0

    def dump(self, obj: Any) -> bytes:
        return str(obj.text()).encode()


#: Text loaders by type OID: date, time, timestamp, timestamptz, interval.
_LOADERS: dict[int, type[Loader]] = {
    1082: _DateLoader,
    1083: _TimeLoader,
    1114: _TimestampLoader,
    1184: _TimestampLoader,
    1186: _IntervalLoader,
}


class BitString(str):
    """The text of a PostgreSQL ``bit`` or ``bit varying`` value (``0101``), marked as one so
    that :func:`~arrowtail.verify.sides.same_value` knows a one-bit string from other text."""


class HstoreText(str):
    """The text of an ``hstore`` value (``"k"=>"v", "n"=>NULL``), marked as one so that
    :func:`~arrowtail.verify.sides.same_value` can compare it with the JSON object of its pairs."""


class _BitLoader(Loader):
    def load(self, data: Any) -> Any:
        return BitString(bytes(data).decode())


class _HstoreLoader(Loader):
    def load(self, data: Any) -> Any:
        return HstoreText(bytes(data).decode())


#: The type OIDs of ``bit`` and ``bit varying``.
BIT_OIDS = (1560, 1562)

_HSTORE_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"=>(?:"((?:[^"\\]|\\.)*)"|(NULL))(?:, |\Z)')
_ESCAPED = re.compile(r"\\(.)", re.S)


def hstore_pairs(text: str) -> dict[str, str | None] | None:
    """The pairs of an ``hstore`` value's text as PostgreSQL prints it (every key and value
    quoted, ``\\`` before a quote or backslash in them, ``NULL`` for a null value); ``None``
    for other text."""
    pairs: dict[str, str | None] = {}
    at = 0
    while at < len(text):
        m = _HSTORE_PAIR.match(text, at)
        if m is None:
            return None
        value = None if m.group(3) else _ESCAPED.sub(r"\1", m.group(2))
        pairs[_ESCAPED.sub(r"\1", m.group(1))] = value
        at = m.end()
    return pairs


#: Types arrowtail keeps as the text PostgreSQL sends although they have a binary codec: json,
#: jsonb, timetz (also as the elements of their arrays).
TEXT_OIDS = (114, 3802, 1266)


def adapt(
    adapters: AdaptersMap, text_oids: Iterable[int] = (), hstore_oids: Iterable[int] = ()
) -> None:
    """Registers verify's loaders on ``adapters`` (a cursor's; arrays of these types use them for
    their elements): ``date``, ``time``, ``timestamp[tz]`` and ``interval`` as above, ``text_oids``
    and :data:`TEXT_OIDS` as the text PostgreSQL sends, bit strings as :class:`BitString` and
    ``hstore_oids`` (the extension's type, whose OID differs between databases) as
    :class:`HstoreText`. Parameters: an :class:`OutOfRange` as its text, a ``str`` as text of
    unknown type (the server reads it as the type it is compared with: a key read as its text
    binds back to its column)."""
    for oid, loader in _LOADERS.items():
        adapters.register_loader(oid, loader)
    for oid in (*TEXT_OIDS, *text_oids):
        adapters.register_loader(oid, TextLoader)
    for oid in BIT_OIDS:
        adapters.register_loader(oid, _BitLoader)
    for oid in hstore_oids:
        adapters.register_loader(oid, _HstoreLoader)
    adapters.register_dumper(OutOfRange, _OutOfRangeDumper)
    adapters.register_dumper(str, StrDumperUnknown)


def float32_value(value: float | None) -> float | None:
    """A single-precision value held in a double (MySQL/MariaDB ``FLOAT`` read as ``DOUBLE``),
    as :func:`arrow_values` gives a ``float32``: the double of its shortest text that reads back
    as the same single-precision value."""
    if value is None or not math.isfinite(value):
        return value
    packed = struct.pack("<f", value)
    for digits in range(1, 10):
        shorter = float(f"{value:.{digits}g}")
        try:
            if struct.pack("<f", shorter) == packed:
                return shorter
        except OverflowError:  # rounded past the largest single-precision value
            continue
    return value


def _delicate(kind: pa.DataType) -> bool:
    """Arrow types whose ``to_pylist`` may raise, mislead, or differ from a driver's value."""
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _delicate(kind.value_type)
    return (
        pa.types.is_date32(kind)
        or pa.types.is_timestamp(kind)
        or pa.types.is_time64(kind)
        or pa.types.is_float32(kind)
    )


_SCALE_TO_US = {"s": 1_000_000, "ms": 1_000, "us": 1}


def _in_range(ints: pa.Array, lo: int, hi: int) -> bool:
    bounds = pc.min_max(ints).as_py()
    return bounds["min"] is None or (lo <= bounds["min"] and bounds["max"] <= hi)


def arrow_values(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """The Python values of an Arrow column, where Python can hold them: dates, timestamps and
    times out of range (as above) become :class:`OutOfRange`, also inside lists; ``float32``
    becomes the double of its shortest text, as a driver reads a PostgreSQL ``real``."""
    if isinstance(column, pa.ChunkedArray):
        return [v for chunk in column.chunks for v in arrow_values(chunk)]
    kind = column.type
    if not _delicate(kind):
        return column.to_pylist()
    if pa.types.is_float32(kind):
        # Arrow prints a float32 in its shortest round-trip form, as PostgreSQL does a real.
        return column.cast(pa.string()).cast(pa.float64()).to_pylist()
    if pa.types.is_date32(kind):
        days = column.cast(pa.int32())
        if _in_range(days, _DAYS_MIN, _DAYS_MAX):
            return column.to_pylist()
        return [None if d is None else _arrow_date(d) for d in days.to_pylist()]
    if pa.types.is_timestamp(kind):
        ints = column.cast(pa.int64())
        scale = _SCALE_TO_US.get(kind.unit)
        if scale is None:  # nanoseconds: always within datetime's years, but for the sentinels
            lo, hi = TIMESTAMP_MINUS_INFINITY + 1, TIMESTAMP_INFINITY - 1
        else:
            lo, hi = -(-_US_MIN // scale), _US_MAX // scale
        if _in_range(ints, lo, hi):
            return column.to_pylist()
        return [None if v is None else _arrow_timestamp(v, kind.unit) for v in ints.to_pylist()]
    if pa.types.is_time64(kind):
        ints = column.cast(pa.int64())
        per_us = 1000 if kind.unit == "ns" else 1
        if _in_range(ints, 0, DAY_US * per_us - 1):
            return column.to_pylist()
        return [None if v is None else _arrow_time(v // per_us) for v in ints.to_pylist()]
    lengths = pc.list_value_length(column).to_pylist()
    flat = iter(arrow_values(pc.list_flatten(column)))
    return [None if n is None else [next(flat) for _ in range(n)] for n in lengths]


def _arrow_date(days: int) -> dt.date | OutOfRange:
    if _DAYS_MIN <= days <= _DAYS_MAX:
        return dt.date.fromordinal(_EPOCH_ORDINAL + days)
    return OutOfRange("date", days)


def _arrow_timestamp(value: int, unit: str) -> dt.datetime | OutOfRange:
    if value in (TIMESTAMP_INFINITY, TIMESTAMP_MINUS_INFINITY):
        return OutOfRange("timestamp", value)
    micros = value * _SCALE_TO_US[unit] if unit in _SCALE_TO_US else value // 1000
    if _US_MIN <= micros <= _US_MAX:
        return _NAIVE_EPOCH + dt.timedelta(microseconds=micros)
    return OutOfRange("timestamp", micros)


def _arrow_time(micros: int) -> dt.time | OutOfRange:
    if 0 <= micros < DAY_US:
        seconds, fraction = divmod(micros, 1_000_000)
        return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60, fraction)
    return OutOfRange("time", micros)
