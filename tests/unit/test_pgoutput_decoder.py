"""PgOutputDecoder with hand-built pgoutput messages: the Python API, batches through pyarrow,
keepalive information, capture files, errors, and replay of the decoded changes."""

from __future__ import annotations

import datetime as dt
import struct

import pyarrow as pa
import pytest

from arrowtail import DecodeError, PgOutputDecoder
from tests.support.pgoutput_messages import (
    REL,
    begin,
    commit,
    delete,
    insert,
    relation,
    tuple_data,
    update,
    xlogdata,
)
from tests.support.replay import replay

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
#: PostgreSQL's epoch in Unix microseconds.
PG_EPOCH_US = 946_684_800_000_000


def feed_all(d: PgOutputDecoder, msgs: list[bytes]) -> None:
    for i, m in enumerate(msgs):
        d.feed(m, lsn=0x100 + i)


def test_transaction_becomes_one_pyarrow_batch() -> None:
    d = PgOutputDecoder()
    feed_all(
        d,
        [
            relation(),
            begin(0x500, 7, ts_us=1_500_000),
            insert([b"1", b"a", b"12.50"]),
            insert([b"2", None, b"NaN"]),
            commit(0x500),
        ],
    )
    out = d.flush()
    assert len(out) == 1
    table, version, batch = out[0]
    assert (table, version) == ("public.t", 1)
    assert isinstance(batch, pa.RecordBatch)
    assert batch.schema.field("amount").type == pa.decimal128(10, 2)
    assert batch.schema.metadata[b"arrowtail.primary_key"] == b"id"
    rows = batch.to_pylist()
    assert [r["id"] for r in rows] == [1, 2]
    assert rows[0]["amount"] == pytest.approx(12.5)
    assert rows[1]["amount"] is None
    assert rows[0]["_op"] == "c" and rows[0]["_pos"] == 0x500 and rows[1]["_seq"] == 1
    assert rows[0]["_commit_ts"] == PG_EPOCH + dt.timedelta(seconds=1.5)
    assert d.stats["special_numerics"] == 1
    assert d.committed_lsn == 0x500
    assert d.confirmable_lsn == 0x508


def test_replay_reproduces_the_table() -> None:
    d = PgOutputDecoder()
    msgs = [
        relation(),
        begin(0x10, 1),
        insert([b"1", b"a", b"1.00"]),
        insert([b"2", b"b", b"2.00"]),
        commit(0x10),
        begin(0x20, 2),
        update([b"1", "u", b"3.00"]),
        update([b"20", b"moved", b"4.00"], key=[b"2", None, None]),
        commit(0x20),
        begin(0x30, 3),
        insert([b"3", b"c", b"5.00"]),
        delete([b"1", None, None]),
        commit(0x30),
    ]
    d.feed_many([xlogdata(i, m) for i, m in enumerate(msgs)])
    tables = replay(d.flush())
    t = tables["public.t"]
    assert sorted(t) == [(3,), (20,)]
    assert t[(20,)]["note"] == "moved"
    assert t[(3,)]["note"] == "c"


def test_unchanged_column_carried_forward_by_replay() -> None:
    d = PgOutputDecoder()
    feed_all(
        d,
        [
            relation(),
            begin(0x10, 1),
            insert([b"1", b"big value", b"1.00"]),
            commit(0x10),
            begin(0x20, 2),
            update([b"1", "u", b"2.00"]),
            commit(0x20),
        ],
    )
    batches = d.flush()
    rows = [r for _, _, b in batches for r in b.to_pylist()]
    assert rows[1]["note"] is None and rows[1]["_unchanged"] == ["note"]
    assert replay(batches)["public.t"][(1,)]["note"] == "big value"


def test_keepalive_and_capture_file() -> None:
    d = PgOutputDecoder()
    d.feed(b"k" + struct.pack(">QqB", 0x1234, 0, 1))
    assert d.last_wal_end == 0x1234
    assert d.reply_requested
    assert d.take_reply_requested() is True
    assert d.reply_requested is False
    assert d.is_idle

    capture = b""
    for i, m in enumerate([relation(), begin(0x40, 4), insert([b"9", None, None]), commit(0x40)]):
        capture += struct.pack(">QI", 0x40 + i, len(m)) + m
    c = PgOutputDecoder()
    c.feed_capture(capture)
    ((_, _, batch),) = c.flush()
    assert batch.column("id").to_pylist() == [9]


