"""The stored state of an initial snapshot read in pieces: finished key ranges join where they
meet, page ranges merge and their gaps are what a resumed run reads, and the state survives its
JSON form unchanged; the consumer of the readers' hand-off queue hands on before each state exactly
the rows of the pieces it lists, whatever order the readers' batches arrive in."""

from __future__ import annotations

import json
import queue
from typing import Any

import pyarrow as pa
import pytest

from arrowtail import cli, config
from arrowtail.exceptions import ConfigError
from arrowtail.runner import _brief_position
from arrowtail.sources.marks import SnapshotMarks
from arrowtail.sources.postgres.parallel import (
    COLUMN_GONE,
    DEFAULT_WORKERS,
    Piece,
    Progress,
    SnapshotState,
    _consume,
    _merge_keys,
    _merge_pages,
    _Threads,
    page_gaps,
)
from arrowtail.sources.postgres.position import PgPosition
from arrowtail.sources.postgres.snapshot import TableShape

KEYED = TableShape("public", "t", [("id", 23, -1, False)], ["id"], ["integer"])
HEAP = TableShape("public", "h", [("n", 23, -1, False)], [], [])


def test_key_ranges_join_where_they_meet_in_any_order() -> None:
    ranges = _merge_keys([], ["10"], ["20"])
    ranges = _merge_keys([(a, b) for a, b in ranges], None, ["10"])
    assert ranges == [[None, ["20"]]]
    ranges = _merge_keys([(a, b) for a, b in ranges], ["30"], None)
    assert ranges == [[None, ["20"]], [["30"], None]]
    # The piece between them closes the gap: one range covering every key.
    ranges = _merge_keys([(a, b) for a, b in ranges], ["20"], ["30"])
    assert ranges == [[None, None]]


def test_page_ranges_merge_and_gaps_are_the_rest() -> None:
    ranges = _merge_pages([], 10, 20)
    ranges = _merge_pages([(a, b) for a, b in ranges], 0, 5)
    ranges = _merge_pages([(a, b) for a, b in ranges], 5, 10)
    assert ranges == [[0, 20]]
    ranges = _merge_pages([(a, b) for a, b in ranges], 40, None)
    assert ranges == [[0, 20], [40, None]]
    assert page_gaps([(0, 20), (40, None)]) == [(20, 40)]
    assert page_gaps([(5, 8)]) == [(0, 5), (8, None)]
    assert page_gaps([]) == [(0, None)]
    assert page_gaps([(0, None)]) == []


def test_state_records_pieces_then_the_table_and_round_trips() -> None:
    state = SnapshotState()
    state.finish_piece(Piece(KEYED, after=None, upto=["100"]), 100)
    state.finish_piece(Piece(HEAP, pages=(0, 8)), 700)
    data = json.loads(json.dumps(state.to_json()))
    again = SnapshotState(data)
    assert again.key_ranges("public.t") == [(None, ["100"])]
    assert again.page_ranges("public.h") == [(0, 8)]
    assert again.seq("public.t") == 100 and again.seq("public.h") == 700
    assert not again.done("public.t") and not again.done("public.x")
    again.finish_table("public.t")
    assert again.done("public.t") and again.seq("public.t") == 0
    # The state the pieces were recorded in is not changed by a copy's later changes.
    assert not state.done("public.t")


def test_keyed_page_ranges_keep_their_snapshot_until_the_table_is_read_anew() -> None:
    first = ("740:745:742", 16384)
    state = SnapshotState()
    state.finish_piece(Piece(KEYED, pages=(0, 8), seen=first), 300)
    state.finish_piece(Piece(KEYED, pages=(8, 16), seen=first), 600)
    again = SnapshotState(json.loads(json.dumps(state.to_json())))
    assert again.page_ranges("public.t") == [(0, 16)] and not again.key_ranges("public.t")
    assert again.seen("public.t") == first
    # Read again whole after a rewrite: the ranges of the old heap file count no more.
    rewritten = ("900:900:", 16999)
    again.finish_piece(Piece(KEYED, pages=(4, 12), seen=rewritten), 900)
    assert again.page_ranges("public.t") == [(4, 12)]
    assert again.seen("public.t") == rewritten and again.seq("public.t") == 900
    # A keyless table's ranges carry no snapshot.
    state.finish_piece(Piece(HEAP, pages=(0, 8)), 10)
    assert state.seen("public.h") is None and "seen" not in state.to_json()["tables"]["public.h"]


