"""NativeReplicationStream.pump: returns as soon as a transaction is complete and nothing more
is waiting, instead of sitting out the poll timeout (no server: a scripted connection)."""

from __future__ import annotations

import struct

from arrowtail import PgOutputDecoder
from arrowtail.sources.postgres.replication import NativeReplicationStream
from tests.support.pgoutput_messages import begin, commit, insert, relation, xlogdata


def copy_data(payload: bytes) -> bytes:
    return b"d" + struct.pack(">I", len(payload) + 4) + payload


class ScriptedConn:
    """Hands out one prepared block per ``recv``; records the timeout of every call. An empty
    script means nothing arrived within the timeout (``recv`` returns 0)."""

    def __init__(self, blocks: list[bytes]) -> None:
        self.blocks = list(blocks)
        self.buffer = bytearray(1 << 16)
        self.timeouts: list[float] = []

    def recv(self, timeout: float) -> int:
        self.timeouts.append(timeout)
        if not self.blocks:
            return 0
        block = self.blocks.pop(0)
        self.buffer[: len(block)] = block
        return len(block)


def test_a_complete_transaction_ends_the_wait_and_an_open_one_does_not() -> None:
    rows = [insert([b"1", b"a", b"1.00"]), insert([b"2", b"b", b"2.00"])]
    opening = [begin(0x200, 7), relation(), rows[0]]
    first = b"".join(copy_data(xlogdata(0x100 + i, m)) for i, m in enumerate(opening))
    rest = [rows[1], commit(0x200)]
    second = b"".join(copy_data(xlogdata(0x180 + i, m)) for i, m in enumerate(rest))
    conn = ScriptedConn([first, second])
    stream = NativeReplicationStream(conn)  # type: ignore[arg-type]
    decoder = PgOutputDecoder()

    frames = stream.pump(decoder, timeout=30.0, max_bytes=1 << 20)

    assert frames == 5
    # The transaction was open after the first block: the next read still waited (a positive
    # timeout); once it was committed, the third read only took what was already there.
    assert conn.timeouts[0] > 0 and conn.timeouts[1] > 0
    assert conn.timeouts[2:] == [0.0]
    [(table, _version, batch)] = decoder.flush()
    assert table == "public.t" and batch.column("id").to_pylist() == [1, 2]
