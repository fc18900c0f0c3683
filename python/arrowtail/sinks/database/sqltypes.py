"""Arrow types of change batches (docs/design.md "Type mapping") in target databases: the SQL type a
created table gets, which existing target types accept a column, and Python values for the
database driver, with a ``SinkError`` naming the column when a value cannot be represented.

Conversion works column by column (``to_pylist`` in Arrow's C++), never row by row in Python.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from arrowtail.exceptions import SinkError
from arrowtail.sinks.database import temporal
from arrowtail.sinks.database.postgres_copy import array_literal

POSTGRES = "postgres"
MYSQL = "mysql"
#: MySQL TIME range (MySQL manual, "The TIME Type"): -838:59:59 to 838:59:59.
_MYSQL_TIME_LIMIT = dt.timedelta(hours=838, minutes=59, seconds=59)


def _extension_name(field: pa.Field) -> str:
    if isinstance(field.type, pa.BaseExtensionType):
        return field.type.extension_name
    meta = field.metadata or {}
    return meta.get(b"ARROW:extension:name", b"").decode()


def _storage(field: pa.Field) -> pa.DataType:
    t = field.type
    if isinstance(t, pa.BaseExtensionType):
        t = t.storage_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    return t


def family(field: pa.Field) -> str:
    """A coarse type family used to check an existing target column."""
    ext = _extension_name(field)
    if ext == "arrow.uuid":
        return "uuid"
    if ext == "arrow.json":
        return "json"
    t = _storage(field)
    checks = [
        (pa.types.is_boolean, "bool"),
        (pa.types.is_integer, "int"),
        (pa.types.is_floating, "float"),
        (pa.types.is_decimal, "decimal"),
        (lambda x: pa.types.is_string(x) or pa.types.is_large_string(x), "string"),
        (lambda x: pa.types.is_binary(x) or pa.types.is_large_binary(x), "binary"),
        (pa.types.is_fixed_size_binary, "binary"),
        (pa.types.is_date, "date"),
        (pa.types.is_timestamp, "timestamp"),
        (pa.types.is_time, "time"),
        (pa.types.is_duration, "duration"),
        (pa.types.is_interval, "interval"),
        (lambda x: pa.types.is_list(x) or pa.types.is_large_list(x), "list"),
        (lambda x: pa.types.is_struct(x) or pa.types.is_map(x), "json"),
    ]
    for check, name in checks:
        if check(t):
            return name
    return "string"


def source_pg_type(field: pa.Field) -> str | None:
    """The PostgreSQL type of a column a PostgreSQL source carries as text although it is not
    text (``inet``, a range, an enum, an array of them; field metadata ``arrowtail.pg_type``),
    for a PostgreSQL target that creates the column."""
    if family(field) not in ("string", "list"):
        return None
    name = (field.metadata or {}).get(b"arrowtail.pg_type")
    return name.decode() if name else None


def sql_type(field: pa.Field, engine: str, key: bool = False) -> str:
    """The column type for ``CREATE TABLE`` / ``ALTER TABLE ADD COLUMN`` on ``engine``."""
    t = _storage(field)
    fam = family(field)
    if engine == POSTGRES:
        if fam == "int":
            signed = {8: "smallint", 16: "smallint", 32: "integer", 64: "bigint"}
            unsigned = {8: "smallint", 16: "integer", 32: "bigint", 64: "numeric(20,0)"}
            table = signed if pa.types.is_signed_integer(t) else unsigned
            return table[t.bit_width]
        if fam == "float":
            return "double precision" if t.bit_width == 64 else "real"
        if fam == "decimal":
            return f"numeric({t.precision},{t.scale})" if t.precision <= 1000 else "numeric"
        if fam == "timestamp":
            return "timestamptz" if t.tz else "timestamp"
        if fam == "list":
            inner = sql_type(pa.field("item", t.value_type), engine)
            return "text[]" if inner in ("jsonb", "text[]") else inner + "[]"
        simple = {
            "bool": "boolean",
            "string": "text",
            "binary": "bytea",
            "uuid": "uuid",
            "json": "jsonb",
            "date": "date",
            "time": "time",
            "duration": "interval",
            "interval": "interval",
        }
        return simple[fam]
    if fam == "int":
        name = {8: "TINYINT", 16: "SMALLINT", 32: "INT", 64: "BIGINT"}[t.bit_width]
        return name if pa.types.is_signed_integer(t) else name + " UNSIGNED"
    if fam == "float":
        return "DOUBLE" if t.bit_width == 64 else "FLOAT"
    if fam == "decimal":
        if t.precision > 65 or t.scale > 30:
            raise SinkError(f"column {field.name}: {t} does not fit MySQL DECIMAL (max 65,30)")
        return f"DECIMAL({t.precision},{t.scale})"
    if fam == "string":
        return "VARCHAR(255)" if key else "LONGTEXT"
    if fam in ("binary", "uuid"):
        if pa.types.is_fixed_size_binary(t):
            return f"BINARY({t.byte_width})"
        return "VARBINARY(255)" if key else "LONGBLOB"
    simple = {
        "bool": "BOOLEAN",
        "json": "JSON",
        "date": "DATE",
        "timestamp": "DATETIME(6)",
        "time": "TIME(6)",
        "duration": "TIME(6)",
        "interval": "VARCHAR(100)",
        "list": "LONGTEXT",
    }
    return simple[fam]


# Target types (information_schema data_type, lower case) that accept each family.
_ACCEPTS = {
    "bool": {"boolean", "tinyint", "bit", "smallint", "integer", "int"},
    "int": {
        "smallint",
        "integer",
        "bigint",
        "int",
        "tinyint",
        "mediumint",
        "numeric",
        "decimal",
        "year",
        "bit",
        "oid",
    },
    "float": {"real", "double precision", "float", "double", "numeric", "decimal"},
    "decimal": {"numeric", "decimal", "double precision", "double"},
    "string": {
        "text",
        "character varying",
        "character",
        "varchar",
        "char",
        "tinytext",
        "mediumtext",
        "longtext",
        "enum",
        "set",
        "json",
        "jsonb",
        "uuid",
        "citext",
        "user-defined",
        "time with time zone",
        "numeric",
        "name",
    },
    "binary": {
        "bytea",
        "binary",
        "varbinary",
        "blob",
        "tinyblob",
        "mediumblob",
        "longblob",
        "uuid",
        "geometry",
    },
    "uuid": {"uuid", "binary", "char", "varchar", "character", "character varying", "text"},
    "json": {"json", "jsonb", "text", "longtext", "mediumtext"},
    "date": {"date"},
    "timestamp": {
        "timestamp without time zone",
        "timestamp with time zone",
        "timestamp",
        "datetime",
    },
    "time": {"time without time zone", "time"},
    "duration": {"interval", "time"},
    "interval": {"interval", "varchar", "text", "character varying"},
    "list": {"array", "set", "json", "longtext", "text", "jsonb"},
}


#: Numeric column types from narrow to wide, as the targets' catalogs name them (PostgreSQL's
#: ``format_type``, MySQL's ``data_type``); a column moves up its ladder, never across.
_LADDERS = {
    POSTGRES: [["smallint", "integer", "bigint", "numeric"], ["real", "double precision"]],
    MYSQL: [["tinyint", "smallint", "mediumint", "int", "bigint"], ["float", "double"]],
}


def widened(field: pa.Field, target_type: str, engine: str) -> str | None:
    """The column type to widen an existing integer or floating-point target column of
    ``target_type`` to, when ``field`` (a new schema version's, e.g. ``int`` altered to
    ``bigint`` at the source) needs a wider one of the same kind; else ``None``."""
    if family(field) not in ("int", "float"):
        return None
    wanted = sql_type(field, engine)
    base = wanted.lower().split("(")[0].replace(" unsigned", "")
    for ladder in _LADDERS[engine]:
        have = target_type.lower()
        if have in ladder and base in ladder and ladder.index(base) > ladder.index(have):
            return wanted
    return None


def widened_decimal(field: pa.Field, digits: tuple[int, int] | None, engine: str) -> str | None:
    """The decimal type to widen an existing target column of ``digits`` (precision, scale) to,
    when ``field``'s decimal (a new schema version's, e.g. ``numeric(10,2)`` altered to
    ``numeric(14,4)`` at the source) has more integer or more fraction digits; else ``None``
    (also when the column has no declared digits, or MySQL's limits cannot hold the union)."""
    if family(field) != "decimal" or digits is None:
        return None
    t = _storage(field)
    have_precision, have_scale = digits
    integers = max(have_precision - have_scale, t.precision - t.scale)
    scale = max(have_scale, t.scale)
    if integers + scale == have_precision and scale == have_scale:
        return None
    precision = integers + scale
    if engine == POSTGRES:
        return f"numeric({precision},{scale})" if precision <= 1000 else "numeric"
    if precision > 65 or scale > 30:
        return None
    return f"DECIMAL({precision},{scale})"


def accepts(field: pa.Field, target_type: str) -> bool:
    """Whether an existing target column of ``target_type`` can hold ``field``'s values."""
    if family(field) == "string":
        return True  # text is the text form of any type (enums, domains, ...); the server parses
    return target_type.lower() in _ACCEPTS.get(family(field), set())


def _interval_text(value: Any, column: str) -> str | None:
    if value is None:
        return None
    months, days, nanos = value.months, value.days, value.nanoseconds
    if nanos % 1000:
        raise SinkError(
            f"column {column}: interval {months} months {days} days {nanos} ns has nanoseconds,"
            " which no target interval type can hold"
        )
    return f"{months} mons {days} days {nanos // 1000} microseconds"


def _check_strings(column: pa.Array, name: str, engine: str) -> None:
    if engine == POSTGRES and pc.any(pc.match_substring(column, "\x00")).as_py():
        raise SinkError(f"column {name}: PostgreSQL text cannot hold a NUL character")


def _check_floats(column: pa.Array, name: str, engine: str) -> None:
    if engine == MYSQL and pc.any(pc.is_nan(column)).as_py():
        raise SinkError(f"column {name}: MySQL/MariaDB cannot store NaN")
    if engine == MYSQL and pc.any(pc.is_inf(column)).as_py():
        raise SinkError(f"column {name}: MySQL/MariaDB cannot store infinity")


def _check_temporal(column: pa.Array, name: str, engine: str) -> None:
    """MySQL/MariaDB's DATE and DATETIME hold the years 1 to 9999: PostgreSQL's ±infinity (the
    sentinels of docs/design.md), BC dates and years above 9999 have no form there."""
    t = column.type
    while pa.types.is_list(t) or pa.types.is_large_list(t):
        column = column.flatten()
        t = column.type
    if engine != MYSQL or temporal.kind(t) not in ("date", "timestamp"):
        return
    what = "date" if pa.types.is_date32(t) else "timestamp"
    low, high = temporal.infinities(column)
    if pc.any(low).as_py() or pc.any(high).as_py():
        raise SinkError(
            f"column {name}: an infinity/-infinity {what} (PostgreSQL) has no MySQL/MariaDB form"
        )
    outside = temporal.out_of_years(column)
    if pc.any(outside).as_py():
        value = temporal.pg_text(column.filter(outside).slice(0, 1))[0].as_py()
        raise SinkError(
            f"column {name}: the {what} {value} is outside the years 1 to 9999 that MySQL/MariaDB"
            " can hold"
        )


def check_table(table: pa.Table, engine: str) -> None:
    """Raises ``SinkError`` naming the column if a value cannot be stored on ``engine`` (checks
    that ``python_values`` also makes, for callers that bypass it)."""
    for i, name in enumerate(table.column_names):
        field = table.schema.field(i)
        column = table.column(i).combine_chunks()
        if isinstance(column.type, pa.BaseExtensionType):
            column = column.storage
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        fam = family(field)
        if fam in ("string", "json") and pa.types.is_string(column.type):
            _check_strings(column, name, engine)
        elif fam == "float":
            _check_floats(column, name, engine)
        elif fam in ("date", "timestamp", "list"):
            _check_temporal(column, name, engine)
        elif fam == "duration" and engine == MYSQL and column.null_count < len(column):
            micros = pc.abs(column.cast(pa.duration("us")).cast(pa.int64()))
            if pc.max(micros).as_py() > _MYSQL_TIME_LIMIT // dt.timedelta(microseconds=1):
                raise SinkError(f"column {name}: a duration is outside MySQL TIME's ±838:59:59")


def _pg_temporal_text(column: pa.Array) -> pa.Array | None:
    """PostgreSQL input text of a date/timestamp/time column, or of a list of them (an array
    literal); ``None`` for other columns."""
    if temporal.kind(column.type) is not None:
        return temporal.pg_text(column)
    t = column.type
    if (pa.types.is_list(t) or pa.types.is_large_list(t)) and temporal.kind(t.value_type):
        return array_literal(column)
    return None


def _is_set(field: pa.Field, target_type: str) -> bool:
    """A MySQL/MariaDB ``SET`` column at the source or at the target: written as the labels
    joined by commas, SET's own text form (a label cannot hold a comma)."""
    meta = field.metadata or {}
    return meta.get(b"arrowtail.logical_type") == b"set" or target_type.lower() == "set"


#: JSON tokens of the float values JSON has no number for (Debezium's JSON writes them so too).
_FLOAT_WORDS = {"nan": '"NaN"', "inf": '"Infinity"', "-inf": '"-Infinity"'}


def _utc_word(v: dt.datetime) -> str:
    return json.dumps(str(v.astimezone(dt.timezone.utc)))


def _uuid_word(v: bytes) -> str:
    return json.dumps(str(uuid.UUID(bytes=v)))


def _base64_word(v: bytes) -> str:
    return json.dumps(base64.b64encode(v).decode())


def _interval_word(v: Any, column: str) -> str:
    return json.dumps(_interval_text(v, column))


def _plain_word(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, default=str)


def _element_tokens(values: pa.Array, name: str) -> list[str]:
    """One JSON token per element of a list column's values (examples/migration.md): numbers
    as numbers, except decimals (strings, so no digit is lost to a reader's double) and the
    non-finite floats (``"NaN"``, ``"Infinity"``); text as strings; binary as base64; a uuid as
    its text; dates, timestamps and times as their ISO text (timestamps with a time zone in UTC,
    with the offset); intervals as the text the interval columns get; null elements as
    ``null``."""
    t = values.type
    if pa.types.is_dictionary(t):
        values = values.dictionary_decode()
        t = values.type
    word: Callable[[Any], str]
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        # Arrow prints a float in its shortest round-trip form (a real as PostgreSQL does).
        words = values.cast(pa.string()).to_pylist()
        if pa.types.is_decimal(t):
            return [json.dumps(v) if v is not None else "null" for v in words]
        return [_FLOAT_WORDS.get(v, v) if v is not None else "null" for v in words]
    if pa.types.is_time(t):
        words = temporal.python_time_text(values).to_pylist()
        return [json.dumps(v) if v is not None else "null" for v in words]
    if pa.types.is_timestamp(t) and t.tz:
        values = values.cast(pa.timestamp(t.unit, "UTC"))
        word = _utc_word
    elif pa.types.is_fixed_size_binary(t) and t.byte_width == 16:
        word = _uuid_word  # the only 16-byte element of the type mapping: a PostgreSQL uuid[]
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        word = _base64_word
    elif pa.types.is_interval(t):
        word = functools.partial(_interval_word, column=name)
    else:
        word = _plain_word
    return [word(v) if v is not None else "null" for v in values.to_pylist()]


def json_arrays(column: pa.Array, name: str) -> list[str | None]:
    """A list column as JSON array text, one per row (``None`` for a null list): PostgreSQL
    arrays on a MySQL/MariaDB target, which has no array type. The same column always gets the
    same form, whatever its values, and every value is valid JSON."""
    offsets = column.offsets.to_pylist()
    base = offsets[0]
    tokens = _element_tokens(column.values.slice(base, offsets[-1] - base), name)
    return [
        "[" + ", ".join(tokens[start - base : end - base]) + "]" if ok else None
        for start, end, ok in zip(
            offsets[:-1], offsets[1:], column.is_valid().to_pylist(), strict=True
        )
    ]


def python_values(
    column: pa.ChunkedArray | pa.Array, field: pa.Field, engine: str, target_type: str = ""
) -> list[Any]:
    """The values of one column as the driver of ``engine`` wants them."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    name = field.name
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    fam = family(field)
    if isinstance(column.type, pa.BaseExtensionType):
        column = column.storage
    if fam in ("string", "json") and pa.types.is_string(column.type):
        _check_strings(column, name, engine)
    if fam == "float":
        _check_floats(column, name, engine)
    if fam in ("date", "timestamp", "list"):
        _check_temporal(column, name, engine)
    if engine == POSTGRES:
        text = _pg_temporal_text(column)
        if text is not None:
            # COPY text input: exact for BC, years above 9999, 24:00:00 and ±infinity.
            return text.to_pylist()
    elif fam == "time" and temporal.kind(column.type) == "time":
        # A timedelta, which PyMySQL writes as TIME text: 24:00:00 has no datetime.time.
        column = column.cast(pa.int64()).cast(pa.duration("us"))
    elif fam == "list":
        if _is_set(field, target_type):
            return [None if v is None else ",".join(v) for v in column.to_pylist()]
        return json_arrays(column, name)
    try:
        values = column.to_pylist()
    except (ValueError, OverflowError, pa.ArrowException) as exc:
        raise SinkError(
            f"column {name}: value out of the range Python/the target can hold: {exc}"
        ) from exc
    if fam == "uuid" or (fam == "binary" and target_type.lower() == "uuid"):
        if engine == POSTGRES:
            return [None if v is None else uuid.UUID(bytes=bytes(v)) for v in values]
        return values
    if fam == "interval":
        return [_interval_text(v, name) for v in values]
    if fam == "json" and not pa.types.is_string(column.type):
        return [None if v is None else json.dumps(v, default=str) for v in values]
    if fam == "timestamp" and engine == MYSQL and column.type.tz:
        return [
            None if v is None else v.astimezone(dt.timezone.utc).replace(tzinfo=None)
            for v in values
        ]
    if fam == "duration" and engine == MYSQL:
        for v in values:
            if v is not None and abs(v) > _MYSQL_TIME_LIMIT:
                raise SinkError(f"column {name}: {v} is outside MySQL TIME's ±838:59:59")
    return values


def rows_for(table: pa.Table, engine: str, target_types: dict[str, str] | None = None) -> list:
    """All rows of ``table`` as tuples of driver values."""
    types = target_types or {}
    columns = [
        python_values(table.column(i), table.schema.field(i), engine, types.get(name, ""))
        for i, name in enumerate(table.column_names)
    ]
    return list(zip(*columns, strict=True))
