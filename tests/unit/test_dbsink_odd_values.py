"""Dates, timestamps and times Python's ``datetime`` cannot hold (BC, years above 9999,
``24:00:00``, ±infinity) in the values the database sinks write: PostgreSQL's input text (COPY CSV
and the row-by-row COPY), MySQL/MariaDB literals and driver values, and the MySQL/MariaDB refusal
that names the column."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pyarrow as pa
import pytest

from arrowtail.exceptions import SinkError
from arrowtail.sinks.database import sqltypes, temporal
from arrowtail.sinks.database.mysql_values import row_literals
from arrowtail.sinks.database.postgres_copy import csv_payload
from arrowtail.verify.sides import normalise, same_value
from arrowtail.verify.values import arrow_values

DAY_US = 86_400_000_000
#: Days since 1970 with PostgreSQL's text of them.
DAYS = {
    -2_440_588: "4714-11-24 BC",
    -735_160: "0044-03-15 BC",
    -719_163: "0001-12-31 BC",
    -719_162: "0001-01-01",
    0: "1970-01-01",
    2_932_896: "9999-12-31",
    2_932_897: "10000-01-01",
    2_145_042_905: "5874897-12-31",
    2**31 - 1: "infinity",
    -(2**31): "-infinity",
}


def _dates() -> pa.Array:
    return pa.array([*DAYS, None], pa.int32()).cast(pa.date32())


def _stamps(tz: str | None = None) -> pa.Array:
    micros = [
        -735_160 * DAY_US + 12 * 3_600_000_000,
        -719_162 * DAY_US - 1,
        2_932_897 * DAY_US + 1,
        2**63 - 2,
        2**63 - 1,
        -(2**63),
        None,
    ]
    return pa.array(micros, pa.int64()).cast(pa.timestamp("us", tz=tz))


STAMPS = [
    "0044-03-15 12:00:00.000000{} BC",
    "0001-12-31 23:59:59.999999{} BC",
    "10000-01-01 00:00:00.000001{}",
    "294247-01-10 04:00:54.775806{}",
    "infinity",
    "-infinity",
    None,
]
TIMES = pa.array([0, DAY_US, DAY_US - 1, 45_296_500_000, None], pa.int64()).cast(pa.time64("us"))


def test_postgres_text_of_dates_timestamps_and_times():
    assert temporal.pg_text(_dates()).to_pylist() == [*DAYS.values(), None]
    for tz, offset in ((None, ""), ("UTC", "+00")):
        want = [s.format(offset) if s and "{}" in s else s for s in STAMPS]
        assert temporal.pg_text(_stamps(tz)).to_pylist() == want
    assert temporal.pg_text(TIMES).to_pylist() == [
        "00:00:00.000000",
        "24:00:00.000000",
        "23:59:59.999999",
        "12:34:56.500000",
        None,
    ]


def test_copy_csv_keeps_them_and_leaves_ordinary_values_to_arrow():
    table = pa.table(
        {
            "d": _dates().slice(1, 2),
            "t": TIMES.slice(1, 2),
            "ds": pa.array([[-735_160, None, 0], None], pa.list_(pa.int32())).cast(
                pa.list_(pa.date32())
            ),
        }
    )
    assert csv_payload(table).decode().splitlines() == [
        '"0044-03-15 BC","24:00:00.000000","{""0044-03-15 BC"",NULL,""1970-01-01""}"',
        '"0001-12-31 BC","23:59:59.999999",',
    ]
    plain = pa.table({"d": pa.array([dt.date(2026, 2, 28)]), "t": pa.array([dt.time(1, 2)])})
    assert csv_payload(plain).decode().splitlines() == ["2026-02-28,01:02:00.000000"]


def test_postgres_row_values_are_text():
    field = pa.field("d", pa.date32())
    assert sqltypes.python_values(_dates(), field, sqltypes.POSTGRES) == [*DAYS.values(), None]
    field = pa.field("t", pa.time64("us"))
    assert sqltypes.python_values(TIMES, field, sqltypes.POSTGRES)[1] == "24:00:00.000000"
    lists = pa.array([[-735_160, None], None], pa.list_(pa.int32())).cast(pa.list_(pa.date32()))
    field = pa.field("ds", lists.type)
    assert sqltypes.python_values(lists, field, sqltypes.POSTGRES) == [
        '{"0044-03-15 BC",NULL}',
        None,
    ]


def test_mysql_time_of_24_hours():
    literals = row_literals(pa.table({"t": TIMES}))
    assert literals.to_pylist() == [
        "('0:00:00.000000'),",
        "('24:00:00.000000'),",
        "('23:59:59.999999'),",
        "('12:34:56.500000'),",
        "(NULL),",
    ]
    field = pa.field("t", pa.time64("us"))
    values = sqltypes.python_values(TIMES, field, sqltypes.MYSQL)
    assert values[:2] == [dt.timedelta(0), dt.timedelta(hours=24)] and values[-1] is None
    lists = pa.array([[1], [DAY_US, 1_500_000, None], None, []], pa.list_(pa.int64()))
    lists = lists.cast(pa.list_(pa.time64("us"))).slice(1)
    field = pa.field("ts", lists.type)
    assert sqltypes.python_values(lists, field, sqltypes.MYSQL) == [
        '["24:00:00", "00:00:01.500000", null]',
        None,
        "[]",
    ]


@pytest.mark.parametrize(
    ("array", "text"),
    [
        (pa.array([0, -735_160], pa.int32()).cast(pa.date32()), "date 0044-03-15 BC"),
        (pa.array([2_932_897], pa.int32()).cast(pa.date32()), "date 10000-01-01"),
        (_stamps().slice(2, 1), "timestamp 10000-01-01 00:00:00.000001"),
        (_stamps("UTC").slice(1, 1), "timestamp 0001-12-31 23:59:59.999999+00 BC"),
        (
            pa.array([[0], [-719_163]], pa.list_(pa.int32())).cast(pa.list_(pa.date32())),
            "date 0001-12-31 BC",
        ),
    ],
)
def test_mysql_refuses_years_outside_1_to_9999_by_column(array, text):
    table = pa.table({"c": array})
    with pytest.raises(
        SinkError, match=re.escape(f"column c: the {text} is outside the years 1 to 9999")
    ):
        sqltypes.check_table(table, sqltypes.MYSQL)
    with pytest.raises(SinkError, match="column c: "):
        sqltypes.python_values(array, table.schema.field(0), sqltypes.MYSQL)
    sqltypes.check_table(table, sqltypes.POSTGRES)


def test_mysql_keeps_the_years_1_and_9999():
    days = pa.array([-719_162, 2_932_896, None], pa.int32()).cast(pa.date32())
    stamps = pa.array([-719_162 * DAY_US, 2_932_897 * DAY_US - 1], pa.int64())
    table = pa.table({"d": days, "ts": pa.concat_arrays([stamps, pa.nulls(1, pa.int64())])})
    table = table.set_column(1, "ts", table["ts"].cast(pa.timestamp("us", tz="UTC")))
    sqltypes.check_table(table, sqltypes.MYSQL)
    assert row_literals(table).to_pylist() == [
        "('0001-01-01','0001-01-01 00:00:00.000000'),",
        "('9999-12-31','9999-12-31 23:59:59.999999'),",
        "(NULL,NULL),",
    ]


def test_widened_moves_a_numeric_column_up_its_ladder_only() -> None:
    from arrowtail.sinks.database.sqltypes import MYSQL, POSTGRES, widened

    def f(t: pa.DataType) -> pa.Field:
        return pa.field("c", t)

    assert widened(f(pa.int64()), "integer", POSTGRES) == "bigint"
    assert widened(f(pa.uint64()), "bigint", POSTGRES) == "numeric(20,0)"
    assert widened(f(pa.float64()), "real", POSTGRES) == "double precision"
    assert widened(f(pa.int64()), "INT", MYSQL) == "BIGINT"
    assert widened(f(pa.int32()), "smallint", MYSQL) == "INT"
    assert widened(f(pa.float64()), "float", MYSQL) == "DOUBLE"
    # Already as wide or wider, another kind, or not a number: left as it is.
    assert widened(f(pa.int32()), "bigint", POSTGRES) is None
    assert widened(f(pa.int32()), "integer", POSTGRES) is None
    assert widened(f(pa.int64()), "double precision", POSTGRES) is None
    assert widened(f(pa.float64()), "integer", POSTGRES) is None
    assert widened(f(pa.string()), "integer", POSTGRES) is None


def test_widened_decimal_takes_the_most_integer_and_fraction_digits_of_both() -> None:
    from arrowtail.sinks.database.sqltypes import MYSQL, POSTGRES, widened_decimal

    def f(precision: int, scale: int) -> pa.Field:
        return pa.field("c", pa.decimal128(precision, scale))

    assert widened_decimal(f(12, 4), (6, 2), POSTGRES) == "numeric(12,4)"
    # More integer digits here, more fraction digits there: room for both.
    assert widened_decimal(f(10, 1), (6, 4), POSTGRES) == "numeric(13,4)"
    assert widened_decimal(f(12, 4), (6, 2), MYSQL) == "DECIMAL(12,4)"
    # Fits already, no declared digits (an unconstrained numeric), beyond MySQL's DECIMAL, or
    # not a decimal: left as it is.
    assert widened_decimal(f(6, 2), (6, 2), POSTGRES) is None
    assert widened_decimal(f(5, 1), (6, 2), POSTGRES) is None
    assert widened_decimal(f(12, 4), None, POSTGRES) is None
    assert widened_decimal(f(38, 31), (10, 2), MYSQL) is None
    assert widened_decimal(pa.field("c", pa.int64()), (6, 2), POSTGRES) is None


def test_an_added_columns_default_fills_old_rows_only_for_a_column_added_while_streaming() -> None:
    # The rows already in the target all predate the column when this run saw the table
    # without it, or when the source says the column was added after the run's start: else a
    # column that arrives with a run's first change of the table (a transform stopped dropping
    # it) may hold other values in newer rows, so it is left NULL.
    from arrowtail.sinks.database.target import ADDED_SINCE_START, MISSING_VALUE, TargetSink

    class Recorder(TargetSink):
        engine = "postgres"

        def __init__(self) -> None:
            super().__init__(create_tables=True)
            self.set: list[list[tuple[str, str]]] = []

        def _set_all(self, schema: str, name: str, values: list[tuple[str, str]]) -> None:
            self.set.append(values)

    status = pa.field("status", pa.string(), metadata={MISSING_VALUE: b"new"})
    plain = pa.field("note", pa.string())
    sink = Recorder()
    sink._fill_added("s", "t", "s.t", "s.t", [status, plain])
    assert sink.set == []  # the run's first sight of s.t
    sink._columns_seen["s.t"] = {"id"}
    sink._fill_added("s", "t", "s.t", "s.t", [status, plain])
    assert sink.set == [[("status", "new")]]
    sink._columns_seen["s.t"] = {"id", "status"}
    sink._fill_added("s", "t", "s.t", "s.t", [status])
    assert sink.set == [[("status", "new")]]
    # Added after the position the run started from (a MySQL ALTER read again after a
    # restart): every target row predates it, first sight of the table or not.
    since = status.with_metadata({**status.metadata, ADDED_SINCE_START: b"1"})
    del sink._columns_seen["s.t"]
    sink._fill_added("s", "t", "s.t", "s.t", [since, plain])
    assert sink.set == [[("status", "new")], [("status", "new")]]


def _field(array: pa.Array, **meta: str) -> pa.Field:
    return pa.field("a", array.type, metadata=meta or None)


#: PostgreSQL arrays as the sources give them, and the JSON text a MySQL/MariaDB target stores.
ARRAYS = [
    (pa.array([[1, None, -3], [], None], pa.list_(pa.int16())), ["[1, null, -3]", "[]", None]),
    (
        pa.array([[1.1, float("nan"), float("-inf"), 1e30]], pa.list_(pa.float32())),
        ['[1.1, "NaN", "-Infinity", 1e+30]'],
    ),
    (
        pa.array(
            [[Decimal("12345678901234567890.1234567890"), None]], pa.list_(pa.decimal128(30, 10))
        ),
        ['["12345678901234567890.1234567890", null]'],
    ),
    # Commas, quotes and one element alone: the same JSON form as any other text array.
    (pa.array([["a,b", 'q"u', None], ["x"]]), ['["a,b", "q\\"u", null]', '["x"]']),
    (pa.array([['{"k": 1}']]), ['["{\\"k\\": 1}"]']),
    (pa.array([[b"\x01\x02", b"", None]], pa.list_(pa.binary())), ['["AQI=", "", null]']),
    (
        pa.array([[bytes(range(16))]], pa.list_(pa.binary(16))),
        ['["00010203-0405-0607-0809-0a0b0c0d0e0f"]'],
    ),
    (
        pa.array([[DAY_US, 1, None]], pa.list_(pa.time64("us"))),
        ['["24:00:00", "00:00:00.000001", null]'],
    ),
    (
        pa.array(
            [[dt.datetime(2024, 2, 29, 10, 34, 56, 500000)]], pa.list_(pa.timestamp("us", "UTC"))
        ),
        ['["2024-02-29 10:34:56.500000+00:00"]'],
    ),
    (
        pa.array(
            [[pa.MonthDayNano([14, -3, 14_706_789_000_000])]],
            pa.list_(pa.month_day_nano_interval()),
        ),
        ['["14 mons -3 days 14706789000 microseconds"]'],
    ),
]


@pytest.mark.parametrize(("array", "text"), ARRAYS)
def test_arrays_on_mysql_are_json_arrays_verify_reads_back(array, text):
    got = sqltypes.python_values(array, _field(array), sqltypes.MYSQL)
    assert got == text
    # Every value is JSON, and verify finds each equal to the source's array as it reads one.
    for value, source in zip(got, arrow_values(array), strict=True):
        if value is not None:
            assert isinstance(json.loads(value), list)
            assert same_value(normalise(value), normalise(source)), (value, source)


def test_a_set_stays_comma_joined_and_a_slice_keeps_its_rows():
    labels = pa.array([["x", "y"], None, []])
    field = _field(labels, **{"arrowtail.logical_type": "set"})
    assert sqltypes.python_values(labels, field, sqltypes.MYSQL) == ["x,y", None, ""]
    assert sqltypes.python_values(labels, _field(labels), sqltypes.MYSQL, "set") == [
        "x,y",
        None,
        "",
    ]
    sliced = pa.array([[1], [2, 3], [4]], pa.list_(pa.int8())).slice(1, 2)
    assert sqltypes.python_values(sliced, _field(sliced), sqltypes.MYSQL) == ["[2, 3]", "[4]"]


@pytest.mark.parametrize(
    ("stored", "source"),
    [
        ('["AQI="]', (b"\x01\x03",)),
        ('["NaN"]', (1.0,)),
        ('["1.50", null]', (Decimal("1.50"), Decimal(0))),
        ('["24:00:00"]', (dt.time(0),)),
        ('["2024-02-29 10:34:56.500000+00:00"]', (dt.datetime(2024, 2, 29, 10, 34, 56),)),
        ('["a", "b"]', ("a",)),
        ("[1, 2]", (2, 1)),
    ],
)
def test_a_different_array_element_is_a_difference(stored, source):
    assert not same_value(normalise(stored), normalise(source))
