"""Key columns Arrow cannot compare or sort: under PostgreSQL's REPLICA IDENTITY FULL every
column is a key column, arrays and intervals included; the net effect of a batch must still be
computed (it failed with "Function 'not_equal' has no kernel matching input types (list<item:
string>, list<item: string>)")."""

from __future__ import annotations

import pyarrow as pa

from arrowtail.changes import collapse, comparable
from tests.support.batches import change_batch

COLUMNS = [
    pa.field("id", pa.int32()),
    pa.field("tags", pa.list_(pa.string())),
    pa.field("iv", pa.month_day_nano_interval()),
]
KEY = ("id", "tags", "iv")


def test_comparable_lists_are_equal_exactly_when_the_lists_are():
    lists = pa.array(
        [["a", None], ["a"], None, [], [""], ["a,", "b"], ["a", ",b"], ["\\N"], [None]],
        pa.list_(pa.string()),
    )
    text = comparable(lists).to_pylist()
    assert text[2] is None
    others = [t for t in text if t is not None]
    assert len(set(others)) == len(others)
    assert comparable(lists.slice(3)).to_pylist() == text[3:]


def test_updates_and_deletes_keyed_by_lists_and_intervals():
    one = {"id": 1, "tags": ["a", None], "iv": pa.MonthDayNano([1, 2, 3])}
    moved = {**one, "tags": ["b"]}
    rows = [
        {"_op": "c", "_pos": 1, **one},
        {"_op": "c", "_pos": 1, "id": 2, "tags": [], "iv": None},
        {"_op": "u", "_pos": 2, "_before": one, **moved},
        {"_op": "d", "_pos": 3, "id": 2, "tags": [], "iv": None},
    ]
    batch = change_batch(COLUMNS, rows, primary_key=KEY)
    net = collapse(batch, KEY)
    assert net.upserts.to_pylist() == [{"id": 1, "tags": ["b"], "iv": pa.MonthDayNano([1, 2, 3])}]
    deleted = net.deletes.to_pylist()
    assert {"id": 2, "tags": [], "iv": None} in deleted
    assert {"id": 1, "tags": ["a", None], "iv": pa.MonthDayNano([1, 2, 3])} in deleted


def test_a_key_sent_only_in_the_before_image_is_taken_from_it():
    # MySQL binlog_row_image=MINIMAL: an update's after image lacks the unchanged key.
    columns = [pa.field("id", pa.int32()), pa.field("v", pa.string()), pa.field("w", pa.string())]
    rows = [
        {"_op": "u", "_pos": 2, "v": "new", "_before": {"id": 7}, "_unchanged": ["id", "w"]},
        {"_op": "u", "_pos": 3, "id": 9, "_before": {"id": 8}, "_unchanged": ["v", "w"]},
    ]
    net = collapse(change_batch(columns, rows), ("id",))
    assert net.upserts.column("id").to_pylist() == [7, 9]
    assert net.deletes.column("id").to_pylist() == [8]
    assert net.unchanged.tolist() == [[False, False, True], [False, True, True]]