def test_keyless_page_ranges_keep_their_heap_file_until_the_table_is_read_anew() -> None:
    state = SnapshotState()
    state.finish_piece(Piece(HEAP, pages=(0, 8), file=16384), 300)
    state.finish_piece(Piece(HEAP, pages=(8, 16), file=16384), 600)
    again = SnapshotState(json.loads(json.dumps(state.to_json())))
    assert again.page_ranges("public.h") == [(0, 16)] and again.file("public.h") == 16384
    assert again.seen("public.h") is None
    # Read again whole after a rewrite: the ranges of the old heap file count no more.
    again.finish_piece(Piece(HEAP, pages=(4, 12), file=16999), 900)
    assert again.page_ranges("public.h") == [(4, 12)] and again.file("public.h") == 16999
    # A checkpoint stored without the file has none, and keeps its ranges when a piece of the
    # resumed run adds its own with the file.
    old = SnapshotState({"tables": {"public.h": {"pages": [[0, 8]], "seq": 80}}})
    assert old.file("public.h") is None
    old.finish_piece(Piece(HEAP, pages=(8, 12), file=16384), 120)
    assert old.page_ranges("public.h") == [(0, 12)] and old.file("public.h") == 16384


def test_position_carries_the_snapshot_state() -> None:
    state = {"tables": {"public.t": {"keys": [[None, ["5"]]], "seq": 5}}}
    position = PgPosition(100, 100, snapshot_progress=state)
    stored = json.loads(json.dumps(position.to_json()))
    assert stored == {"lsn": 100, "end_lsn": 100, "snapshot_progress": state}
    assert PgPosition.from_json(stored) == position
    assert PgPosition.from_json({"lsn": 1}).snapshot_progress is None


def test_snapshot_workers_come_from_configuration_and_must_be_positive() -> None:
    base = {"source": {"url": "postgresql://u@h/db"}, "sink": {"url": "jsonl:-"}}
    assert config.load(overrides=base, environ={}).source.snapshot_workers == DEFAULT_WORKERS
    cfg = config.load(overrides=base, environ={"ARROWTAIL_SOURCE_SNAPSHOT_WORKERS": "4"})
    assert cfg.source.snapshot_workers == 4
    with pytest.raises(ConfigError, match="snapshot_workers"):
        config.load(overrides=base, environ={"ARROWTAIL_SOURCE_SNAPSHOT_WORKERS": "0"})
    args = cli.build_parser().parse_args(
        ["run", "--source", "postgresql://u@h/db", "--to", "jsonl:-", "--snapshot-workers", "3"]
    )
    assert cli._overrides(args)["source"]["snapshot_workers"] == 3


def test_status_sums_up_the_snapshot_progress() -> None:
    position = {
        "lsn": 7,
        "end_lsn": 7,
        "snapshot_progress": {
            "tables": {
                "public.a": {"done": True},
                "public.b": {"keys": [[None, ["9"]]], "seq": 9},
                "public.c": {"done": True},
            }
        },
    }
    assert _brief_position(position) == {
        "lsn": 7,
        "end_lsn": 7,
        "snapshot_tables_done": 2,
        "snapshot_tables_started": 1,
    }


def rows(table: str, first: int, keys: range) -> tuple[str, int, pa.RecordBatch]:
    """A batch as a piece's decoder gives it: ``_seq`` from ``first`` within the piece."""
    seq = pa.array(range(first, first + len(keys)), pa.uint32())
    return table, 1, pa.RecordBatch.from_arrays([seq, pa.array(keys)], names=["_seq", "k"])


