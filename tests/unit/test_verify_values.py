"""verify's reading of values Python's datetime cannot hold (values.py), from PostgreSQL's text
and from Arrow, into one comparable form; and the comparison rules for NaN and arrays."""

from __future__ import annotations

import datetime as dt
import math
import random
import struct
from decimal import Decimal

import pyarrow as pa
import pytest

from arrowtail.verify.sides import normalise, same_row, same_value
from arrowtail.verify.values import (
    OutOfRange,
    arrow_values,
    civil_from_days,
    days_from_civil,
    float32_value,
    pg_date,
    pg_interval,
    pg_time,
    pg_timestamp,
)

INT32_MAX, INT32_MIN = 2**31 - 1, -(2**31)
INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)
#: Days since 1970-01-01 as PostgreSQL computes them (``d - date '1970-01-01'``).
PG_DAYS = {
    "0044-03-15 BC": -735160,
    "4713-01-01 BC": -2440550,
    "0001-12-31 BC": -719163,
    "0001-01-01": -719162,
    "10000-01-01": 2932897,
    "5874897-12-31": 2145042905,
}


def test_the_calendar_matches_python_and_postgresql():
    for day in range(-800_000, 3_000_000, 997):
        date = dt.date(1970, 1, 1) + dt.timedelta(days=day) if -719162 <= day <= 2932896 else None
        y, m, d = civil_from_days(day)
        assert days_from_civil(y, m, d) == day
        if date is not None:
            assert (y, m, d) == (date.year, date.month, date.day)
    for text, days in PG_DAYS.items():
        assert pg_date(text) == (
            dt.date.fromisoformat(text) if text == "0001-01-01" else OutOfRange("date", days)
        )
        if text != "0001-01-01":
            assert OutOfRange("date", days).text() == text


def test_postgresql_text_and_arrow_integers_give_the_same_values():
    dates = pa.array(
        [INT32_MAX, INT32_MIN, PG_DAYS["0044-03-15 BC"], 19782, None, PG_DAYS["10000-01-01"]],
        pa.int32(),
    ).cast(pa.date32())
    assert arrow_values(dates) == [
        pg_date("infinity"),
        pg_date("-infinity"),
        pg_date("0044-03-15 BC"),
        dt.date(2024, 2, 29),
        None,
        pg_date("10000-01-01"),
    ]
    bc_noon = -63517780799750000  # 0044-03-15 12:00:00.25 BC, PostgreSQL's epoch µs
    for tz in (None, "UTC"):
        stamps = pa.array([INT64_MAX, INT64_MIN, bc_noon, 0, None], pa.int64()).cast(
            pa.timestamp("us", tz)
        )
        zone = "+00" if tz else ""
        assert arrow_values(stamps) == [
            pg_timestamp("infinity"),
            pg_timestamp("-infinity"),
            pg_timestamp(f"0044-03-15 12:00:00.25{zone} BC"),
            dt.datetime(1970, 1, 1),
            None,
        ]
    assert pg_timestamp("2024-01-01 05:30:00+05:30") == dt.datetime(
        2024, 1, 1, tzinfo=dt.timezone.utc
    )
    assert OutOfRange("timestamp", bc_noon).text() == "0044-03-15 12:00:00.25 BC"
    late = pg_timestamp("294276-12-31 23:59:59.999999+00")
    assert isinstance(late, OutOfRange) and late.text() == "294276-12-31 23:59:59.999999"
    times = pa.array([86_400_000_000, 43_200_500_000, None], pa.int64()).cast(pa.time64("us"))
    assert arrow_values(times) == [pg_time("24:00:00"), pg_time("12:00:00.5"), None]
    assert pg_time("24:00:00") == OutOfRange("time", 86_400_000_000)


