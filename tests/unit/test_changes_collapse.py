"""Reducing a change batch to its net effect by primary key (arrowtail.changes)."""

from __future__ import annotations

import pyarrow as pa

from arrowtail.changes import collapse, replay, table_info
from arrowtail.sinks.parquet_types import INTERVAL_STRUCT
from tests.support.batches import make_batch, make_changes

COLS = [("id", pa.int64()), ("name", pa.string()), ("n", pa.int32())]


def _rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: r["id"])


def test_last_change_of_a_key_wins_and_unchanged_keeps_earlier_value():
    batch = make_changes(
        COLS,
        [
            [
                {"_op": "c", "id": 1, "name": "a", "n": 0},
                {"_op": "c", "id": 2, "name": "b", "n": 0},
            ],
            [{"_op": "u", "id": 1, "name": "a2", "n": 1}],
            [{"_op": "u", "id": 1, "name": None, "n": 2, "_unchanged": ["name"]}],
            [{"_op": "u", "id": 3, "name": None, "n": 5, "_unchanged": ["name"]}],
        ],
    )
    net = collapse(batch, ("id",))
    assert not net.truncate
    assert net.deletes.num_rows == 0
    assert _rows(net.upserts) == [
        {"id": 1, "name": "a2", "n": 2},
        {"id": 2, "name": "b", "n": 0},
        {"id": 3, "name": None, "n": 5},
    ]
    flags = {r["id"]: list(u) for r, u in zip(net.upserts.to_pylist(), net.unchanged, strict=True)}
    assert flags == {1: [False, False, False], 2: [False, False, False], 3: [False, True, False]}
    groups = {tuple(cols): t.num_rows for cols, t in net.groups()}
    assert groups == {("id", "name", "n"): 2, ("id", "n"): 1}


def test_delete_then_reinsert_is_delete_plus_insert_and_order_follows_pos_seq():
    # Rows deliberately out of order in the batch: (_pos, _seq) decides.
    batch = make_batch(
        COLS,
        [
            {"_op": "c", "_pos": 30, "_seq": 0, "id": 1, "name": "again", "n": 9},
            {"_op": "c", "_pos": 10, "_seq": 0, "id": 1, "name": "first", "n": 1},
            {"_op": "d", "_pos": 20, "_seq": 1, "id": 1},
            {"_op": "c", "_pos": 20, "_seq": 0, "id": 2, "name": "x", "n": 1},
            {"_op": "d", "_pos": 40, "_seq": 0, "id": 2},
        ],
    )
    net = collapse(batch, ("id",))
    assert sorted(net.deletes.column("id").to_pylist()) == [1, 2]
    assert _rows(net.upserts) == [{"id": 1, "name": "again", "n": 9}]


def test_truncate_discards_earlier_rows_and_after_skips_applied_positions():
    batch = make_changes(
        COLS,
        [
            [{"_op": "c", "id": 1, "name": "a", "n": 0}],
            [{"_op": "t"}],
            [{"_op": "c", "id": 2, "name": "b", "n": 0}],
            [{"_op": "u", "id": 2, "name": "c", "n": 1}],
        ],
    )
    net = collapse(batch, ("id",))
    assert net.truncate
    assert _rows(net.upserts) == [{"id": 2, "name": "c", "n": 1}]
    resumed = collapse(batch, ("id",), after=1200)  # the first three transactions are applied
    assert not resumed.truncate
    assert _rows(resumed.upserts) == [{"id": 2, "name": "c", "n": 1}]
    assert collapse(batch, ("id",), after=1300).upserts.num_rows == 0


def test_primary_key_change_deletes_the_old_key():
    batch = make_changes(
        COLS,
        [
            [{"_op": "c", "id": 1, "name": "a", "n": 0}],
            [{"_op": "u", "id": 5, "name": "a", "n": 1, "_before": {"id": 1, "name": "a", "n": 0}}],
        ],
    )
    net = collapse(batch, ("id",))
    assert net.deletes.column("id").to_pylist() == [1]
    assert _rows(net.upserts) == [{"id": 5, "name": "a", "n": 1}]


def test_composite_key_and_replay():
    cols = [("a", pa.string()), ("b", pa.int16()), ("v", pa.float64())]
    batch = make_changes(
        cols,
        [
            [{"_op": "c", "a": "x", "b": 1, "v": 1.0}, {"_op": "c", "a": "x", "b": 2, "v": 2.0}],
            [{"_op": "u", "a": "x", "b": 1, "v": 1.5}, {"_op": "d", "a": "x", "b": 2}],
        ],
        primary_key=("a", "b"),
    )
    info = table_info(batch.schema)
    assert info.primary_key == ("a", "b") and info.columns == ("a", "b", "v")
    assert replay(pa.Table.from_batches([batch]), info.primary_key).to_pylist() == [
        {"a": "x", "b": 1, "v": 1.5}
    ]