def consume(items: list[tuple[Any, ...]], workers: int = 2, hold_bytes: int = 1 << 30) -> list[Any]:
    """What the consumer hands on for the readers' ``items``, in order: ``(table, _seq list,
    k list)`` per batch, the state per :class:`Progress`."""
    threads = _Threads(workers)
    threads.out = queue.Queue()
    for item in [*items, *[("exit",)] * (workers + 1)]:
        threads.out.put(item)
    out: list[Any] = []
    # chunk_rows 1: a state after every finished piece that follows a row.
    for item in _consume(threads, SnapshotState(), 1, SnapshotMarks("public.t"), hold_bytes):
        if isinstance(item, Progress):
            out.append(item.state)
        else:
            table, _, batch = item
            out.append((table, batch.column("_seq").to_pylist(), batch.column("k").to_pylist()))
    return out


def covers(done: list[Any], piece: Piece) -> bool:
    """Whether one of the finished key ranges ``done`` holds the whole of ``piece``."""
    for lo, hi in done:
        starts = lo is None or (piece.after is not None and int(lo[0]) <= int(piece.after[0]))
        ends = hi is None or (piece.upto is not None and int(piece.upto[0]) <= int(hi[0]))
        if starts and ends:
            return True
    return False


def claimed(state: dict[str, Any], pieces: dict[str, tuple[Piece, range]]) -> set[tuple[str, int]]:
    """The rows of the pieces ``state`` lists as finished (or whose table it lists as done)."""
    out = set()
    for piece, keys in pieces.values():
        table = piece.shape.name
        entry = state["tables"].get(table, {})
        if entry.get("done") or (
            covers(entry.get("keys", []), piece)
            if piece.shape.pk
            else [0, None] in entry.get("pages", [])
        ):
            out |= {(table, k) for k in keys}
    return out


def check_states(out: list[Any], pieces: dict[str, tuple[Piece, range]]) -> None:
    """Before each state exactly the rows of the pieces it lists went on; at the end each row
    once, ``_seq`` counting each table's rows in the order handed on."""
    handed: list[tuple[str, int]] = []
    seqs: dict[str, list[int]] = {}
    states = 0
    for item in out:
        if isinstance(item, dict):
            states += 1
            assert set(handed) == claimed(item, pieces), (item, handed)
        else:
            table, seq, keys = item
            handed += [(table, k) for k in keys]
            seqs.setdefault(table, []).extend(seq)
    assert states > 0
    assert sorted(handed) == sorted({(p.shape.name, k) for p, ks in pieces.values() for k in ks})
    assert len(handed) == len(set(handed))
    assert all(s == list(range(len(s))) for s in seqs.values()), seqs


def test_a_piece_goes_on_only_with_its_end_so_a_state_covers_what_went_before() -> None:
    a = Piece(KEYED, after=None, upto=["10"])
    b = Piece(KEYED, after=["10"], upto=None)
    items = [
        ("total", 20),
        ("table", "public.t", 20),
        # b's reader hands over part of its rows before a's piece is done.
        ("batch", b, rows("public.t", 0, range(11, 15))),
        ("batch", a, rows("public.t", 0, range(1, 11))),
        ("done", a),
        ("batch", b, rows("public.t", 4, range(15, 21))),
        ("done", b),
        ("planned", "public.t", 2),
    ]
    out = consume(items)
    check_states(out, {"a": (a, range(1, 11)), "b": (b, range(11, 21))})
    # a's rows first, numbered from 0, then b's whole, after the state that lists a.
    batches = [item for item in out if not isinstance(item, dict)]
    assert [k for _t, _s, ks in batches for k in ks] == list(range(1, 21))
    first_state = next(i for i, item in enumerate(out) if isinstance(item, dict))
    assert out[first_state]["tables"]["public.t"] == {"keys": [[None, ["10"]]], "seq": 10}
    assert all(ks[0] > 10 for _t, _s, ks in (i for i in out[first_state:] if isinstance(i, tuple)))