def test_lists_chunks_and_slices_keep_their_shape():
    days = pa.array([[INT32_MAX, None], None, [], [0]], pa.list_(pa.int32()))
    lists = days.cast(pa.list_(pa.date32()))
    want = [[OutOfRange("date", INT32_MAX), None], None, [], [dt.date(1970, 1, 1)]]
    assert arrow_values(lists) == want
    assert arrow_values(lists.slice(1)) == want[1:]
    assert arrow_values(pa.chunked_array([lists.slice(0, 1), lists.slice(3)])) == [
        want[0],
        want[3],
    ]
    in_range = pa.array([[0], None], pa.list_(pa.int32())).cast(pa.list_(pa.date32()))
    assert arrow_values(in_range) == [[dt.date(1970, 1, 1)], None]


def test_a_real_is_read_as_postgresql_prints_it():
    reals = pa.array([1.1, float("inf"), None, 0.1234567], pa.float32())
    assert arrow_values(reals) == [1.1, float("inf"), None, 0.1234567]
    assert arrow_values(pa.array([[1.1]], pa.list_(pa.float32()))) == [[1.1]]


def test_a_mysql_float_read_as_double_compares_as_arrow_and_postgresql_give_it():
    """MariaDB gives a FLOAT cast to DOUBLE as the single-precision value's exact double; it
    must come out as the real PostgreSQL prints and a float32 column gives, and two values one
    ulp apart must stay apart."""
    assert float32_value(0.1666666716337204) == 0.16666667
    assert float32_value(0.13636364042758942) == 0.13636364
    assert float32_value(3.4028234663852886e38) == 3.4028235e38
    assert float32_value(1.401298464324817e-45) == 1e-45
    assert float32_value(-0.0) == 0.0 and float32_value(1.5) == 1.5
    assert float32_value(None) is None and float32_value(float("inf")) == float("inf")
    assert float32_value(float("nan")) != float32_value(float("nan"))  # still NaN
    rng = random.Random(7)
    singles = [
        struct.unpack("<f", rng.getrandbits(32).to_bytes(4, "little"))[0] for _ in range(3000)
    ]
    singles = [x for x in singles if math.isfinite(x)]
    expected = arrow_values(pa.array(singles, pa.float32()))
    assert [float32_value(x) for x in singles] == expected
    up = struct.unpack(
        "<f", (struct.unpack("<I", struct.pack("<f", 0.16666667))[0] + 1).to_bytes(4, "little")
    )[0]
    assert float32_value(up) != float32_value(0.1666666716337204)


def test_intervals_count_a_year_as_12_months_and_overflow_into_out_of_range():
    assert pg_interval("1 year 2 mons -3 days +04:05:06.789") == dt.timedelta(
        days=417, hours=4, minutes=5, seconds=6, microseconds=789000
    )
    assert pg_interval("-1 years -2 mons +3 days -04:05:06") == -dt.timedelta(
        days=417, hours=4, minutes=5, seconds=6
    )
    assert pg_interval("00:00:00.5") == dt.timedelta(microseconds=500000)
    assert pg_interval("-00:00:00.000001") == dt.timedelta(microseconds=-1)
    assert pg_interval("1 day") == dt.timedelta(days=1)
    big = pg_interval("-178000000 years")
    assert big == OutOfRange("interval", -178000000 * 360 * 86_400_000_000)
    assert normalise(pa.MonthDayNano([-178000000 * 12, 0, 0])) == big
    assert normalise({"months": 14, "days": -3, "nanoseconds": 14706789000000}) == pg_interval(
        "1 year 2 mons -3 days +04:05:06.789"
    )
    assert normalise(pa.MonthDayNano([INT32_MAX, INT32_MAX, INT64_MAX])) == pg_interval("infinity")
    assert normalise(pa.MonthDayNano([INT32_MIN, INT32_MIN, INT64_MIN])) == pg_interval("-infinity")
    assert pg_interval("1 fortnight") == OutOfRange("interval", "1 fortnight")


