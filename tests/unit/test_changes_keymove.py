"""Primary-key changes whose new row leaves columns out as ``_unchanged`` (PostgreSQL: unchanged
TOAST values): the new row keeps the old row's values, from the batch or carried from the target."""

from __future__ import annotations

import pyarrow as pa

from arrowtail.changes import collapse, replay
from tests.support.batches import make_changes

COLS = [("id", pa.int64()), ("big", pa.string()), ("n", pa.int32())]


def _move(old: int, new: int, n: int) -> dict:
    """An update moving ``old`` to ``new`` that does not send ``big``."""
    return {"_op": "u", "id": new, "n": n, "_unchanged": ["big"], "_before": {"id": old}}


def _carries(net) -> list[tuple[list[str], list[dict]]]:
    return [(cols, sorted(t.to_pylist(), key=lambda r: r["id"])) for cols, t in net.carries()]


def test_moved_row_carries_unchanged_columns_from_the_old_key_in_the_target():
    net = collapse(make_changes(COLS, [[_move(1, 5, 7)]]), ("id",))
    assert net.deletes.column("id").to_pylist() == [1]
    assert net.upserts.to_pylist() == [{"id": 5, "big": None, "n": 7}]
    assert _carries(net) == [(["big"], [{"id": 5, "__from_id": 1}])]
    # The upsert leaves the carried column alone; the sink fills it from the old row.
    assert [cols for cols, _ in net.groups()] == [["id", "n"]]


def test_old_row_written_earlier_in_the_batch_supplies_the_value():
    batch = make_changes(
        COLS,
        [
            [{"_op": "c", "id": 1, "big": "toast", "n": 0}],
            [{"_op": "u", "id": 1, "big": None, "n": 1, "_unchanged": ["big"]}],
            [_move(1, 5, 2)],
        ],
    )
    net = collapse(batch, ("id",))
    assert net.upserts.to_pylist() == [{"id": 5, "big": "toast", "n": 2}]
    assert net.carry_from is None and _carries(net) == []
    assert [cols for cols, _ in net.groups()] == [["id", "big", "n"]]
    assert replay(pa.Table.from_batches([batch]), ("id",)).to_pylist() == [
        {"id": 5, "big": "toast", "n": 2}
    ]


def test_chain_of_key_changes_carries_from_the_first_key():
    batch = make_changes(COLS, [[_move(1, 2, 1)], [_move(2, 3, 2)], [_move(3, 4, 3)]])
    net = collapse(batch, ("id",))
    assert sorted(net.deletes.column("id").to_pylist()) == [1, 2, 3]
    assert net.upserts.to_pylist() == [{"id": 4, "big": None, "n": 3}]
    assert _carries(net) == [(["big"], [{"id": 4, "__from_id": 1}])]


def test_swapped_keys_carry_each_others_values():
    # id 1 <-> id 2 through a temporary key, one transaction.
    batch = make_changes(COLS, [[_move(1, -1, 10), _move(2, 1, 20), _move(-1, 2, 30)]])
    net = collapse(batch, ("id",))
    assert sorted(net.deletes.column("id").to_pylist()) == [-1, 1, 2]
    assert _carries(net) == [
        (["big"], [{"id": 1, "__from_id": 2}, {"id": 2, "__from_id": 1}]),
    ]
    assert sorted(net.upserts.column("n").to_pylist()) == [20, 30]


def test_column_sent_by_a_later_update_is_not_carried():
    batch = make_changes(COLS, [[_move(1, 5, 1)], [{"_op": "u", "id": 5, "big": "new", "n": 2}]])
    net = collapse(batch, ("id",))
    assert net.upserts.to_pylist() == [{"id": 5, "big": "new", "n": 2}]
    assert _carries(net) == []


def test_nothing_is_carried_across_a_truncate_or_from_a_deleted_row():
    after_truncate = collapse(make_changes(COLS, [[{"_op": "t"}], [_move(1, 5, 1)]]), ("id",))
    assert after_truncate.truncate and _carries(after_truncate) == []
    assert after_truncate.upserts.to_pylist() == [{"id": 5, "big": None, "n": 1}]
    assert not after_truncate.unchanged.any()  # written as NULL: there was no old row
    deleted_first = make_changes(
        COLS,
        [[{"_op": "d", "id": 1}], [{"_op": "u", "id": 1, "n": 0, "_unchanged": ["big"]}]]
        + [[_move(1, 5, 1)]],
    )
    net = collapse(deleted_first, ("id",))
    assert _carries(net) == [] and not net.unchanged.any()


def test_some_rows_carry_and_others_do_not():
    batch = make_changes(
        [*COLS, ("other", pa.string())],
        [
            [{"_op": "c", "id": 10, "big": "b10", "n": 0, "other": "o"}],
            [
                _move(1, 5, 1),
                {**_move(2, 6, 2), "_unchanged": ["big", "other"]},
                _move(10, 11, 3),
            ],
        ],
    )
    net = collapse(batch, ("id",))
    rows = {r["id"]: r for r in net.upserts.to_pylist()}
    # Row 11's move sent "other" (as NULL) and took "big" from row 10 of the batch.
    assert rows[11] == {"id": 11, "big": "b10", "n": 3, "other": None}
    assert sorted(_carries(net)) == [
        (["big"], [{"id": 5, "__from_id": 1}]),
        (["big", "other"], [{"id": 6, "__from_id": 2}]),
    ]
