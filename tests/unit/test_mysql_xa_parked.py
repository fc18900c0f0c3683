"""The MySQL source's bookkeeping of prepared XA transactions (arrowtail.sources.mysql.xa): the
floor every position carries while they wait, and rows from disk placed among a poll's rows by
``_pos``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from arrowtail.sources.base import TableBatch
from arrowtail.sources.mysql.xa import ParkedXa, interleave, split_at
from arrowtail.spill import Spill


def _batch(pos: list[int], ids: list[int] | None = None) -> pa.RecordBatch:
    ids = ids if ids is not None else list(range(len(pos)))
    return pa.record_batch(
        {
            "id": pa.array(ids, pa.int32()),
            "_pos": pa.array(pos, pa.uint64()),
            "_commit_ts": pa.array([0] * len(pos), pa.timestamp("us", tz="UTC")),
        }
    )


def _ids(batches: Iterator[TableBatch] | list[TableBatch]) -> list[tuple[str, int]]:
    return [(t, i) for t, _, b in batches for i in b.column("id").to_pylist()]


def test_rows_from_disk_go_in_at_their_commit_among_the_poll_rows() -> None:
    poll = [("a", 1, _batch([10, 20, 30], [1, 2, 3])), ("b", 1, _batch([15, 40], [4, 5]))]
    drains = [
        (35, iter([("a", 1, _batch([35], [7]))])),
        (25, iter([("a", 1, _batch([25, 25], [6, 6]))])),
    ]
    first, rest = interleave(drains, poll)
    assert _ids(first) == [("a", 1), ("a", 2), ("b", 4), ("a", 6), ("a", 6), ("a", 3), ("a", 7)]
    assert _ids(rest) == [("b", 5)]
    # Rows at the commit itself (the rest of a transaction whose start went to disk) follow.
    before, after = split_at([("a", 1, _batch([5, 9, 9]))], 9)
    assert [b.num_rows for _, _, b in before] == [1]
    assert [b.num_rows for _, _, b in after] == [2]


def test_positions_carry_the_floor_of_the_first_prepare_until_every_outcome(
    tmp_path: Path,
) -> None:
    parked = ParkedXa()
    open_spill = Spill(str(tmp_path))
    open_spill.add([("a", 1, _batch([0, 0], [1, 2]))])
    spills = [open_spill]

    def take_open() -> Spill:
        spill = spills.pop()
        spills.append(Spill(str(tmp_path)))
        return spill

    def follow(events: list[tuple], here: int, replay: int | None = None) -> list:
        at = {"pos": here, "file": "b.000001", "offset": here, "xa": {"pos": 1}}
        started = {"pos": replay or 0, "file": "b.000001", "offset": 4}
        return parked.follow(
            events,
            at,
            started,
            take_open,
            lambda ident: [("a", 1, _batch([0], [3]))],
            lambda rows: rows,
        )

    assert follow([("prepared", 1, False, False, "X'6b',X'',1")], here=100) == []
    assert parked.floor() == {"pos": 100, "file": "b.000001", "offset": 100}
    # Prepared before the checkpoint the dump re-reads up to: the floor is where it started.
    follow([("prepared", 2, True, True, "X'62',X'',1")], here=300, replay=50)
    assert parked.floor() is not None and parked.floor()["pos"] == 50
    assert list(tmp_path.iterdir()), "the taken rows wait on disk"
    follow([("dropped", 1, False)], here=400)
    assert parked.floor() is not None and parked.floor()["pos"] == 50
    drains = follow([("committed", 2, True, 500, 7_000_000)], here=450)
    assert parked.floor() is None
    [(pos, rows)] = drains
    got = list(rows)
    assert pos == 500 and _ids(got) == [("a", 1), ("a", 2), ("a", 3)]
    assert {p for _, _, b in got for p in b.column("_pos").to_pylist()} == {500}
    assert not list(tmp_path.iterdir()), "read back and removed"