def test_unreadable_text_is_a_difference_not_a_crash():
    odd = pg_date("15.03.0044 BC")
    assert odd == OutOfRange("date", "15.03.0044 BC")
    assert not same_value(odd, OutOfRange("date", PG_DAYS["0044-03-15 BC"]))
    assert isinstance(pg_timestamp("yesterday"), OutOfRange)
    assert isinstance(pg_time("25 o'clock"), OutOfRange)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (float("nan"), float("nan")),
        (Decimal("NaN"), Decimal("NaN")),
        (Decimal("NaN"), "NaN"),
        (Decimal("Infinity"), "Infinity"),
        ((Decimal("1.5"), Decimal("NaN"), None), ("1.5", "NaN", None)),  # numeric[] vs text
        ((float("nan"), 1.0), (float("nan"), 1.0)),
        ((OutOfRange("date", INT32_MAX), None), (OutOfRange("date", INT32_MAX), None)),
    ],
)
def test_nan_and_arrays_compare_by_value(a, b):
    assert same_value(a, b) and same_value(b, a)
    assert same_row((1, a), (1, b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (float("nan"), 1.0),
        (Decimal("NaN"), "0"),
        (Decimal(1), "sNaN"),  # no InvalidOperation
        ((Decimal("1.5"), None), ("1.5", "null")),  # SQL NULL vs a JSON null element
        ((Decimal("1.5"),), ("1.5", None)),
        (OutOfRange("date", INT32_MAX), OutOfRange("date", INT32_MIN)),
        (OutOfRange("time", 86_400_000_000), dt.time(0)),
    ],
)
def test_different_odd_values_stay_different(a, b):
    assert not same_value(a, b) and not same_value(b, a)


def test_a_value_that_cannot_be_read_is_a_table_problem_not_a_crash(tmp_path):
    import psycopg

    from arrowtail.verify.compare import verify_table
    from arrowtail.verify.sides import ParquetSide

    class Source:
        engine = "postgres"

        def describe(self, table):
            return ["id", "d"], ("id",)

        def rows(self, table, cols, pk, lo=None, hi=None):
            raise psycopg.DataError("date too large (after year 10K): 'infinity'")

    report = verify_table(Source(), ParquetSide(tmp_path), "public.t")  # type: ignore[arg-type]
    assert not report.equal
    assert report.problems == [
        "cannot compare its values (DataError): date too large (after year 10K): 'infinity'"
    ]


def test_parquet_files_of_schema_versions_whose_column_types_changed_replay_together(tmp_path):
    """An ``int`` widened to ``bigint`` and a ``numeric`` turned ``text`` between two schema
    versions (also inside ``_before``): the files replay as one table, the widened column in
    the wider type and the other as text, as the source's columns now read."""
    import pyarrow.parquet as pq

    from arrowtail.verify.sides import ParquetSide
    from tests.support.batches import change_batch

    v1 = [pa.field("id", pa.int32()), pa.field("a", pa.int32()), pa.field("c", pa.decimal128(5, 2))]
    v2 = [pa.field("id", pa.int32()), pa.field("a", pa.int64()), pa.field("c", pa.string())]
    first = change_batch(
        v1,
        [
            {"id": 1, "a": 1, "c": Decimal("0.10"), "_op": "r", "_pos": 1},
            {"id": 2, "a": 2, "c": Decimal("0.20"), "_op": "r", "_pos": 1},
        ],
    )
    second = change_batch(
        v2,
        [
            {
                "id": 2,
                "a": 9_000_000_000,
                "c": "text now",
                "_op": "u",
                "_pos": 5,
                "_before": {"id": 2, "a": 2, "c": "0.20"},
            },
        ],  # fmt: skip
        schema_version=2,
    )
    table = tmp_path / "public.t"
    table.mkdir()
    pq.write_table(pa.Table.from_batches([first]), table / "part-0000000001-v1.parquet")
    pq.write_table(pa.Table.from_batches([second]), table / "part-0000000002-v2.parquet")

    side = ParquetSide(tmp_path)
    rows = side.rows("public.t", ["id", "a", "c"], ("id",))
    assert rows == {(1,): (1, 1, "0.10"), (2,): (2, 9_000_000_000, "text now")}
