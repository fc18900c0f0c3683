"""The parts of ``arrowtail verify`` that need no server: value normalisation, row comparison,
the report text and the command-line contract."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from arrowtail.verify.compare import Report, TableReport, _compare_rows, main_verify, recheck
from arrowtail.verify.sides import ParquetSide, normalise, same_value
from tests.support.batches import make_changes


def test_normalise_makes_driver_and_arrow_values_comparable():
    aware = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert normalise(aware) == dt.datetime(2026, 1, 1, 10)
    assert normalise(True) == 1 and normalise(memoryview(b"ab")) == b"ab"
    assert normalise(uuid.UUID(int=1)) == (1).to_bytes(16, "big")
    assert normalise({"b": 1, "a": [1]}) == '{"a":[1],"b":1}'
    assert normalise(["x", Decimal("1.50")]) == ("x", Decimal("1.5"))


def test_forms_debeziums_jdbc_sink_stores_are_the_same_data():
    # An interval as Debezium's ISO text, in verify's form of a PostgreSQL interval (PostgreSQL's
    # rule: a year is 12 months, a month 30 days).
    interval = dt.timedelta(days=2 * 360 + 4 * 30 - 6, hours=8, minutes=10, seconds=13.578)
    assert same_value(interval, "P2Y4M-6DT8H10M13.578S")
    assert same_value("P-1Y0M0DT0H0M0S", dt.timedelta(days=-360))
    assert not same_value(interval, "P2Y4M-6DT8H10M13.5S")
    # BIT(5) as MariaDB's bytes and as a PostgreSQL bit string.
    assert same_value(b"\x1f", "11111") and same_value("00010", b"\x02")
    assert not same_value(b"\x1f", "11110")
    # MariaDB's INET6 as its text and as the 16 bytes of the binlog.
    assert same_value("2001:db8::1", bytes.fromhex("20010db8" + "00" * 11 + "01"))
    assert not same_value("::2", (1).to_bytes(16, "big"))
    # PostgreSQL money as its text and as the decimal Debezium's JDBC sink stores.
    assert same_value(Decimal("-1234.50"), "-$1,234.50") and same_value("($5.00)", Decimal(-5))
    assert same_value(Decimal("0.00"), "$0.00")
    assert not same_value(Decimal("1.50"), "$1.51") and not same_value(Decimal(1), "one")


def test_compare_rows_names_missing_extra_and_different_keys():
    report = TableReport("s.t", columns=["id", "v", "w"])
    src = {(1,): (1, "a", 0), (2,): (2, "b", 0), (3,): (3, "c", 0), (5,): (5, "e", 0)}
    tgt = {(1,): (1, "a", 0), (3,): (3, "C", 0), (4,): (4, "d", 0), (5,): (5, "E", 1)}
    _compare_rows(report, src, tgt)
    assert (report.missing, report.extra, report.different) == ([(2,)], [(4,)], [(3,), (5,)])
    text = Report([report]).summary()
    assert "missing 1: 2" in text and "extra 1: 4" in text and "different 2: 3, 5" in text
    # The columns the different rows differ in, the most often first.
    assert "\n  in column(s): v (2), w (1)\n" in text
    assert text.endswith("differences found")


def test_parquet_side_replays_changes_by_key(tmp_path):
    cols = [("id", pa.int32()), ("v", pa.string())]
    batch = make_changes(
        cols,
        [
            [{"_op": "c", "id": 1, "v": "a"}, {"_op": "c", "id": 2, "v": "b"}],
            [{"_op": "u", "id": 1, "v": "a2"}, {"_op": "d", "id": 2}],
        ],
        table="s.t",
    )
    (tmp_path / "s.t").mkdir()
    pq.write_table(pa.Table.from_batches([batch]), tmp_path / "s.t" / "0.parquet")
    side = ParquetSide(tmp_path)
    assert side.tables() == ["s.t"]
    assert side.describe("s.t") == (["id", "v"], ("id",))
    assert side.rows("s.t", ["id", "v"], ("id",)) == {(1,): (1, "a2")}


def test_bad_map_argument_is_a_usage_error(capsys):
    args = ["--source", "postgresql://x/y", "--against", "parquet:/x", "--map", "nonsense"]
    assert main_verify(args) == 2
    assert "expected SRC=DST" in capsys.readouterr().err


class _KeyedSide:
    """A side whose rows by key change from one look to the next (a live replication)."""

    def __init__(self, *looks: dict) -> None:
        self.looks = list(looks)
        self.asked: list[list] = []

    def rows_for_keys(self, table, cols, pk, keys):
        self.asked.append(list(keys))
        rows = self.looks.pop(0) if len(self.looks) > 1 else self.looks[0]
        return {k: v for k, v in rows.items() if k in keys}


def test_rechecks_keep_only_the_differences_that_persist():
    src = _KeyedSide({(1,): (1, "a"), (2,): (2, "b"), (3,): (3, "c"), (5,): (5, "e")})
    # First re-check: 1 has caught up, 3 is still old; second: 3 has caught up, 4 is still extra.
    tgt = _KeyedSide(
        {(1,): (1, "a"), (3,): (3, "old"), (4,): (4, "d"), (5,): (5, "x")},
        {(1,): (1, "a"), (3,): (3, "c"), (4,): (4, "d"), (5,): (5, "x")},
    )
    report = TableReport("s.t", missing=[(1,), (2,)], extra=[(4,)], different=[(3,), (5,)])
    report.columns, report.primary_key, report.target_table = ["id", "v"], ("id",), "s.t"
    recheck(src, tgt, [report], times=5, wait=0)
    assert (report.missing, report.extra, report.different) == ([(2,)], [(4,)], [(5,)])
    assert (report.resolved, report.rechecks) == (2, 5)
    # Each re-check asks for the keys still differing, not the whole table.
    assert tgt.asked[0] == [(1,), (2,), (4,), (3,), (5,)] and tgt.asked[-1] == [(2,), (4,), (5,)]
    text = Report([report]).summary()
    assert text.splitlines()[0] == "s.t: DIFFERENT (2 resolved by 5 re-check(s))"
    assert "  in column(s): v (1)" in text.splitlines()  # counted by the last look only
    assert text.endswith("differences found (2 difference(s) resolved by re-checks)")


def test_rechecks_stop_once_equal():
    src = _KeyedSide({(7,): (7, "n")})
    tgt = _KeyedSide({}, {(7,): (7, "n")})
    report = TableReport("s.t", source_rows=10, chunks=1, missing=[(7,)])
    report.columns, report.primary_key, report.target_table = ["id", "v"], ("id",), "s.t"
    recheck(src, tgt, [report], times=9, wait=0)
    assert report.equal and (report.resolved, report.rechecks) == (1, 2)
    assert Report([report]).summary().splitlines() == [
        "s.t: equal (10 rows, 1 chunks, 1 resolved by 2 re-check(s))",
        "equal (1 difference(s) resolved by re-checks)",
    ]


def test_negative_recheck_is_a_usage_error(capsys):
    args = ["--source", "postgresql://x/y", "--against", "parquet:/x", "--recheck", "-1"]
    assert main_verify(args) == 2
    assert "--recheck" in capsys.readouterr().err


def test_rows_without_a_key_compare_as_multisets():
    from arrowtail.verify.compare import _compare_multisets

    nan = float("nan")
    src = [(1, "x"), (1, "x"), (2, nan), (3, Decimal("1.50")), (4, "gone")]
    # The same rows in another order, the NaN and an equal decimal in other forms, one copy
    # of (1, 'x') short, one row the source lacks.
    tgt = [(2, nan), (3, "1.5"), (1, "x"), (5, "new")]
    report = TableReport("s.t")
    _compare_multisets(report, src, tgt)
    assert report.missing == [(1, "x"), (4, "gone")]
    assert report.extra == [(5, "new")]
    equal = TableReport("s.t")
    _compare_multisets(equal, src, [*src[::-1]])
    assert equal.equal


def test_rows_without_a_key_past_the_memory_limit_compare_through_partitions():
    from arrowtail.verify.compare import _compare_multisets

    nan = float("nan")
    src = [(i % 7, f"r{i % 11}", Decimal(i) / 4) for i in range(300)] + [(0, nan, None)] * 3
    tgt = [*src[::-1]]
    tgt.remove((5, "r1", Decimal(12) / 4))  # one copy short
    tgt += [(9, "new", None), (1, "r1", "0.25")]  # one the source lacks; an equal value's text
    tgt.remove((1, "r1", Decimal(1) / 4))

    def compared(limit, source, target):
        report = TableReport("s.t")
        count = _compare_multisets(report, iter(source), iter(target), limit=limit)
        return count, sorted(report.missing, key=repr), sorted(report.extra, key=repr)

    in_memory = compared(None, src, tgt)
    assert in_memory == (303, [(5, "r1", Decimal("3"))], [(9, "new", None)])
    # The source past the limit: both sides through partition files.
    assert compared(10, src, tgt) == in_memory
    # The source within it, the target's unmatched rows past it: the rest through partitions.
    many = src[:5] + [(i, "extra", None) for i in range(50)]
    report = compared(20, src[:5], many)
    assert report == (5, [], sorted([(i, "extra", None) for i in range(50)], key=repr))
