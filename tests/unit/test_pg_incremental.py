"""The watermark logic of incremental snapshots on hand-made change batches (no server): which
held rows a streamed change removes, where the chunk goes out, and the progress in positions."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from arrowtail import config
from arrowtail.sources.postgres.incremental import (
    SIGNAL_PREFIX,
    WATERMARK_PREFIX,
    IncrementalSnapshots,
    XidSnapshot,
    _Held,
    row_keys,
)


def changes(rows: list[tuple[str, int, int, int]], *, old: list[int | None] | None = None) -> Any:
    """A batch of ``public.t`` changes ``(op, id, _pos, _xid)``, with ``_before`` ids if given."""
    cols: dict[str, Any] = {
        "id": pa.array([r[1] for r in rows], pa.int32()),
        "_op": pa.array([r[0] for r in rows]),
        "_pos": pa.array([r[2] for r in rows], pa.uint64()),
        "_seq": pa.array(range(len(rows)), pa.uint32()),
        "_xid": pa.array([r[3] for r in rows], pa.uint64()),
    }
    if old is not None:
        cols["_before"] = pa.array(
            [None if o is None else {"id": o} for o in old], pa.struct([("id", pa.int32())])
        )
    return ("public.t", 1, pa.RecordBatch.from_pydict(cols))


def messages(items: list[tuple[int, str, dict[str, Any]]]) -> Any:
    batch = pa.RecordBatch.from_pydict(
        {
            "prefix": [p for _, p, _ in items] + ["app"],
            "content": pa.array([json.dumps(b).encode() for _, _, b in items] + [b"x"]),
            "_op": ["m"] * (len(items) + 1),
            "_pos": pa.array([p for p, _, _ in items] + [1], pa.uint64()),
        }
    )
    return ("_messages", 1, batch)


def chunk(ids: list[int]) -> pa.RecordBatch:
    return changes([("r", i, 0, 0) for i in ids])[2]


def held_source(snapshot: str = "100:110:105") -> IncrementalSnapshots:
    inc = IncrementalSnapshots("postgresql://unused/db", "pub")
    inc.requests = [{"id": "s1", "tables": ["public.t"], "after": None, "chunks": 0}]
    inc._held = _Held(
        "s1", "public.t", "tok", 0, ["id"], ["6"], XidSnapshot.parse(snapshot), [chunk([1, 2, 3])]
    )
    inc._held.batches.append(chunk([4, 5, 6]))
    return inc


def mark(kind: str, token: str = "tok") -> dict[str, Any]:
    return {"id": "s1", "chunk": 0, "kind": kind, "token": token}


def test_xid_visibility_follows_the_snapshot_and_wraps() -> None:
    snap = XidSnapshot.parse("100:110:102,105")
    assert [snap.sees(x) for x in (99, 100, 102, 104, 105, 110, 200)] == [
        True, True, False, True, False, False, False,
    ]  # fmt: skip
    # xmax in the second epoch: a 32-bit xid just below 2^32 belongs to the first one.
    wrapped = XidSnapshot.parse(f"{(1 << 32) + 5}:{(1 << 32) + 9}:")
    assert wrapped.sees(0xFFFFFFFE) and wrapped.sees(6) and not wrapped.sees(9)


def test_row_keys_of_rows_and_before_images() -> None:
    _t, _v, batch = changes([("u", 7, 1, 1), ("u", 8, 1, 1)], old=[3, None])
    assert row_keys(batch, ["id"]) == [(7,), (8,)]
    assert row_keys(batch, ["id"], "_before") == [(3,), None]


def test_changes_between_watermarks_remove_keys_and_the_chunk_goes_out_at_high() -> None:
    inc = held_source()
    out = inc.process(
        [
            # Before the low watermark: seen by the chunk's snapshot (xid 101) or not (105).
            changes([("u", 1, 50, 101), ("u", 2, 60, 105)]),
            messages([(70, WATERMARK_PREFIX, mark("low"))]),
            # Between: key 3 updated, key 9 moved to key 4 (old key in _before).
            changes([("u", 3, 80, 120), ("u", 4, 85, 121)], old=[None, 9]),
            messages([(90, WATERMARK_PREFIX, mark("high"))]),
            # After the high watermark: no effect on the chunk.
            changes([("d", 5, 95, 122)]),
        ]
    )
    tables = [t for t, _v, _b in out]
    assert "_messages" in tables  # the application's own message stays
    rows = [
        (t, r["_op"], r["id"], r["_pos"])
        for t, _v, b in out
        if t == "public.t"
        for r in b.to_pylist()
    ]
    assert rows == [
        ("public.t", "u", 1, 50),
        ("public.t", "u", 2, 60),
        ("public.t", "u", 3, 80),
        ("public.t", "u", 4, 85),
        ("public.t", "r", 1, 90),
        ("public.t", "r", 5, 90),
        ("public.t", "r", 6, 90),
        ("public.t", "d", 5, 95),
    ]
    prefixes = [p for t, _v, b in out if t == "_messages" for p in b.column("prefix").to_pylist()]
    assert prefixes == ["app", "app"]  # one per message batch of the helper
    # Progress: one chunk done, the next starts after its bound.
    assert inc.requests[0]["chunks"] == 1 and inc.requests[0]["after"] == ["6"]


def test_watermarks_of_another_run_are_ignored() -> None:
    inc = held_source()
    out = inc.process([messages([(70, WATERMARK_PREFIX, mark("high", token="old"))])])
    assert [t for t, _v, _b in out] == ["_messages"]
    assert inc._held is not None


def test_truncate_in_the_window_empties_the_chunk() -> None:
    inc = held_source()
    out = inc.process(
        [
            messages([(70, WATERMARK_PREFIX, mark("low"))]),
            changes([("t", 0, 80, 130)]),
            messages([(90, WATERMARK_PREFIX, mark("high"))]),
        ]
    )
    assert [r["_op"] for t, _v, b in out if t == "public.t" for r in b.to_pylist()] == ["t"]


def test_signals_queue_requests_once_and_progress_rides_in_positions() -> None:
    inc = IncrementalSnapshots("postgresql://unused/db", "pub")
    body = {"type": "snapshot", "id": "abc", "tables": ["s.a", "b"]}
    out = inc.process([messages([(10, SIGNAL_PREFIX, body), (11, SIGNAL_PREFIX, body)])])
    assert [p for _t, _v, b in out for p in b.column("prefix").to_pylist()] == ["app"]
    assert inc.requests == [
        {"id": "abc", "tables": ["s.a", "public.b"], "after": None, "chunks": 0}
    ]
    last = {"lsn": 5, "end_lsn": 6}
    first = inc.attach(None, last)
    assert first == {**last, "incremental": inc.requests}
    assert inc.attach(None, last) is None  # nothing changed since
    assert inc.attach({"lsn": 7, "end_lsn": 8}, last) == {
        "lsn": 7, "end_lsn": 8, "incremental": inc.requests,
    }  # fmt: skip
    again = IncrementalSnapshots("postgresql://unused/db", "pub")
    again.restore(first)
    assert again.requests == inc.requests and again.active
    inc.requests.clear()
    assert inc.attach(None, last) == last  # the finished snapshot leaves the position


def test_a_request_for_a_slot_is_taken_by_that_slots_source_alone() -> None:
    """A source asks for a table it met rewritten or joined; the sources of other slots meet
    the same table and ask for their own, so each reads it once."""
    mine = IncrementalSnapshots("postgresql://unused/db", "pub", slot="one")
    other = IncrementalSnapshots("postgresql://unused/db", "pub", slot="two")
    own = {"type": "snapshot", "id": "r1", "tables": ["s.a"], "slot": "one"}
    everyone = {"type": "snapshot", "id": "r2", "tables": ["s.b"]}
    for inc in (mine, other):
        inc.process([messages([(10, SIGNAL_PREFIX, own), (11, SIGNAL_PREFIX, everyone)])])
    assert [r["id"] for r in mine.requests] == ["r1", "r2"]
    assert [r["id"] for r in other.requests] == ["r2"]


def test_a_table_to_replace_starts_with_a_truncate_at_the_low_watermark() -> None:
    """Changes before the low watermark first, then the t row at it, then the rest: a change
    between the watermarks applies after the truncate and removes its key from the chunk."""
    inc = held_source()
    inc.requests[0]["replace"] = ["public.t"]
    t_row = changes([("t", 0, 0, 0)])[2]
    assert inc._held is not None
    inc._held.truncate = t_row.set_column(0, "id", pa.nulls(1, pa.int32()))
    out = inc.process(
        [
            changes([("u", 1, 50, 101), ("u", 7, 75, 120)]),
            messages([(70, WATERMARK_PREFIX, mark("low"))]),
            messages([(90, WATERMARK_PREFIX, mark("high"))]),
        ]
    )
    rows = [
        (r["_op"], r["id"], r["_pos"]) for t, _v, b in out if t == "public.t" for r in b.to_pylist()
    ]
    assert rows == [
        ("u", 1, 50),
        ("t", None, 70),
        ("u", 7, 75),
        ("r", 1, 90), ("r", 2, 90), ("r", 3, 90), ("r", 4, 90), ("r", 5, 90), ("r", 6, 90),
    ]  # fmt: skip
    assert inc._held is None
    # The next chunk of the table starts with none.
    assert inc.requests[0]["after"] == ["6"] and inc.requests[0]["replace"] == ["public.t"]


def test_a_request_to_replace_folded_into_one_not_begun_passes_it_on() -> None:
    """A table found replaced while a request that has not begun it waits: that request reads
    it with the truncate, and a first chunk read without it is dropped and read again."""
    inc = IncrementalSnapshots("postgresql://unused/db", "pub")
    first = {"type": "snapshot", "id": "r1", "tables": ["public.t", "public.u"]}
    inc.process([messages([(10, SIGNAL_PREFIX, first)])])
    inc._held = _Held(
        "r1", "public.t", "tok", 0, ["id"], None, XidSnapshot.parse("100:110:"), [chunk([1])]
    )
    replace = {"type": "snapshot", "id": "r2", "tables": ["public.t"], "replace": ["public.t"]}
    inc.process([messages([(11, SIGNAL_PREFIX, replace)])])
    assert [r["id"] for r in inc.requests] == ["r1"]
    assert inc.requests[0]["replace"] == ["public.t"] and inc._held is None
    # A table the request is past takes a request of its own.
    inc.requests[0]["tables"] = ["public.u"]
    inc.requests[0]["after"] = ["3"]
    again = {"type": "snapshot", "id": "r3", "tables": ["public.u"], "replace": ["public.u"]}
    inc.process([messages([(12, SIGNAL_PREFIX, again)])])
    assert [(r["id"], r.get("replace")) for r in inc.requests] == [
        ("r1", ["public.t"]),
        ("r3", ["public.u"]),
    ]


def test_a_request_for_a_table_whose_reading_has_not_begun_adds_nothing() -> None:
    """A restart that stops before storing a position asks again at its next start: the
    requests pile up in the WAL, and all but the first are read by it."""
    inc = IncrementalSnapshots("postgresql://unused/db", "pub")
    first = {"type": "snapshot", "id": "r1", "tables": ["public.t"]}
    again = {"type": "snapshot", "id": "r2", "tables": ["public.t"]}
    other = {"type": "snapshot", "id": "r3", "tables": ["public.t", "public.u"]}
    inc.process([messages([(10, SIGNAL_PREFIX, first), (11, SIGNAL_PREFIX, again)])])
    inc.process([messages([(12, SIGNAL_PREFIX, other)])])
    assert [r["id"] for r in inc.requests] == ["r1", "r3"]
    # Its first chunk read, but the chunk's low watermark is later in the stream: not begun.
    inc.requests = inc.requests[:1]
    inc._held = _Held(
        "r1", "public.t", "tok", 0, ["id"], None, XidSnapshot.parse("100:110:"), [chunk([1])]
    )
    inc.process([messages([(13, SIGNAL_PREFIX, again)])])
    assert [r["id"] for r in inc.requests] == ["r1"]
    # Past its low watermark the reading has begun: a later request is read once more.
    low = {"id": "r1", "chunk": 0, "kind": "low", "token": "tok"}
    later = {"type": "snapshot", "id": "r4", "tables": ["public.t"]}
    inc.process([messages([(14, WATERMARK_PREFIX, low), (15, SIGNAL_PREFIX, later)])])
    assert [r["id"] for r in inc.requests] == ["r1", "r4"]


def test_configuration_of_chunks_and_toast_reselect() -> None:
    cfg = config.load(
        overrides={"source": {"url": "postgresql://u@h/db"}, "sink": {"url": "jsonl:-"}},
        environ={
            "ARROWTAIL_SOURCE_TOAST_RESELECT": "true",
            "ARROWTAIL_SOURCE_INCREMENTAL_CHUNK_ROWS": "500",
        },
    )
    assert cfg.source.toast_reselect is True
    assert cfg.source.incremental_chunk_rows == 500
    assert cfg.source.snapshot_chunk_rows == 100_000


def test_a_chunk_snapshot_must_see_the_transactions_already_streamed() -> None:
    inc = IncrementalSnapshots("postgresql://unused/db", "pub")
    inc.requests = [{"id": "s1", "tables": ["public.t"], "after": None, "chunks": 0}]
    inc.process([changes([("u", 1, 50, 101), ("u", 2, 60, 104)])])
    inc.process([("public.other", 1, changes([("u", 1, 61, 107)])[2])])
    assert inc.streamed_unseen(XidSnapshot.parse("100:110:")) == []
    # 104 committed and was streamed, but this snapshot still lists it as running.
    assert inc.streamed_unseen(XidSnapshot.parse("100:110:104")) == [104]
    # Every table counts: a partition read for its root has its changes under the root's name.
    assert inc.streamed_unseen(XidSnapshot.parse("100:105:")) == [107]
    # Messages are no table's.
    inc.process([messages([(70, "app", {})])])
    assert inc.streamed_unseen(XidSnapshot.parse("100:110:")) == []