def test_dictionary_encoded_op_column():
    batch = make_changes(
        COLS, [[{"_op": "c", "id": 1, "name": "a", "n": 0}], [{"_op": "d", "id": 1}]]
    )
    idx = batch.schema.get_field_index("_op")
    ops = batch.column(idx).dictionary_encode()
    batch = batch.set_column(idx, pa.field("_op", ops.type), ops)
    net = collapse(batch, ("id",))
    assert net.deletes.column("id").to_pylist() == [1]
    assert net.upserts.num_rows == 0


def test_snapshot_reads_at_the_stored_position_are_applied_again():
    # A snapshot consistent with position 500, stored in two commits that both say 500.
    batch = make_batch(
        COLS,
        [
            {"_op": "r", "_pos": 500, "_seq": 0, "id": 1, "name": "a", "n": 0},
            {"_op": "r", "_pos": 500, "_seq": 1, "id": 2, "name": "b", "n": 0},
            {"_op": "u", "_pos": 600, "_seq": 0, "id": 1, "name": "a2", "n": 1},
        ],
    )
    assert _rows(collapse(batch, ("id",), after=500).upserts) == [
        {"id": 1, "name": "a2", "n": 1},
        {"id": 2, "name": "b", "n": 0},
    ]
    # Past the snapshot's position the reads are old news.
    assert collapse(batch, ("id",), after=600).upserts.num_rows == 0
    only_changes = make_batch(COLS, [{"_op": "u", "_pos": 500, "_seq": 0, "id": 1, "n": 5}])
    assert collapse(only_changes, ("id",), after=500).upserts.num_rows == 0


def test_key_change_with_an_interval_struct_column_as_parquet_stores_it():
    # The Parquet sink stores intervals as a struct whose children are not nullable; the delete
    # of a moved key's old row carries nulls in that column, which a cast would refuse.
    cols = [("id", pa.int64()), ("d", INTERVAL_STRUCT)]
    day = {"months": 0, "days": 1, "nanoseconds": 0}
    batch = make_changes(
        cols,
        [
            [{"_op": "r", "id": 1, "d": day}, {"_op": "r", "id": 2, "d": None}],
            [{"_op": "u", "id": 3, "d": day, "_before": {"id": 1}}],
        ],
    )
    assert _rows(replay(pa.Table.from_batches([batch]), ("id",))) == [
        {"id": 2, "d": None},
        {"id": 3, "d": day},
    ]


def test_interval_struct_as_a_key_column_under_replica_identity_full():
    # Under REPLICA IDENTITY FULL every column is a key column: the interval struct is sorted
    # and grouped by a stand-in, with a null as a value of its own.
    cols = [("id", pa.int64()), ("d", INTERVAL_STRUCT)]
    day = {"months": 0, "days": 1, "nanoseconds": 0}
    week = {"months": 0, "days": 7, "nanoseconds": 0}
    batch = make_changes(
        cols,
        [
            [
                {"_op": "r", "id": 1, "d": day},
                {"_op": "r", "id": 2, "d": None},
                {"_op": "r", "id": 5, "d": week},
            ],
            [
                {"_op": "u", "id": 3, "d": None, "_before": {"id": 2, "d": None}},
                {"_op": "u", "id": 1, "d": week, "_before": {"id": 1, "d": day}},
                {"_op": "d", "id": 5, "d": week},
            ],
        ],
        primary_key=("id", "d"),
    )
    assert _rows(replay(pa.Table.from_batches([batch]), ("id", "d"))) == [
        {"id": 1, "d": week},
        {"id": 3, "d": None},
    ]


def test_replay_rows_of_a_table_without_a_key_counts_identical_rows():
    from arrowtail.changes import replay_rows

    cols = [("a", pa.int64()), ("f", pa.float64()), ("s", pa.string())]
    nan = float("nan")
    batch = make_changes(
        cols,
        [
            [
                {"_op": "r", "a": 1, "f": 1.5, "s": "x"},
                {"_op": "r", "a": 1, "f": 1.5, "s": "x"},
                {"_op": "r", "a": 1, "f": 1.5, "s": "x"},
                {"_op": "r", "a": 2, "f": nan, "s": None},
            ],
            # One of three copies goes, one changes (its old image names which row).
            [
                {"_op": "d", "a": 1, "f": 1.5, "s": "x"},
                {"_op": "u", "a": 1, "f": 1.5, "s": "y", "_before": {"a": 1, "f": 1.5, "s": "x"}},
                # A NaN row is found again by its old image, a missing row's delete is nothing.
                {"_op": "u", "a": 3, "f": nan, "s": None, "_before": {"a": 2, "f": nan, "s": None}},
                {"_op": "d", "a": 9, "f": 0.0, "s": "never there"},
            ],
        ],
    )
    rows = replay_rows(pa.Table.from_batches([batch])).to_pylist()
    got = sorted((r["a"], r["s"], r["f"] == r["f"]) for r in rows)
    assert got == [(1, "x", True), (1, "y", True), (3, None, False)]
    truncated = make_changes(cols, [[{"_op": "r", "a": 1, "f": 0.0, "s": "x"}], [{"_op": "t"}]])
    assert replay_rows(pa.Table.from_batches([truncated])).num_rows == 0