def test_no_state_while_a_table_read_whole_went_on_in_part() -> None:
    whole = Piece(HEAP)
    a = Piece(KEYED, after=None, upto=None)
    items = [
        ("total", 30),
        ("table", "public.h", 20),
        ("table", "public.t", 10),
        # Read whole, so handed on as it comes: no state may follow until it ends.
        ("batch", whole, rows("public.h", 0, range(100, 110))),
        ("batch", a, rows("public.t", 0, range(1, 11))),
        ("done", a),
        ("batch", whole, rows("public.h", 10, range(110, 120))),
        ("done", whole),
        ("planned", "public.h", 1),
        ("planned", "public.t", 1),
    ]
    out = consume(items)
    check_states(out, {"whole": (whole, range(100, 120)), "a": (a, range(1, 11))})
    heap = [i for i, item in enumerate(out) if isinstance(item, tuple) and item[0] == "public.h"]
    assert not any(isinstance(item, dict) for item in out[heap[0] : heap[-1]])
    # The whole table's rows went on as they came, before the keyed piece ended.
    assert [item[2][0] for item in out if isinstance(item, tuple)] == [100, 1, 110]


def test_a_piece_past_the_byte_bound_goes_on_as_it_comes_and_holds_back_states() -> None:
    a = Piece(KEYED, after=None, upto=["10"])
    b = Piece(KEYED, after=["10"], upto=None)
    first = rows("public.t", 0, range(11, 15))
    items = [
        ("total", 20),
        ("table", "public.t", 20),
        ("batch", b, first),
        # b's second batch passes the bound: b's rows go on from here, as they come.
        ("batch", b, rows("public.t", 4, range(15, 18))),
        ("batch", a, rows("public.t", 0, range(1, 11))),
        ("done", a),
        ("batch", b, rows("public.t", 7, range(18, 21))),
        ("done", b),
        ("planned", "public.t", 2),
    ]
    out = consume(items, hold_bytes=first[2].get_total_buffer_size())
    check_states(out, {"a": (a, range(1, 11)), "b": (b, range(11, 21))})
    # b's held batch and the one past the bound went on before a's piece ended ...
    batches = [item for item in out if isinstance(item, tuple)]
    assert [ks[0] for _t, _s, ks in batches] == [11, 15, 1, 18]
    # ... so no state came before b ended: a state listing a would not cover b's rows.
    last_b = max(i for i, item in enumerate(out) if isinstance(item, tuple) and item[2][0] >= 11)
    assert not any(isinstance(item, dict) for item in out[:last_b])


def test_a_table_to_read_again_is_told_before_the_state_that_counts_its_piece() -> None:
    """A reader that finds a column gone sends the table before its piece's end: the request
    is written before any snapshot position counts the piece as read, so a run stopped after
    that position still reads the table again."""
    a = Piece(KEYED, after=None, upto=["10"])
    b = Piece(KEYED, after=["10"], upto=None)
    h = Piece(HEAP, pages=(0, None))
    items = [
        ("total", 15),
        ("table", "public.t", 10),
        ("batch", a, rows("public.t", 0, range(1, 11))),
        ("done", a),
        # b found a column gone: no rows, the table sent ahead of its end.
        ("again", "public.t", COLUMN_GONE),
        ("done", b),
        ("planned", "public.t", 2),
        ("table", "public.h", 5),
        ("batch", h, rows("public.h", 0, range(1, 6))),
        ("done", h),
        ("planned", "public.h", 1),
    ]
    threads = _Threads(2)
    threads.out = queue.Queue()
    for item in [*items, *[("exit",)] * 3]:
        threads.out.put(item)
    seen: list[Any] = []

    def told(*args: Any) -> None:
        seen.append(args)

    for item in _consume(threads, SnapshotState(), 1, SnapshotMarks("public.t"), 1 << 30, told):
        if isinstance(item, Progress):
            seen.append(item.state["tables"]["public.t"])
    told_at = seen.index(("public.t", COLUMN_GONE))
    # No state before it counts b; one after it counts the table read.
    assert all(state.get("keys") == [[None, ["10"]]] for state in seen[:told_at]), seen
    assert {"done": True} in seen[told_at:], seen
