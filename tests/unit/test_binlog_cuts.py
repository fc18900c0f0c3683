"""Binlogs that end inside a transaction (a file still being written, a poll or a connection that
ended), through ``arrowtail.BinlogDecoder`` and ``arrowtail decode``: every transaction committed
before the end comes out whole, the reported position covers exactly the rows handed out, and a
fresh decoder dumping from that position (the MySQL source after a reconnect) gives exactly the
rest. No server. The Rust property over every fixture is rust/arrowtail-core/tests/binlog_cuts.rs.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from arrowtail import BinlogDecoder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binlog"
#: A MariaDB log whose 1043-byte prefix ends inside the second transaction on the same table, and
#: a MySQL log with CRC32 checksums and 60 transactions over several tables.
NAMES = ["mariadb-bin.000001", "mysql-bin.checksum-crc32"]

Rows = dict[str, list[dict[str, Any]]]


def events(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every event after the magic (event size: header bytes 9..13)."""
    out = []
    at = 4
    while at + 19 <= len(data):
        (size,) = struct.unpack_from("<I", data, at + 9)
        assert size >= 19 and at + size <= len(data), f"bad event at {at}"
        out.append((at, at + size))
        at += size
    assert at == len(data)
    return out


def packet(event: bytes, seq: int) -> bytes:
    """A replication-stream packet: 3-byte length, sequence id, OK byte, the event."""
    n = len(event) + 1
    return struct.pack("<I", n)[:3] + bytes([seq & 0xFF, 0]) + event


def artificial_rotate(name: str, position: int) -> bytes:
    """The ROTATE a server sends first on COM_BINLOG_DUMP (log_pos 0, LOG_EVENT_ARTIFICIAL_F)."""
    body = struct.pack("<Q", position) + name.encode()
    return struct.pack("<IBIIIH", 0, 4, 1, 19 + len(body), 0, 0x20) + body


def dump_from(name: str, data: bytes, offset: int) -> bytes:
    """What a dump from ``offset`` sends: ROTATE, the file's FORMAT_DESCRIPTION, the events."""
    evs = events(data)
    out = [packet(artificial_rotate(name, offset), 0)]
    if offset > evs[0][0]:
        out.append(packet(data[evs[0][0] : evs[0][1]], 1))
    out += [packet(data[s:e], 2 + i) for i, (s, e) in enumerate(evs) if s >= offset]
    return b"".join(out)


def rows(batches: list[Any]) -> Rows:
    out: Rows = {}
    for table, _version, batch in batches:
        out.setdefault(table, []).extend(batch.to_pylist())
    return out


def between(all_rows: Rows, after: int, upto: int) -> Rows:
    """The rows whose commit offset (low 32 bits of ``_pos``) is in ``after < offset <= upto``."""
    out: Rows = {}
    for table, rs in all_rows.items():
        kept = [r for r in rs if after < (r["_pos"] & 0xFFFFFFFF) <= upto]
        if kept:
            out[table] = kept
    return out


def whole(name: str) -> tuple[bytes, Rows]:
    data = (FIXTURES / name).read_bytes()
    d = BinlogDecoder()
    d.feed_file_bytes(data, name)
    return data, rows(d.flush())


@pytest.mark.parametrize("name", NAMES)
def test_cut_at_every_event_then_resumed(name: str) -> None:
    data, full = whole(name)
    assert sum(len(r) for r in full.values()) > 0
    for _, cut in [(0, 4), *events(data)]:
        prefix = BinlogDecoder()
        prefix.feed_file_bytes(data[:cut], name)
        got = rows(prefix.flush())
        last = prefix.last_commit
        position = last[1] if last is not None else 0
        assert got == between(full, 0, cut), f"cut at {cut}: rows committed before it"
        assert position <= cut
        assert got == between(full, 0, position), f"cut at {cut}: position {position}"
        resumed = BinlogDecoder()
        resumed.feed(dump_from(name, data, position or 4))
        rest = rows(resumed.flush())
        assert rest == between(full, position, 1 << 32), f"cut at {cut}, resumed at {position}"


#: Rows event type codes: v1, v2, PARTIAL_UPDATE, MariaDB compressed.
ROWS_EVENTS = {23, 24, 25, 30, 31, 32, 39, *range(166, 172)}


@pytest.mark.parametrize("name", NAMES)
def test_stream_polls_ending_after_row_events(name: str) -> None:
    """One stream decoder, polled so that every poll ends right after a rows event, before its
    transaction commits (the moment a poll, a kill or a SIGTERM finds a large transaction
    arriving): each poll's position covers exactly what the polls gave so far, and all polls
    together give the whole decode."""
    data, full = whole(name)
    polls: list[bytes] = [packet(artificial_rotate(name, 4), 0)]
    for i, (s, e) in enumerate(events(data)):
        polls[-1] += packet(data[s:e], 1 + i)
        if data[s + 4] in ROWS_EVENTS:
            polls.append(b"")
    assert len(polls) > 2
    d = BinlogDecoder()
    got: Rows = {}
    for n, poll in enumerate(polls):
        d.feed(poll)
        for table, rs in rows(d.flush()).items():
            got.setdefault(table, []).extend(rs)
        last = d.last_commit
        position = last[1] if last is not None else 0
        assert got == between(full, 0, position), f"poll {n}: position {position}"
    assert got == full


def test_decode_of_a_file_cut_inside_a_transaction_prints_the_committed_row(
    tmp_path: Path,
) -> None:
    """``arrowtail decode`` of the first 1043 bytes of mariadb-bin.000001: the transaction
    committed at 702 is printed although the next one (same table) is cut off."""
    name = "mariadb-bin.000001"
    data, full = whole(name)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(data[:1043])
    out = subprocess.run(
        [sys.executable, "-m", "arrowtail.cli", "decode", "--format", "binlog", str(cut)]
        + ["--to", "jsonl:-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    printed = [
        (f"{x['source']['db']}.{x['source']['table']}", x["op"], x["source"]["pos"]) for x in lines
    ]
    want_rows = between(full, 0, 1043)
    want = [
        (table, r["_op"], r["_pos"] & 0xFFFFFFFF)
        for table, rs in want_rows.items()
        if not table.startswith("_")
        for r in rs
    ]
    assert want == [("toddy_test.outbox", "c", 702)]
    assert printed == want
    assert lines[0]["after"]["id"] == full["toddy_test.outbox"][0]["id"]
