"""The snapshot readers' marker bookkeeping (:class:`arrowtail.sources.marks.SnapshotMarks`):
which rows get Debezium's markers, and that holding batches back never lets a snapshot position
pass a batch handed over before it."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from arrowtail.sources.marks import MARKS_KEY, SnapshotMarks


def rows(table: str, first_seq: int, n: int) -> tuple[str, int, pa.RecordBatch]:
    seq = pa.array(range(first_seq, first_seq + n), pa.uint32())
    return table, 1, pa.RecordBatch.from_arrays([seq], names=["_seq"])


def marks_of(out: list[Any]) -> list[Any]:
    """Per item: ``(table, first _seq, marks text)`` for batches, the item itself otherwise."""
    shown = []
    for item in out:
        if isinstance(item, tuple):
            table, _, batch = item
            text = (batch.schema.metadata or {}).get(MARKS_KEY, b"").decode()
            shown.append((table, batch.column("_seq")[0].as_py(), text))
        else:
            shown.append(item)
    return shown


def test_sequential_tables_get_debeziums_markers() -> None:
    m = SnapshotMarks("db.a")
    out: list[Any] = []
    out += m.batch(rows("db.a", 0, 3))
    out += m.batch(rows("db.a", 3, 2))
    out += m.table_done("db.a")
    out += m.table_done("db.empty")
    out += m.batch(rows("db.one", 0, 1))
    out += m.table_done("db.one")
    out += m.batch(rows("db.b", 0, 2))
    out += m.table_done("db.b")
    out += m.table_done("db.empty_last")
    assert [t for t, *_ in marks_of(out)] == ["db.a", "db.a", "db.one"]  # the rest waits
    out += m.finish()
    assert marks_of(out) == [
        ("db.a", 0, "0:first"),
        ("db.a", 3, "4:last_in_data_collection"),
        ("db.one", 0, "0:last_in_data_collection"),
        ("db.b", 0, "0:first_in_data_collection,1:last"),
    ]


def test_one_row_first_table_is_first_and_a_lone_row_is_last() -> None:
    m = SnapshotMarks("db.a")
    out = [*m.batch(rows("db.a", 0, 1)), *m.table_done("db.a"), *m.batch(rows("db.b", 0, 1))]
    out += m.table_done("db.b")
    out += m.finish()
    assert marks_of(out) == [("db.a", 0, "0:first"), ("db.b", 0, "0:last")]
    lone = SnapshotMarks("db.a")
    assert marks_of([*lone.batch(rows("db.a", 0, 1)), *lone.finish()]) == [("db.a", 0, "0:last")]


def test_interleaved_tables_and_positions_keep_their_order() -> None:
    m = SnapshotMarks("db.a")
    out: list[Any] = []
    out += m.batch(rows("db.a", 0, 2))
    out += m.batch(rows("db.b", 0, 2))
    out += m.other("position 1")  # covers both batches: waits for them
    out += m.batch(rows("db.b", 2, 2))
    out += m.batch(rows("db.a", 2, 2))
    out += m.table_done("db.b")
    out += m.other("position 2")
    out += m.table_done("db.a")
    out += m.finish()
    shown = marks_of(out)
    assert shown == [
        ("db.b", 0, "0:first_in_data_collection"),
        ("db.a", 0, "0:first"),
        "position 1",
        ("db.b", 2, "3:last_in_data_collection"),
        ("db.a", 2, "3:last"),
        "position 2",
    ]


def test_a_resumed_snapshot_marks_no_first() -> None:
    m = SnapshotMarks(None)
    out = [*m.batch(rows("db.a", 0, 2)), *m.batch(rows("db.b", 5, 2)), *m.finish()]
    assert marks_of(out) == [("db.a", 0, "0:first_in_data_collection"), ("db.b", 5, "6:last")]
