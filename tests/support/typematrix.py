"""Helpers of the type matrix (test_type_matrix.py): comparable forms of values read from Arrow
(Parquet), from Debezium JSON (JSON lines, Kafka) and from the source database, and the replay of
Debezium messages.

Every value is brought into one "plain" form before comparing: dates as epoch days, timestamps
as epoch microseconds (PostgreSQL's ±infinity sentinels have no Python datetime), times and
durations as microseconds, intervals as ``[months, days, nanoseconds]``, uuids and binary as
bytes, decimals as ``Decimal``, lists element by element.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import struct
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pyarrow as pa

#: Placeholder Debezium writes for a value the source did not send (unchanged TOAST).
UNAVAILABLE = "__debezium_unavailable_value"

# How a column's value travels in Debezium JSON (see rust/arrowtail-core/src/serialize/encoder.rs).
PLAIN, FLOAT, DEC, BYTES, ISO, INTERVAL, UUID = (
    "plain",
    "float",
    "dec",
    "bytes",
    "iso",
    "interval",
    "uuid",
)


#: Kinds of Debezium's semantic types whose JSON differs from the source's own form: ``EnumSet``
#: (comma-joined labels), ``Bits`` (little-endian bytes, base64; a boolean for ``BIT(1)``) and
#: ``ZonedTime`` (time of day in UTC).
SET, BITS, ZONED_TIME = "set", "bits", "zonedtime"
#: Debezium's ``Timestamp`` and ``Time`` of a column declared with at most three fraction digits:
#: milliseconds, where the comparable form is microseconds.
MILLIS = "millis"

_TIMETZ = re.compile(r"(\d\d):(\d\d):(\d\d)(?:\.(\d+))?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?")


def timetz_in_utc(text: str) -> str:
    """PostgreSQL ``timetz`` text as the time of day in UTC, PostgreSQL's ``time`` text form."""
    m = _TIMETZ.fullmatch(text)
    assert m, f"not a timetz: {text!r}"
    h, mi, s, frac, sign, zh, zm, zs = m.groups()
    micros = ((int(h) * 60 + int(mi)) * 60 + int(s)) * 1_000_000 + int((frac or "").ljust(6, "0"))
    east = (int(zh) * 60 + int(zm or 0)) * 60 + int(zs or 0)
    micros = (micros - (east if sign == "+" else -east) * 1_000_000) % (86_400 * 1_000_000)
    seconds, fraction = divmod(micros, 1_000_000)
    out = f"{seconds // 3600:02}:{seconds // 60 % 60:02}:{seconds % 60:02}"
    return out + (f".{fraction:06}".rstrip("0") if fraction else "")


class UtcTimeOfDay:
    """A Debezium ``ZonedTime`` value; equal to the PostgreSQL ``timetz`` text of the same
    instant."""

    def __init__(self, text: str) -> None:
        assert text.endswith("Z"), f"not a ZonedTime: {text!r}"
        self.text = text[:-1]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, UtcTimeOfDay):
            return self.text == other.text
        if isinstance(other, str):
            return bool(_TIMETZ.fullmatch(other)) and self.text == timetz_in_utc(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"{self.text}Z"


UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def plain(value: Any) -> Any:
    """A value of a driver or of ``to_pylist`` in the comparable form."""
    if isinstance(value, pa.MonthDayNano):
        return [value.months, value.days, value.nanoseconds]
    if isinstance(value, dict) and set(value) == {"months", "days", "nanoseconds"}:
        return [value["months"], value["days"], value["nanoseconds"]]
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, str) and UUID_TEXT.fullmatch(value):
        # MariaDB's UUID type: the driver gives its 16 bytes, the change batch its text form.
        return uuid.UUID(value).bytes
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, bool):
        return value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return (value - dt.date(1970, 1, 1)).days
    return value


def arrow_plain_type(t: pa.DataType) -> pa.DataType:
    """The type an Arrow column is cast to before ``to_pylist`` (no Python datetime objects)."""
    if isinstance(t, pa.BaseExtensionType):
        return t
    if pa.types.is_date32(t):
        return pa.int32()
    if pa.types.is_timestamp(t) or pa.types.is_time64(t) or pa.types.is_duration(t):
        return pa.int64()
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(arrow_plain_type(t.value_type)))
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(arrow_plain_type(f.type)) for f in t])
    return t