def test_errors_name_the_lsn() -> None:
    d = PgOutputDecoder()
    with pytest.raises(DecodeError, match="LSN 0/ABC"):
        d.feed(b"I\0\0", lsn=0xABC)
    with pytest.raises(DecodeError, match="relation id 16384"):
        d.feed(begin(1, 1), lsn=1)
        d.feed(insert([b"1", None, None]), lsn=2)
    with pytest.raises(DecodeError, match="capture record"):
        d.feed_capture(b"\0\0\0")
    with pytest.raises(DecodeError):
        d.feed(b"x")


def test_held_streamed_transaction_released_at_commit() -> None:
    d = PgOutputDecoder()
    ins = b"I" + struct.pack(">II", 50, REL) + b"N" + tuple_data([b"1", None, None])
    feed_all(d, [relation(), b"S" + struct.pack(">IB", 50, 1), ins, b"E"])
    assert d.held_rows == 1 and not d.is_idle
    assert d.flush() == []
    d.feed(b"c" + struct.pack(">IBQQq", 50, 0, 0x99, 0xA0, 0), lsn=0x99)
    ((_, _, batch),) = d.flush()
    assert batch.column("_pos").to_pylist() == [0x99]
    assert d.held_rows == 0 and d.is_idle


def test_held_rows_taken_out_and_their_outcome_reported() -> None:
    d = PgOutputDecoder()

    def ins(xid: int, key: bytes) -> bytes:
        return b"I" + struct.pack(">II", xid, REL) + b"N" + tuple_data([key, None, None])

    start = b"S" + struct.pack(">IB", 50, 1)
    feed_all(d, [relation(), start, ins(50, b"1"), ins(51, b"2"), ins(50, b"3"), b"E"])
    assert d.held_bytes > 0
    taken = d.take_held_rows()
    assert [(x, s, t, b.column("id").to_pylist()) for x, s, t, _v, b in taken] == [
        (50, 50, "public.t", [1]),
        (50, 51, "public.t", [2]),
        (50, 50, "public.t", [3]),
    ]
    assert {p for *_, b in taken for p in b.column("_pos").to_pylist()} == {0}
    assert d.held_bytes == 0 and d.held_rows == 0
    feed_all(d, [b"S" + struct.pack(">IB", 50, 0), ins(50, b"4"), b"E"])
    d.feed(b"A" + struct.pack(">II", 50, 51), lsn=0x200)
    d.feed(b"c" + struct.pack(">IBQQq", 50, 0, 0x299, 0x2A0, 0), lsn=0x299)
    assert d.take_spill_events() == [(50, 51)]
    assert d.flush() == []
    assert d.committed_lsn == 0
    assert d.take_spilled_commit() == (50, 0x299, PG_EPOCH_US, 0)
    assert d.take_spilled_commit() is None
    # The row decoded after the take comes stamped, after the rows taken out.
    ((_, _, batch),) = d.flush()
    assert batch.column("id").to_pylist() == [4]
    assert batch.column("_pos").to_pylist() == [0x299]
    assert d.committed_lsn == 0x299 and d.is_idle


def test_reset_in_flight_forgets_the_partial_transaction() -> None:
    d = PgOutputDecoder()
    feed_all(d, [relation(), begin(0x10, 1), insert([b"1", None, None])])
    assert not d.is_idle
    d.reset_in_flight()
    assert d.is_idle
    # The server sends the transaction again from its Begin after a reconnect.
    feed_all(d, [begin(0x10, 1), insert([b"1", None, None]), commit(0x10)])
    ((_, _, batch),) = d.flush()
    assert batch.column("id").to_pylist() == [1]


def test_memory_budget_hands_an_open_transaction_on_before_its_commit() -> None:
    d = PgOutputDecoder(memory_budget=1)
    feed_all(d, [relation(), begin(0x500, 7), insert([b"1", b"a", b"1"])])
    out = d.flush()
    assert [r["id"] for _t, _v, b in out for r in b.to_pylist()] == [1]
    assert [r["_pos"] for _t, _v, b in out for r in b.to_pylist()] == [0x500]
    assert d.handed_early and not d.is_idle
    assert d.committed_lsn == 0  # the position waits for the commit
    d.feed(insert([b"2", b"b", b"2"]), lsn=0x200)
    d.feed(commit(0x500), lsn=0x201)
    rows = [r for _t, _v, b in d.flush() for r in b.to_pylist()]
    assert [(r["id"], r["_seq"]) for r in rows] == [(2, 1)]
    assert d.committed_lsn == 0x500 and not d.handed_early
    with pytest.raises(ValueError, match="memory_budget"):
        PgOutputDecoder(memory_budget=0)
