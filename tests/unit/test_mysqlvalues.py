"""MySQL value lists rendered column-wise (arrowtail.sinks.database.mysql_values)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa

from arrowtail.sinks.database import mysql_values as mysqlvalues
from arrowtail.sinks.database.mysql_values import row_literals, statements


def test_every_value_is_a_literal_that_cannot_escape():
    table = pa.table(
        {
            "i": [1, None],
            "s": ["it's \\ ok", ""],
            "b": pa.array([b"\x00\x27", None], pa.binary()),
            "d": pa.array([Decimal("-1.50"), None], pa.decimal128(5, 2)),
            "t": pa.array(
                [dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc), None],
                pa.timestamp("us", tz="UTC"),
            ),
            "u": pa.array([-dt.timedelta(hours=30, microseconds=7), None], pa.duration("us")),
            "f": [True, None],
        }
    )
    assert row_literals(table).to_pylist() == [
        "(1,_utf8mb4 X'69742773205c206f6b',X'0027',-1.50,'2026-01-02 03:04:05.000006',"
        "'-30:00:00.000007',1),",
        "(NULL,_utf8mb4 X'',NULL,NULL,NULL,NULL,NULL),",
    ]


def test_statements_stay_under_the_size_limit(monkeypatch):
    monkeypatch.setattr(mysqlvalues, "MAX_STATEMENT_BYTES", 40)
    rows = row_literals(pa.table({"id": list(range(10))}))
    out = list(statements("INSERT t VALUES ", rows, ";"))
    assert "".join(s[len("INSERT t VALUES ") : -1] + "," for s in out) == "".join(
        f"({i})," for i in range(10)
    )
    assert all(len(s) <= 40 for s in out) and len(out) == 2


def test_lists_need_the_escaping_path():
    assert row_literals(pa.table({"l": pa.array([["a"]])})) is None
