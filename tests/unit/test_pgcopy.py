"""COPY CSV payloads for PostgreSQL rendered column-wise
(arrowtail.sinks.database.postgres_copy)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from arrowtail.sinks.database.postgres_copy import csv_payload


def test_text_forms_of_binary_uuid_duration_and_null_versus_empty():
    table = pa.table(
        {
            "b": pa.array([b"\x00\xff", b"", None, b"A"], pa.binary()),
            "u": pa.array([b"\x12" * 16, None, b"\xab" * 16, b"\x00" * 16], pa.uuid()),
            "d": pa.array(
                [dt.timedelta(seconds=1, microseconds=5), None, dt.timedelta(0), None],
                pa.duration("us"),
            ),
            "s": pa.array(['a,"b"', "", None, "line\nbreak"]),
        }
    )
    lines = csv_payload(table).decode().split("\n")
    assert lines[0] == '"\\x00ff","' + "12" * 16 + '","1000005 microseconds","a,""b"""'
    assert lines[1] == '"\\x",,,""'
    assert lines[2] == ',"' + "ab" * 16 + '","0 microseconds",'
    assert lines[3] == '"\\x41","' + "00" * 16 + '",,"line'
    assert lines[4] == 'break"'


def test_sliced_binary_and_fixed_size_binary_target_uuid():
    array = pa.array([b"skip", b"\x01\x02", None], pa.binary()).slice(1)
    fixed = pa.array([b"\x01" * 16, b"\x02" * 16, b"\x03" * 16], pa.binary(16)).slice(1)
    payload = csv_payload(pa.table({"b": array, "u": fixed}), {"u": "uuid"})
    assert payload.decode().splitlines() == [
        '"\\x0102","' + "02" * 16 + '"',
        ',"' + "03" * 16 + '"',
    ]


def test_structs_need_the_row_path():
    assert csv_payload(pa.table({"s": pa.array([{"a": 1}])})) is None


def test_lists_are_array_literals():
    lists = pa.array([["x", None, 'q"t', "a\\b", ""], [], None], pa.list_(pa.string()))
    days = pa.array([[-(2**31), 5, None, 2**31 - 1], None, []], pa.list_(pa.int32()))
    table = pa.table({"l": lists, "d": days.cast(pa.list_(pa.date32()))})
    assert csv_payload(table).decode().splitlines() == [
        '"{""x"",NULL,""q\\""t"",""a\\\\b"",""""}",'
        '"{""-infinity"",""1970-01-06"",NULL,""infinity""}"',
        '"{}",',
        ',"{}"',
    ]


def test_infinite_dates_timestamps_and_intervals():
    table = pa.table(
        {
            "d": pa.array([-(2**31), 2**31 - 1, None], pa.int32()).cast(pa.date32()),
            "ts": pa.array([-(2**63), 2**63 - 1, 5], pa.int64()).cast(pa.timestamp("us")),
            "iv": pa.array(
                [pa.MonthDayNano([1, -2, 3000]), None, pa.MonthDayNano([0, 0, 0])],
                pa.month_day_nano_interval(),
            ),
        }
    )
    assert csv_payload(table).decode().splitlines() == [
        '"-infinity","-infinity","1 mons -2 days 3 microseconds"',
        '"infinity","infinity",',
        ',"1970-01-01 00:00:00.000005","0 mons 0 days 0 microseconds"',
    ]
