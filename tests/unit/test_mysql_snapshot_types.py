"""The snapshot's column types and value conversions match the binlog decoder's mapping
(docs/design.md, MySQL/MariaDB types) without a server: information_schema rows and the text
protocol's raw values in, Arrow out."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from arrowtail.sources.mysql.snapshot import Column, row_builder

CASES = [
    # data_type, column_type, precision, scale, charset, arrow type
    ("tinyint", "tinyint(4)", 3, 0, None, pa.int8()),
    ("tinyint", "tinyint(3) unsigned", 3, 0, None, pa.uint8()),
    ("smallint", "smallint(5) unsigned", 5, 0, None, pa.uint16()),
    ("mediumint", "mediumint(9)", 7, 0, None, pa.int32()),
    ("int", "int(10) unsigned", 10, 0, None, pa.uint32()),
    ("bigint", "bigint(20) unsigned", 20, 0, None, pa.uint64()),
    ("bigint", "bigint(20)", 19, 0, None, pa.int64()),
    ("decimal", "decimal(20,6)", 20, 6, None, pa.decimal128(20, 6)),
    ("decimal", "decimal(50,20)", 50, 20, None, pa.string()),
    ("float", "float", 12, None, None, pa.float32()),
    ("double", "double", 22, None, None, pa.float64()),
    ("date", "date", None, None, None, pa.date32()),
    ("datetime", "datetime(6)", None, None, None, pa.timestamp("us")),
    ("timestamp", "timestamp(3)", None, None, None, pa.timestamp("us", tz="UTC")),
    ("time", "time(6)", None, None, None, pa.duration("us")),
    ("year", "year(4)", None, None, None, pa.int16()),
    ("varchar", "varchar(30)", None, None, "utf8mb4", pa.string()),
    ("varchar", "varchar(30)", None, None, "binary", pa.binary()),
    ("binary", "binary(4)", None, None, None, pa.binary()),
    ("longblob", "longblob", None, None, None, pa.binary()),
    ("text", "text", None, None, "latin1", pa.string()),
    ("json", "json", None, None, "utf8mb4", pa.string()),
    ("enum", "enum('a','b')", None, None, "utf8mb4", pa.string()),
    ("set", "set('x','y')", None, None, "utf8mb4", pa.list_(pa.string())),
    ("bit", "bit(64)", 64, None, None, pa.uint64()),
    ("point", "point", None, None, None, pa.binary()),
]


@pytest.mark.parametrize(("data_type", "column_type", "p", "s", "charset", "want"), CASES)
def test_arrow_type(
    data_type: str, column_type: str, p: int | None, s: int | None, charset: str | None,
    want: pa.DataType,
) -> None:  # fmt: skip
    assert Column("c", data_type, column_type, p, s, charset).arrow_type == want


def test_values_are_converted_like_the_decoder_gives_them() -> None:
    cols = [
        Column("id", "int", "int(11)", 10, 0, None),
        Column("b", "bit", "bit(9)", 9, None, None),
        Column("s", "set", "set('x','y','z')", None, None, "utf8mb4"),
        Column("d", "datetime", "datetime", None, None, None),
        Column("w", "decimal", "decimal(40,5)", 40, 5, None),
        Column("t", "time", "time", None, None, None),
    ]
    rows = [
        (b"1", b"\x01\x02", b"x,z", b"2024-01-02 03:04:05", b"-0.00001", b"-00:59:59"),
        (b"2", None, b"", b"0000-00-00 00:00:00", None, None),
    ]
    ts = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    builder = row_builder("db.t", cols, ["id"], (7 << 32) | 1234, ts, first_seq=10)
    builder.append_rows(rows)
    [(_, _, batch)] = builder.flush()
    got = batch.to_pylist()
    assert got[0]["b"] == 258 and got[0]["s"] == ["x", "z"] and got[0]["w"] == "-0.00001"
    assert got[0]["t"] == dt.timedelta(seconds=-3599)
    assert got[1]["s"] == [] and got[1]["d"] is None and got[1]["b"] is None
    assert [r["_op"] for r in got] == ["r", "r"]
    assert [r["_seq"] for r in got] == [10, 11]
    assert {r["_pos"] for r in got} == {(7 << 32) | 1234}
    assert got[0]["_before"] is None and got[0]["_unchanged"] is None
    assert batch.schema.metadata[b"arrowtail.primary_key"] == b"id"
