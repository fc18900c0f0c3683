"""The two sides ``arrowtail verify`` compares: a PostgreSQL or MySQL/MariaDB database, or a
Parquet directory of change batches replayed by primary key.

A database side answers range questions over a table ordered by its primary key (``lo`` inclusive,
``hi`` exclusive, ``None`` unbounded): a digest computed by the server (count plus a hash of the
rows, so only 2 values cross the network per chunk), the key at an offset (to split a
range), and the rows themselves, normalised to plain Python values so that rows from different
engines and from Parquet compare equal when they hold the same data.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import ipaddress
import json
import math
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from arrowtail.changes import META_COLUMNS, replay, replay_rows, table_info
from arrowtail.exceptions import ConfigError, SourceError
from arrowtail.redact import scrub
from arrowtail.sinks.parquet import table_dir_name, table_of_dir
from arrowtail.sources.postgres.admin import has_binary_decoder
from arrowtail.sources.postgres.keys import change_key
from arrowtail.verify.values import (
    BitString,
    HstoreText,
    OutOfRange,
    adapt,
    arrow_interval,
    arrow_values,
    float32_value,
    hstore_pairs,
    interval,
)

Key = tuple
Bound = Key | None
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "mysql", "performance_schema", "sys")


def split_table(table: str) -> tuple[str, str]:
    """``schema.table`` at the first dot (as everywhere in arrowtail); no dot: no schema."""
    schema, dot, name = table.partition(".")
    return (schema, name) if dot else ("", schema)


#: The canonical text of a uuid.
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\Z")


def normalise(value: Any) -> Any:
    """One value in a form that compares equal across drivers and Arrow."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if isinstance(value, (memoryview, bytearray)):
        return bytes(value)
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, pa.MonthDayNano):
        # Before the tuple case: pyarrow's MonthDayNano is a named tuple.
        return arrow_interval(value.months, value.days, value.nanoseconds)
    if isinstance(value, dt.time) and value.tzinfo is not None:
        return _timetz_text(value)
    if isinstance(value, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        # PostgreSQL's inet text: the prefix only when it is not the whole address.
        if value.network.prefixlen == value.max_prefixlen:
            return str(value.ip)
        return value.with_prefixlen
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return value.with_prefixlen
    if isinstance(value, (list, tuple)):
        return tuple(normalise(v) for v in value)
    if isinstance(value, dict):
        if set(value) == {"months", "days", "nanoseconds"}:
            # An interval as the Parquet sink stores it; compared as one span with a month
            # counted as 30 days (PostgreSQL's rule for comparing intervals, and how verify reads
            # a PostgreSQL interval: values.pg_interval).
            return arrow_interval(value["months"], value["days"], value["nanoseconds"])
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    if isinstance(value, str) and value[:1] in ("{", "["):
        # JSON travels as text (docs/design.md) while drivers hand out parsed documents; both sides
        # pass through here, so a text that merely looks like JSON still compares fairly.
        try:
            doc = json.loads(value)
        except ValueError:
            return value
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return value


def _timetz_text(value: dt.time) -> str:
    """A ``time with time zone`` as PostgreSQL prints it (``12:00:00.5+05:30``, ``08:00:00+00``):
    the type has no Arrow mapping, so a copy made by arrowtail holds this text."""
    text = value.replace(tzinfo=None).isoformat()
    if "." in text:
        text = text.rstrip("0")
    offset = value.utcoffset() or dt.timedelta()
    sign = "-" if offset < dt.timedelta() else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    zone = f"{sign}{minutes // 60:02d}" + (f":{minutes % 60:02d}" if minutes % 60 else "")
    return text + zone


#: Debezium's ``io.debezium.time.Interval`` text, which Debezium's JDBC sink stores as it is.
DEBEZIUM_INTERVAL = re.compile(r"P(-?\d+)Y(-?\d+)M(-?\d+)DT(-?\d+)H(-?\d+)M(-?\d+(?:\.\d+)?)S\Z")


def _debezium_interval(m: re.Match[str]) -> dt.timedelta | OutOfRange:
    """An interval text as verify reads a PostgreSQL interval (values.pg_interval): a year
    counted as 12 months, a month as 30 days."""
    years, months, days, hours, minutes = (int(g) for g in m.groups()[:5])
    micros = int(Decimal(m.group(6)) * 1_000_000) + (hours * 60 + minutes) * 60_000_000
    return interval(12 * years + months, days, micros)


def same_value(a: Any, b: Any) -> bool:
    """Equal normalised values, or one datum in the forms two engines give for the same Arrow
    type (docs/design.md, "Type mapping"), as when a MySQL table moved to PostgreSQL: a DECIMAL
    wider than 38 digits travels as text, BIT(n) as uint64 (an integer column), SET as
    list<string> (an array column), MariaDB's UUID as a PostgreSQL uuid. Also the forms
    Debezium's JDBC sink stores: an interval as Debezium's ISO text, BIT(n) as a PostgreSQL bit
    string, MariaDB's INET6 as its 16 bytes, PostgreSQL money as a decimal, a PostgreSQL bit
    string of one bit as a boolean, an hstore as the JSON object of its pairs. NaN is the same as
    NaN; arrays (tuples) are compared element by element by these rules."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if _is_nan(a) and _is_nan(b):
        return True
    for x, y in ((a, b), (b, a)):
        if isinstance(x, Decimal) and isinstance(y, str):
            try:
                number = Decimal(y)
            except InvalidOperation:
                # PostgreSQL money text ('-$1,234.50'), stored as a decimal by Debezium's JDBC
                # sink.
                amount = _money(y)
                return amount is not None and x == amount
            # A numeric wider than a decimal128 (or NaN, ±Infinity) travels as its text.
            if x.is_nan() or number.is_nan():
                return x.is_nan() and number.is_nan()
            return x == number
        if isinstance(x, bytes) and isinstance(y, (int, Decimal)):
            return int.from_bytes(x, "big") == y
        if isinstance(x, str) and isinstance(y, tuple):
            elements = _json_array(x)
            if elements is not None:
                # A PostgreSQL array on a MySQL/MariaDB target (sqltypes.json_arrays).
                return len(elements) == len(y) and all(
                    _same_element(e, v) for e, v in zip(elements, y, strict=True)
                )
            return set(x.split(",")) - {""} == set(y)
        if isinstance(x, str) and isinstance(y, bytes) and len(y) == 16 and UUID_TEXT.match(x):
            # MariaDB's UUID as its text, in a PostgreSQL uuid column (normalised to bytes).
            return uuid.UUID(x).bytes == y
        if isinstance(x, (dt.timedelta, OutOfRange)) and isinstance(y, str):
            m = DEBEZIUM_INTERVAL.match(y)
            if m is not None:
                return x == _debezium_interval(m)
            m = INTERVAL_TEXT.match(y)
            return m is not None and x == interval(*(int(g) for g in m.groups()))
        if isinstance(x, bytes) and isinstance(y, str) and y and set(y) <= {"0", "1"}:
            return int.from_bytes(x, "big") == int(y, 2)
        if isinstance(x, str) and isinstance(y, bytes) and len(y) == 16 and ":" in x:
            try:
                return ipaddress.IPv6Address(x) == ipaddress.IPv6Address(y)
            except ValueError:
                return False
        if isinstance(x, str) and isinstance(y, bytes) and len(y) == 4 and "." in x:
            # MariaDB's INET4: its text from the server, its 4 bytes from the binlog.
            try:
                return ipaddress.IPv4Address(x).packed == y
            except ValueError:
                return False
        if isinstance(x, BitString) and len(x) == 1 and isinstance(y, int) and y in (0, 1):
            # A bit(1) or bit varying(1) as a boolean (Debezium's form, in a boolean column).
            return int(x) == y
        if isinstance(x, HstoreText) and isinstance(y, str) and y.startswith("{"):
            # An hstore as the JSON object of its pairs (Debezium's form, in a json column).
            try:
                doc = json.loads(y)
            except ValueError:
                return False
            return hstore_pairs(x) == doc
        if isinstance(x, dt.timedelta) and isinstance(y, dt.time) and y.tzinfo is None:
            # A MySQL TIME within one day, written to a PostgreSQL `time` column (as Debezium's
            # JDBC sink creates it for MicroTime).
            of_day = dt.timedelta(
                hours=y.hour, minutes=y.minute, seconds=y.second, microseconds=y.microsecond
            )
            return x == of_day
    return False


#: The text an interval gets in a MySQL/MariaDB target's column or array (sqltypes._interval_text).
INTERVAL_TEXT = re.compile(r"(-?\d+) mons (-?\d+) days (-?\d+) microseconds\Z")

#: JSON strings that stand for the floats JSON has no number for.
_FLOAT_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _json_array(text: str) -> list[Any] | None:
    """The elements of a JSON array text, or ``None`` when ``text`` is not one."""
    if not text.startswith("["):
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, list) else None


def _same_element(element: Any, value: Any) -> bool:
    """An element of a JSON array written by a MySQL/MariaDB target (sqltypes.json_arrays) and
    the normalised element of the source's array: the JSON forms of values JSON has no type for
    (base64 binary, ISO dates and times, non-finite floats, decimals as strings) read back."""
    if same_value(normalise(element), value):
        return True
    if not isinstance(element, str) or value is None:
        return False
    if isinstance(value, float) and element in _FLOAT_WORDS:
        return same_value(_FLOAT_WORDS[element], value)
    if isinstance(value, OutOfRange) and value.kind == "time":
        return element == value.text()  # 24:00:00
    try:
        if isinstance(value, bytes):
            return base64.b64decode(element, validate=True) == value
        if isinstance(value, dt.datetime):
            return normalise(dt.datetime.fromisoformat(element)) == value
        if isinstance(value, dt.date):
            return dt.date.fromisoformat(element) == value
        if isinstance(value, dt.time):
            return dt.time.fromisoformat(element) == value
    except ValueError:
        return False
    return False


def _is_nan(value: Any) -> bool:
    """A float or decimal NaN (which never equals itself)."""
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, Decimal) and value.is_nan()


#: PostgreSQL's money text: a sign or parentheses, a currency symbol, grouped digits.
MONEY_TEXT = re.compile(r"(-?)(\(?)[^\d(),.\s-]{1,4}([\d,]*\d(?:\.\d+)?)\)?\Z")


def _money(text: str) -> Decimal | None:
    """The amount of a money text (``-$1,234.50``, ``($5.00)``); None for other text."""
    m = MONEY_TEXT.match(text)
    if m is None:
        return None
    amount = Decimal(m.group(3).replace(",", ""))
    return -amount if m.group(1) or m.group(2) else amount


def same_row(a: tuple, b: tuple) -> bool:
    """Rows of normalised values that hold the same data (see :func:`same_value`)."""
    return a == b or (len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True)))


#: Session settings of a PostgreSQL side.
PG_SETTINGS = (
    "SET TIME ZONE 'UTC'",
    "SET DateStyle = 'ISO'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 3",
)


@dataclass
class Reading:
    """How a PostgreSQL table's columns are read (:meth:`DbSide.reading`): type OIDs loaded as
    the text PostgreSQL sends, and columns cast in the query (column → SQL type)."""

    text_oids: set[int] = field(default_factory=set)
    #: The OID of ``hstore`` when the table has such a column (an extension's type).
    hstore_oids: set[int] = field(default_factory=set)
    casts: dict[str, str] = field(default_factory=dict)
    #: MySQL/MariaDB DATE, DATETIME and TIMESTAMP columns: a zero date reads as NULL, as
    #: arrowtail stores it (PyMySQL would give the text '0000-00-00').
    zero_dates: set[str] = field(default_factory=set)
    #: MySQL/MariaDB FLOAT columns: read as DOUBLE, times ``1e0`` (the text protocol gives a
    #: FLOAT six digits, so values that differ in the seventh would look equal, and equal ones
    #: differ from the source's), then taken as the single-precision value
    #: (:func:`float32_value`).
    floats: set[str] = field(default_factory=set)

    def taken(self, cols: list[str], rows: Iterator[tuple] | list[tuple]) -> Iterator[tuple]:
        """``rows`` (in ``cols`` order) with the FLOAT columns' values made single-precision."""
        at = [i for i, c in enumerate(cols) if c in self.floats]
        if not at:
            yield from rows
            return
        for row in rows:
            values = list(row)
            for i in at:
                values[i] = float32_value(values[i])
            yield tuple(values)


#: Keys per ``IN (...)`` list when rows are fetched by key.
_KEYS_PER_QUERY = 500


def keyed(rows: Any, cols: list[str], pk: tuple[str, ...]) -> dict[Key, tuple]:
    """Rows (tuples in ``cols`` order) normalised and indexed by their primary key."""
    index = [cols.index(k) for k in pk]
    out = {}
    for r in rows:
        values = tuple(normalise(v) for v in r)
        out[tuple(values[i] for i in index)] = values
    return out


class DbSide:
    """A PostgreSQL (psycopg) or MySQL/MariaDB (PyMySQL) connection."""

    def __init__(self, conn: Any, engine: str, database: str | None = None) -> None:
        self.conn = conn
        self.engine = engine
        self.database = database
        #: ``schema.table`` → SQL condition: only rows passing it are compared.
        self.row_filters: dict[str, str] = {}
        #: ``schema.table`` → how its columns are read (PostgreSQL).
        self._reading: dict[str, Reading] = {}
        #: ``schema.table`` → (schema, table), for names with more than one dot.
        self._splits: dict[str, tuple[str, str]] = {}
        if engine == "postgres":
            # The text forms arrowtail stores are the walsender's in these settings (see
            # PINNED_SETTINGS in sources/postgres/replication.py), and verify's loaders
            # (values.py) parse these forms.
            for setting in PG_SETTINGS:
                conn.execute(setting)
        else:
            self._run("SET SESSION time_zone = '+00:00', group_concat_max_len = 1073741824")

    @classmethod
    def from_url(cls, url: str, password: str | None = None) -> DbSide:
        """Connects to ``postgresql://...`` or ``mysql://user:pass@host:port/db``; ``password``
        (from the environment, say) is used when the URL has none."""
        from arrowtail.config import is_pg_conninfo

        parsed = urlparse(url)
        conninfo = is_pg_conninfo(url)
        try:
            if conninfo or parsed.scheme in ("postgres", "postgresql"):
                import psycopg

                if password and not parsed.password:
                    conn = psycopg.connect(url, autocommit=True, password=password)
                else:
                    conn = psycopg.connect(url, autocommit=True)
                return cls(conn, "postgres")
            if parsed.scheme in ("mysql", "mariadb"):
                import pymysql

                database = parsed.path.lstrip("/") or None
                conn = pymysql.connect(
                    host=parsed.hostname or "127.0.0.1",
                    port=parsed.port or 3306,
                    user=unquote(parsed.username or ""),
                    password=unquote(parsed.password or "") or password or "",
                    database=database,
                    autocommit=True,
                    charset="utf8mb4",
                )
                return cls(conn, "mysql", database)
        except Exception as exc:
            where = "PostgreSQL" if conninfo else f"{parsed.scheme}://{parsed.hostname}"
            raise SourceError(f"cannot connect to {where}: {scrub(str(exc))}") from exc
        raise ConfigError(f"not a database URL: {parsed.scheme}://... (postgresql:// or mysql://)")

    @classmethod
    def from_connection(cls, conn: Any) -> DbSide:
        """Wraps an open psycopg or PyMySQL connection."""
        if type(conn).__module__.startswith("psycopg"):
            return cls(conn, "postgres")
        if type(conn).__module__.startswith("pymysql"):
            return cls(conn, "mysql", getattr(conn, "db", None) and conn.db.decode())
        raise ConfigError(f"unsupported connection object {type(conn).__name__}")

    def _run(self, sql: str, params: Any = None, reading: Reading | None = None) -> list[tuple]:
        if self.engine == "postgres":
            # verify's loaders on this cursor only: the connection may be the caller's.
            with self.conn.cursor() as pg_cur:
                if reading is None:
                    adapt(pg_cur.adapters)
                else:
                    adapt(pg_cur.adapters, reading.text_oids, reading.hstore_oids)
                pg_cur.execute(sql, params)
                return pg_cur.fetchall() if pg_cur.description else []
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def q(self, name: str) -> str:
        """A quoted identifier."""
        if self.engine == "postgres":
            return '"' + name.replace('"', '""') + '"'
        return "`" + name.replace("`", "``") + "`"

    def relation(self, table: str) -> str:
        """What the comparison reads ``table`` from: the table, or only its rows that pass the
        row filter set for it in :attr:`row_filters` (a publication's ``WHERE``)."""
        where = self.row_filters.get(table)
        if where is None:
            return self.qualified(table)
        alias = self.q(self.split(table)[1])
        return f"(SELECT * FROM {self.qualified(table)} WHERE {where}) AS {alias}"

    def split(self, table: str) -> tuple[str, str]:
        """``schema.table`` as schema and table. At the first dot, as everywhere in arrowtail,
        unless PostgreSQL has no such table but has one at a later dot: a schema whose name
        holds a dot (``"my.sch".t`` is ``my.sch.t``)."""
        first = split_table(table)
        if self.engine != "postgres" or table.count(".") < 2:
            return first
        if table not in self._splits:
            self._splits[table] = first
            for at in [i for i, c in enumerate(table) if c == "."]:
                schema, name = table[:at], table[at + 1 :]
                found = self._run(
                    "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL",
                    (schema, name),
                )
                if found and found[0][0]:
                    self._splits[table] = (schema, name)
                    break
        return self._splits[table]

    def qualified(self, table: str) -> str:
        schema, name = self.split(table)
        return f"{self.q(schema)}.{self.q(name)}" if schema else self.q(name)

    def tables(self) -> list[str]:
        """User tables as ``schema.table`` (MySQL: the URL's database, else every database)."""
        sql = (
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE' AND table_name <> 'arrowtail_state'"
            f" AND table_schema NOT IN {_SYSTEM_SCHEMAS!r}"
        )
        params = None
        if self.engine == "mysql" and self.database:
            sql += " AND table_schema = %s"
            params = (self.database,)
        return sorted(f"{s}.{t}" for s, t in self._run(sql, params))

    def describe(self, table: str) -> tuple[list[str], tuple[str, ...]]:
        """Column names and primary key; empty columns when the table does not exist.

        PostgreSQL's generated columns are left out: the capture carries none (pgoutput does
        not send them, and the snapshot reads the same columns), and a target computes its own.
        """
        schema, name = self.split(table)
        schema = schema or (self.database if self.engine == "mysql" else "public") or ""
        generated = " AND is_generated = 'NEVER'" if self.engine == "postgres" else ""
        cols = [
            r[0]
            for r in self._run(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                f" AND table_name = %s{generated} ORDER BY ordinal_position",
                (schema, name),
            )
        ]
        if self.engine == "mysql":
            # A primary key is always named PRIMARY there, and a user with only SELECT on the
            # table sees its KEY_COLUMN_USAGE rows but not always its TABLE_CONSTRAINTS row.
            pk = self._run(
                "SELECT column_name FROM information_schema.key_column_usage"
                " WHERE constraint_name = 'PRIMARY' AND table_schema = %s AND table_name = %s"
                " ORDER BY ordinal_position",
                (schema, name),
            )
            return cols, tuple(r[0] for r in pk)
        # From the catalog: information_schema lists constraints only of tables the role holds a
        # privilege other than SELECT on, and a capture role has only SELECT.
        found = self._run(
            "SELECT i.indisprimary, a.attname FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indrelid"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE (i.indisprimary OR (i.indisreplident AND c.relreplident = 'i'))"
            " AND i.indrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))"
            " ORDER BY array_position(i.indkey::int2[], a.attnum)",
            (schema, name),
        )
        primary = [str(r[1]) for r in found if r[0]]
        identity = [str(r[1]) for r in found if not r[0]]
        # Compared by what arrowtail keys the table's changes by.
        return cols, change_key(primary, identity)

    def reading(self, table: str) -> Reading:
        """How the columns of ``table`` are read to compare fairly with what arrowtail stores
        (docs/design.md, "Type mapping"), PostgreSQL only (MySQL: as they are).

        A type arrowtail carries as its text form (one without a binary codec, decided as
        ``table_columns`` in ``sources/postgres/snapshot.py`` decides it: ranges, multiranges,
        inet, money, xml, arrays of these, composites, ...) is loaded as the text its output
        function gives (a cast to text can differ: ``inet``'s keeps a host's ``/32``); json,
        jsonb and timetz too (arrowtail keeps their text), also as elements of arrays (so a
        JSON null element stays the text ``null``, apart from an SQL NULL element). An array of
        an enum is cast to ``text[]`` (the labels), which psycopg would give as one text.
        MySQL/MariaDB: a zero date (``0000-00-00``) is read as NULL, a FLOAT as a DOUBLE."""
        if self.engine != "postgres":
            if table not in self._reading:
                schema, name = self.split(table)
                rows = self._run(
                    "SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = %s AND table_name = %s"
                    " AND data_type IN ('date', 'datetime', 'timestamp', 'float')",
                    (schema or self.database, name),
                )
                self._reading[table] = Reading(
                    zero_dates={r[0] for r in rows if r[1] != "float"},
                    floats={r[0] for r in rows if r[1] == "float"},
                )
            return self._reading[table]
        if table not in self._reading:
            schema, name = self.split(table)
            rows = self._run(
                "SELECT a.attname,"
                " CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,"
                " t.typtype, et.typtype, t.typname"
                " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
                " LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'"
                " WHERE a.attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))"
                " AND a.attnum > 0 AND NOT a.attisdropped",
                (schema or "public", name),
            )
            reading = Reading()
            for column, oid, typtype, elem_typtype, typname in rows:
                if typname == "hstore":
                    reading.hstore_oids.add(int(oid))
                elif not has_binary_decoder(oid, typtype, elem_typtype):
                    reading.text_oids.add(int(oid))
                elif elem_typtype == "e":
                    reading.casts[column] = "text[]"
            self._reading[table] = reading
        return self._reading[table]

    def _select(self, table: str, cols: list[str]) -> list[str]:
        """The select-list expressions of ``cols`` (each named as the column)."""
        reading = self.reading(table)
        casts, zero_dates = reading.casts, reading.zero_dates
        return [
            f"{self.q(c)}::{casts[c]} AS {self.q(c)}"
            if c in casts
            else f"NULLIF({self.q(c)}, 0) AS {self.q(c)}"
            if c in zero_dates
            else f"{self.q(c)} * 1e0 AS {self.q(c)}"
            if c in reading.floats
            else self.q(c)
            for c in cols
        ]

    def _where(self, pk: tuple[str, ...], lo: Bound, hi: Bound) -> tuple[str, list[Any]]:
        keys = ", ".join(self.q(k) for k in pk)
        lhs = f"({keys})" if len(pk) > 1 else keys
        marks = "(" + ", ".join(["%s"] * len(pk)) + ")" if len(pk) > 1 else "%s"
        parts: list[str] = []
        params: list[Any] = []
        if lo is not None:
            parts.append(f"{lhs} >= {marks}")
            params.extend(lo)
        if hi is not None:
            parts.append(f"{lhs} < {marks}")
            params.extend(hi)
        return (" WHERE " + " AND ".join(parts)) if parts else "", params

    def _order(self, pk: tuple[str, ...]) -> str:
        return ", ".join(self.q(k) for k in pk)

    def boundaries(self, table: str, pk: tuple[str, ...], every: int) -> list[Key]:
        """Every ``every``-th key in key order (the starts of the chunks)."""
        order = self._order(pk)
        rows = self._run(
            f"SELECT {order} FROM (SELECT {order}, row_number() OVER (ORDER BY {order}) AS rn"
            f" FROM {self.relation(table)}) x WHERE MOD(rn - 1, %s) = 0 ORDER BY {order}",
            (every,),
        )
        return [tuple(r) for r in rows]

    def key_at(self, table: str, pk: tuple[str, ...], lo: Bound, hi: Bound, n: int) -> Key | None:
        """The ``n``-th key (0-based) of a range."""
        where, params = self._where(pk, lo, hi)
        order = self._order(pk)
        rows = self._run(
            f"SELECT {order} FROM {self.relation(table)}{where} ORDER BY {order} LIMIT 1 OFFSET %s",
            [*params, n],
        )
        return tuple(rows[0]) if rows else None

    def digest(
        self,
        table: str,
        cols: list[str],
        pk: tuple[str, ...],
        lo: Bound,
        hi: Bound,
        method: str = "text",
    ) -> tuple[int, str]:
        """(row count, digest of the rows) computed by the server. ``text``: md5 over the rows'
        text forms in key order (any type, any engine). ``hash`` (PostgreSQL 14+): the sum of
        ``hash_record_extended`` of the rows, which hashes each column with its type's own hash
        function (no text output, no sort: several times faster); it fails for a column type
        without a hash function (json, point, ...), and the caller then falls back to ``text``."""
        where, params = self._where(pk, lo, hi)
        order = self._order(pk)
        columns = ", ".join(self.q(c) for c in cols)
        if self.engine == "postgres" and method == "hash":
            sql = f"SELECT count(*), sum(hash_record_extended(ROW({columns}), 0)::numeric)::text"
        elif self.engine == "postgres":
            sql = (
                f"SELECT count(*), md5(string_agg(md5(ROW({columns})::text), '' ORDER BY {order}))"
            )
        else:
            floats = self.reading(table).floats
            row = (
                "CONCAT_WS(',', "
                + ", ".join(
                    f"QUOTE({self.q(c)} * 1e0)" if c in floats else f"QUOTE({self.q(c)})"
                    for c in cols
                )
                + ")"
            )
            sql = f"SELECT COUNT(*), MD5(GROUP_CONCAT(MD5({row}) ORDER BY {order} SEPARATOR ''))"
        count, digest = self._run(sql + f" FROM {self.relation(table)}{where}", params)[0]
        return int(count), digest or ""

    def rows(
        self, table: str, cols: list[str], pk: tuple[str, ...], lo: Bound = None, hi: Bound = None
    ) -> dict[Key, tuple]:
        """Rows of a range by key, values normalised."""
        where, params = self._where(pk, lo, hi)
        select = ", ".join(self._select(table, cols))
        sql = f"SELECT {select} FROM {self.relation(table)}{where}"
        reading = self.reading(table)
        return keyed(reading.taken(cols, self._run(sql, params, reading)), cols, pk)

    def all_rows(self, table: str, cols: list[str]) -> Iterator[tuple]:
        """Every row of ``table``, values normalised (a table without a key), streamed from the
        server: the connection serves nothing else until the rows are read to the end."""
        select = ", ".join(self._select(table, cols))
        sql = f"SELECT {select} FROM {self.relation(table)}"
        reading = self.reading(table)
        if self.engine == "postgres":
            with self.conn.cursor() as pg_cur:
                adapt(pg_cur.adapters, reading.text_oids, reading.hstore_oids)
                for row in pg_cur.stream(sql):
                    yield tuple(normalise(v) for v in row)
            return
        import pymysql.cursors

        with self.conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(sql)
            for row in reading.taken(cols, cur):
                yield tuple(normalise(v) for v in row)

    def rows_for_keys(
        self, table: str, cols: list[str], pk: tuple[str, ...], keys: list[Key]
    ) -> dict[Key, tuple]:
        """The rows of just these keys (as :meth:`rows` gives them), asked for in groups."""
        select = ", ".join(self._select(table, cols))
        reading = self.reading(table)
        casts = reading.casts
        # A key read through a cast is looked for in that form; one read as its text is bound
        # as text of unknown type (adapt), which the server reads as the column's type.
        lhs = "(" + ", ".join(f"{self.q(k)}::{casts[k]}" if k in casts else self.q(k) for k in pk)
        lhs += ")"
        marks = "(" + ", ".join(["%s"] * len(pk)) + ")"
        out: dict[Key, tuple] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            group = keys[start : start + _KEYS_PER_QUERY]
            sql = (
                f"SELECT {select} FROM {self.relation(table)}"
                f" WHERE {lhs} IN ({', '.join([marks] * len(group))})"
            )
            got = self._run(sql, [v for key in group for v in key], reading)
            out.update(keyed(reading.taken(cols, got), cols, pk))
        return out

    def is_live(self) -> bool:
        """Something streams from this database now: an active replication slot of this
        PostgreSQL database, or a binlog dump connection the MySQL user can see."""
        try:
            if self.engine == "postgres":
                sql = (
                    "SELECT count(*) FROM pg_replication_slots"
                    " WHERE active AND database = current_database()"
                )
            else:
                sql = (
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
                    " WHERE COMMAND LIKE 'Binlog Dump%%'"
                )
            return int(self._run(sql)[0][0]) > 0
        except Exception:  # noqa: BLE001 - a user that may not look is treated as not live
            return False

    def close(self) -> None:
        self.conn.close()


def _nullable(kind: pa.DataType) -> pa.DataType:
    """``kind`` with every field of its structs (also inside lists) nullable."""
    if pa.types.is_struct(kind):
        return pa.struct([f.with_type(_nullable(f.type)).with_nullable(True) for f in kind])
    if pa.types.is_list(kind):
        return pa.list_(kind.value_field.with_type(_nullable(kind.value_type)).with_nullable(True))
    if pa.types.is_large_list(kind):
        value = kind.value_field.with_type(_nullable(kind.value_type)).with_nullable(True)
        return pa.large_list(value)
    return kind


def _concat_versions(parts: list[pa.Table]) -> pa.Table:
    """The change files of one table as one table, across its schema versions: a column added
    later is null in the earlier files, one widened (``int`` to ``bigint``) takes the wider
    type, and one whose type changed to another kind (``numeric`` to ``text``) is read as text
    in every file, the form the source's column now compares with (also inside ``_before``)."""
    try:
        return pa.concat_tables(parts, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    types: dict[str, list[pa.DataType]] = {}
    for part in parts:
        for f in part.schema:
            types.setdefault(f.name, []).append(f.type)
    unified = {name: _unify(kinds) for name, kinds in types.items()}
    out = []
    for part in parts:
        for i, name in enumerate(part.column_names):
            if part.schema.field(i).type != unified[name]:
                column = _cast_to(part.column(i).combine_chunks(), unified[name])
                part = part.set_column(i, part.schema.field(i).with_type(unified[name]), column)
        out.append(part)
    return pa.concat_tables(out, promote_options="permissive")


def _unify(types: list[pa.DataType]) -> pa.DataType:
    """One type that holds the values of all of ``types``: structs field by field, else
    Arrow's permissive promotion, else text."""
    if all(pa.types.is_struct(t) for t in types):
        fields: dict[str, list[pa.DataType]] = {}
        for t in types:
            for f in t:
                fields.setdefault(f.name, []).append(f.type)
        return pa.struct([pa.field(n, _unify(kinds)) for n, kinds in fields.items()])
    try:
        schema = pa.unify_schemas(
            [pa.schema([pa.field("v", t)]) for t in types], promote_options="permissive"
        )
        return schema.field("v").type
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.string()


def _cast_to(array: pa.Array, to: pa.DataType) -> pa.Array:
    """``array`` as type ``to`` (from :func:`_unify`); a struct's missing fields are null."""
    if pa.types.is_struct(to) and pa.types.is_struct(array.type):
        have = {f.name for f in array.type}
        children = [
            _cast_to(array.field(f.name), f.type)
            if f.name in have
            else pa.nulls(len(array), f.type)
            for f in to
        ]
        return pa.StructArray.from_arrays(
            children, fields=list(to), mask=pc.invert(array.is_valid())
        )
    return array.cast(to)


def _ordered_alike(t: pa.DataType) -> bool:
    """Whether keys of this Arrow type sort as the source's keys of the matching types do (the
    portable key types the comparison cuts into ranges: integers, decimals, dates,
    timestamps)."""
    return (
        pa.types.is_integer(t)
        or pa.types.is_decimal(t)
        or pa.types.is_date(t)
        or pa.types.is_timestamp(t)
    )


class _SortedKeys:
    """The normalised key of each row of a table sorted by it, looked up by position (for
    :func:`bisect.bisect_left`, which reads O(log n) of them)."""

    def __init__(self, table: pa.Table, pk: tuple[str, ...]) -> None:
        self._columns = [table.column(k) for k in pk]
        self._rows = table.num_rows

    def __len__(self) -> int:
        return self._rows

    def __getitem__(self, i: int) -> Key:
        return tuple(normalise(c[i].as_py()) for c in self._columns)


class ParquetSide:
    """``<root>/<schema>.<table>/*.parquet`` change batches, replayed by primary key."""

    engine = "parquet"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ConfigError(f"parquet directory {self.root} does not exist")
        self._cache: dict[str, pa.Table | None] = {}
        #: The key each cached table is sorted by, for :meth:`rows` of a key range
        #: (:meth:`by_range`).
        self._sorted_by: dict[str, tuple[str, ...]] = {}
        #: Keys to replay tables by instead of the one their files carry (``verify
        #: --key-columns``: a table the run did not key, or keyed otherwise).
        self.replay_keys: dict[str, tuple[str, ...]] = {}

    def tables(self) -> list[str]:
        names = (table_of_dir(p.name) for p in self.root.iterdir() if p.is_dir())
        return sorted(n for n in names if "." in n)

    def table(self, table: str) -> pa.Table | None:
        """The replayed table (``None`` when the directory has no files for it)."""
        if table not in self._cache:
            files = sorted((self.root / table_dir_name(table)).glob("*.parquet"))
            if not files:
                self._cache[table] = None
            else:
                parts = [pq.read_table(f) for f in files]
                changes = _concat_versions(parts)
                relaxed = pa.schema([f.with_type(_nullable(f.type)) for f in changes.schema])
                if not relaxed.equals(changes.schema):
                    # The replay fills a moved key's old row with nulls, which a struct with
                    # non-nullable fields (an interval in Parquet) cannot take.
                    changes = changes.cast(relaxed.with_metadata(changes.schema.metadata))
                key = self.replay_keys.get(table) or table_info(parts[-1].schema, table).primary_key
                # A table without a key is replayed as a multiset of whole rows.
                self._cache[table] = replay(changes, key) if key else replay_rows(changes)
        return self._cache[table]

    def describe(self, table: str) -> tuple[list[str], tuple[str, ...]]:
        replayed = self.table(table)
        if replayed is None:
            return [], ()
        files = sorted((self.root / table_dir_name(table)).glob("*.parquet"))
        key = (
            self.replay_keys.get(table) or table_info(pq.read_schema(files[-1]), table).primary_key
        )
        return [c for c in replayed.column_names if c not in META_COLUMNS], key

    def by_range(self, table: str, pk: tuple[str, ...]) -> bool:
        """Whether :meth:`rows` can give the rows of a key range of ``table``, as the source's
        side does: every key column of a type that sorts as the source's. The comparison then
        holds the rows of one range as Python values at a time, not the whole table's."""
        replayed = self.table(table)
        if replayed is None or not pk:
            return False
        names = replayed.schema.names
        if not all(k in names and _ordered_alike(replayed.schema.field(k).type) for k in pk):
            return False
        if self._sorted_by.get(table) != pk:
            # The sorted copy replaces the replayed table: one copy is held, not two.
            self._cache[table] = replayed.sort_by([(k, "ascending") for k in pk])
            self._sorted_by[table] = pk
        return True

    def rows(
        self, table: str, cols: list[str], pk: tuple[str, ...], lo: Bound = None, hi: Bound = None
    ) -> dict[Key, tuple]:
        """Rows of a key range (``lo`` included, ``hi`` not), values normalised; a range only
        after :meth:`by_range` said yes, the whole table otherwise."""
        replayed = self.table(table)
        if replayed is None:
            return {}
        if (lo is not None or hi is not None) and self.by_range(table, pk):
            ordered = self._cache[table]
            assert ordered is not None
            keys = _SortedKeys(ordered, pk)
            start = 0 if lo is None else bisect.bisect_left(keys, tuple(map(normalise, lo)))
            end = len(keys) if hi is None else bisect.bisect_left(keys, tuple(map(normalise, hi)))
            replayed = ordered.slice(start, max(end - start, 0))
        columns = [arrow_values(replayed.column(c)) for c in cols]
        return keyed(zip(*columns, strict=True), cols, pk)

    def forget(self, table: str) -> None:
        """Reads ``table``'s files again at the next look (a running ``arrowtail run`` may have
        added files since)."""
        self._cache.pop(table, None)
        self._sorted_by.pop(table, None)

    def all_rows(self, table: str, cols: list[str]) -> Iterator[tuple]:
        """Every row of the replayed table, values normalised (a table without a key)."""
        replayed = self.table(table)
        if replayed is None:
            return iter(())
        columns = [arrow_values(replayed.column(c)) for c in cols]
        return (tuple(normalise(v) for v in row) for row in zip(*columns, strict=True))

    def rows_for_keys(
        self, table: str, cols: list[str], pk: tuple[str, ...], keys: list[Key]
    ) -> dict[Key, tuple]:
        """The rows of these keys in the files as they are now (read again: a running
        ``arrowtail run`` may have added files since)."""
        self.forget(table)
        wanted = set(keys)
        return {k: v for k, v in self.rows(table, cols, pk).items() if k in wanted}

    def close(self) -> None:
        self._cache.clear()
        self._sorted_by.clear()


class LakeSide(ParquetSide):
    """A mirror in Iceberg (``iceberg:DIR``, ``iceberg:rest+https://...``) or Delta Lake
    (``delta:DIR``) tables, as the lake sinks keep it: already one row per key."""

    def __init__(self, spec: str) -> None:
        fmt, _, location = spec.partition(":")
        self.engine = fmt
        self.location = location.partition("?")[0]
        if fmt == "iceberg":
            from arrowtail.sinks.lake import iceberg as module
        elif fmt == "delta":
            from arrowtail.sinks.lake import delta as module  # type: ignore[no-redef]
        else:
            raise ConfigError(f"not a lake table location: {spec}")
        if fmt == "delta" and not Path(self.location).is_dir():
            raise ConfigError(f"Delta Lake root {self.location} does not exist")
        self._module = module
        self._keys: dict[str, tuple[str, ...]] | None = None
        self._cache = {}
        self._sorted_by = {}
        self.replay_keys = {}  # a mirror is already one row per key: nothing to replay

    def _mirrors(self) -> dict[str, tuple[str, ...]]:
        if self._keys is None:
            self._keys = self._module.mirror_tables(self.location)
        return self._keys

    def tables(self) -> list[str]:
        return sorted(self._mirrors())

    def table(self, table: str) -> pa.Table | None:
        if table not in self._cache:
            self._cache[table] = self._module.read_mirror(self.location, table)
        return self._cache[table]

    def describe(self, table: str) -> tuple[list[str], tuple[str, ...]]:
        mirrored = self.table(table)
        if mirrored is None:
            return [], ()
        columns = [c for c in mirrored.column_names if c not in META_COLUMNS]
        return columns, self._mirrors().get(table, ())