def arrow_plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    fields = [f.with_type(arrow_plain_type(f.type)) for f in batch.schema]
    schema = pa.schema(fields, metadata=batch.schema.metadata)
    columns = [c.cast(f.type) for c, f in zip(batch.columns, fields, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = y // 400  # floor division: no adjustment for negative years
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


_ISO = re.compile(r"^([+-]?\d+)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z$")
_ISO_INTERVAL = re.compile(r"^P(-?\d+)Y(-?\d+)M(-?\d+)DT(-?\d+)H(-?\d+)M(-?)(\d+)(?:\.(\d+))?S$")


def _iso_micros(text: str) -> int:
    m = _ISO.match(text)
    assert m, f"not an ISO instant: {text!r}"
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    frac = int((m.group(7) or "").ljust(6, "0"))
    return (_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1_000_000 + frac


def _iso_interval(text: str) -> list[int]:
    m = _ISO_INTERVAL.match(text)
    assert m, f"not an ISO interval: {text!r}"
    years, months, days, hours, minutes = (int(g) for g in m.groups()[:5])
    seconds = int(m.group(7)) * 1_000_000_000 + int((m.group(8) or "").ljust(9, "0"))
    nanos = (hours * 60 + minutes) * 60_000_000_000 + (-seconds if m.group(6) else seconds)
    return [years * 12 + months, days, nanos]


def from_debezium(value: Any, kind: Any) -> Any:
    """A Debezium JSON value of a column of ``kind`` in the comparable form."""
    if value is None or value == UNAVAILABLE:
        return value
    if isinstance(kind, tuple):  # ("list", element kind)
        return [from_debezium(v, kind[1]) for v in value]
    if kind == FLOAT:
        return float(value)  # JSON has no NaN or infinity: Debezium writes "NaN", "Infinity"
    if kind == DEC:
        return Decimal(value)
    if kind == BYTES and isinstance(value, dict):
        # A MySQL/MariaDB spatial value as Debezium's Geometry (or Point) struct: the value as
        # the server stores it is the SRID (0 for none), then the WKB.
        return struct.pack("<i", value["srid"] or 0) + base64.b64decode(value["wkb"])
    if kind == BYTES:
        return base64.b64decode(value)
    if kind == ISO:
        return _iso_micros(value)
    if kind == INTERVAL:
        return _iso_interval(value)
    if kind == UUID:
        return uuid.UUID(value).bytes
    if kind == SET:
        return value.split(",") if value else []
    if kind == BITS:  # BIT(1) is a boolean, as Debezium's MySQL connectors send it
        if isinstance(value, bool):
            return int(value)
        return int.from_bytes(base64.b64decode(value), "little")
    if kind == ZONED_TIME:
        return UtcTimeOfDay(value)
    if kind == MILLIS:
        return value * 1000
    if kind == "myuuid":  # MariaDB's UUID type: its text form, or (today) base64 of its bytes
        return uuid.UUID(value).bytes if len(value) == 36 else base64.b64decode(value)
    return value


def debezium_replay(
    events: Iterable[dict[str, Any]], kinds: dict[str, Any], key: str = "id"
) -> dict[str, dict[Any, dict[str, Any]]]:
    """Applies Debezium change events (already in stream order, duplicates removed) per table,
    by the value of column ``key``: creates, snapshot reads and updates replace the row (a column
    carrying the unavailable-value placeholder keeps its earlier value, also across a key change,
    which Debezium sends as a delete and a create), deletes remove it, truncates empty the
    table. Values come back in the comparable form."""
    images: dict[str, dict[Any, dict[str, Any]]] = {}
    removed: dict[str, dict[Any, dict[str, Any]]] = {}
    for event in events:
        source = event["source"]
        table = f"{source.get('schema') or source['db']}.{source['table']}"
        image = images.setdefault(table, {})
        op = event["op"]
        if op == "t":
            image.clear()
            continue
        if op == "d":
            old = event["before"]
            row = image.pop(old[key], None)
            if row is not None:
                removed.setdefault(table, {})["last"] = row
            continue
        after = {c: from_debezium(v, kinds.get(c, PLAIN)) for c, v in event["after"].items()}
        if after.get(key) in (None, UNAVAILABLE) and event.get("before"):
            after[key] = event["before"][key]  # a MINIMAL image sends the key only before
        previous = image.get(after[key])
        if previous is None and event.get("before"):
            previous = image.get(event["before"][key])
        if previous is None:
            previous = removed.get(table, {}).get("last")
        for column, value in after.items():
            if value == UNAVAILABLE:
                assert previous is not None, f"{table}: {column} unavailable, no earlier row"
                after[column] = previous[column]
        before = event.get("before")
        if op == "u" and before and before[key] != after[key]:
            image.pop(before[key], None)
        image[after[key]] = after
    return images


def pg_position(source: dict[str, Any]) -> tuple[Any, ...]:
    """``(last commit, lsn, seq)`` of a PostgreSQL event: ordered like the commits, since a
    streamed change names the commit before its transaction (Debezium's ``sequence``), while its
    own ``lsn`` alone need not follow the commit order when transactions interleave."""
    last, lsn = 0, source["lsn"]
    if source.get("sequence"):
        first, own = json.loads(source["sequence"])
        last, lsn = int(first or 0), int(own)
    return (last, lsn, source["seq"])


def debezium_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events in ``(position, seq)`` order, a key change's delete before its create, duplicates
    (at-least-once delivery) dropped."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for event in events:
        source = event["source"]
        if "lsn" in source:
            pos: tuple[Any, ...] = pg_position(source)
        else:
            number = int(source["file"].rsplit(".", 1)[1])
            pos = (0, (number << 32) | source["pos"], source["seq"])
        table = f"{source.get('schema') or source['db']}.{source['table']}"
        seen.setdefault((*pos, event["op"] == "c", table), event)
    return [seen[k] for k in sorted(seen, key=lambda k: (k[0], k[1], k[2], k[3]))]


def jsonl_events(path: Any) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def assert_images_equal(
    got: dict[Any, dict[str, Any]], want: dict[Any, dict[str, Any]], where: str
) -> None:
    """Same keys; every column of ``want`` equal in ``got`` (both in the comparable form)."""
    assert sorted(got, key=repr) == sorted(want, key=repr), f"{where}: keys differ"
    for key, row in want.items():
        for column, value in row.items():
            mine = plain(got[key].get(column))
            assert mine == plain(value), (
                f"{where} row {key} column {column}: output {mine!r}, source {plain(value)!r}"
            )
