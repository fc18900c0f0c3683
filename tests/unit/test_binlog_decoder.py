"""BinlogDecoder from Python: binlog files, the replication stream's packet framing (chunked
feeds, multi-packet events, error and EOF packets), values and error reporting. No server."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pyarrow as pa
import pytest

from arrowtail import BinlogDecoder, DecodeError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binlog"


def _fixture(name: str) -> Path:
    path = FIXTURES / name
    assert path.exists(), f"binlog fixture {path} is missing from the repository"
    return path


def _tables(batches: list[tuple[str, int, pa.RecordBatch]]) -> dict[str, pa.Table]:
    grouped: dict[str, list[pa.RecordBatch]] = {}
    for table, _version, batch in batches:
        grouped.setdefault(table, []).append(batch)
    return {t: pa.Table.from_batches(b) for t, b in grouped.items()}


def _events(data: bytes) -> list[bytes]:
    """Splits a binlog file into its events (after the 4-byte magic)."""
    out, at = [], 4
    while at < len(data):
        size = struct.unpack_from("<I", data, at + 9)[0]
        out.append(data[at : at + size])
        at += size
    return out


def _packets(payload: bytes, seq: int = 0) -> bytes:
    """Wraps one payload into MySQL packets, splitting at 0xFFFFFF bytes."""
    out = bytearray()
    while True:
        chunk, payload = payload[:0xFFFFFF], payload[0xFFFFFF:]
        out += len(chunk).to_bytes(3, "little") + bytes([seq & 0xFF]) + chunk
        seq += 1
        if len(chunk) < 0xFFFFFF:
            return bytes(out)


def _rotate(name: str) -> bytes:
    """The artificial ROTATE a server sends first in a dump (log_pos 0, no checksum)."""
    body = struct.pack("<Q", 4) + name.encode()
    return struct.pack("<IBIIIH", 0, 4, 1, 19 + len(body), 0, 0x20) + body


def test_file_values_and_positions() -> None:
    d = BinlogDecoder()
    d.feed_file(_fixture("mariadb-bin.000001"))
    tables = _tables(d.flush())
    outbox = tables["toddy_test.outbox"]
    assert outbox.column_names[:5] == ["id", "topic", "event_type", "event", "created"]
    assert outbox.schema.metadata[b"arrowtail.primary_key"] == b"id"
    assert outbox.schema.metadata[b"arrowtail.source"] == b"mysql"
    assert outbox.column("id").to_pylist() == [62, 63]
    assert outbox.column("_op").to_pylist() == ["c", "c"]
    assert outbox.column("_xid").to_pylist() == [1, 2]
    assert outbox.schema.field("created").type == pa.timestamp("us", tz="UTC")
    pos = outbox.column("_pos").to_pylist()
    assert pos[0] >> 32 == 1 and pos[0] < pos[1]
    assert d.last_gtid == "0-1-2"
    assert d.mariadb_gtid_state == "0-1-2"
    assert d.last_commit == ("mariadb-bin.000001", pos[1] & 0xFFFFFFFF)
    assert d.stats["rows"] == 2


def test_unsigned_and_generated_names() -> None:
    d = BinlogDecoder()
    d.feed_file(_fixture("minimal_row_metadata.000001"))
    t = _tables(d.flush())["noria.t1"]
    assert t.schema.metadata[b"arrowtail.column_names"] == b"generated"
    assert t.schema.field("col_5").type == pa.uint32()
    assert t.column("col_5").to_pylist() == [3230202323]


def test_schema_provider_names_minimal_metadata() -> None:
    d = BinlogDecoder()
    d.set_table_schema("noria", "t1", ["a", "b", "c", "d", "e"], ["a"])
    d.feed_file(_fixture("minimal_row_metadata.000001"))
    t = _tables(d.flush())["noria.t1"]
    assert t.column_names[:5] == ["a", "b", "c", "d", "e"]
    assert t.schema.metadata[b"arrowtail.primary_key"] == b"a"
    assert b"arrowtail.column_names" not in t.schema.metadata


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_stream_in_chunks_matches_file(chunk: int) -> None:
    data = _fixture("mysql-bin.checksum-crc32").read_bytes()
    stream = b"".join(_packets(b"\x00" + ev, i) for i, ev in enumerate(_events(data)))
    stream += _packets(b"\xfe\x00\x00\x02\x00")
    d = BinlogDecoder()
    for i in range(0, len(stream), chunk):
        d.feed(stream[i : i + chunk])
    assert d.stream_ended
    f = BinlogDecoder()
    f.feed_file_bytes(data, "mysql-bin.checksum-crc32")
    got, want = _tables(d.flush()), _tables(f.flush())
    assert set(got) == set(want) and want
    for name, table in want.items():
        assert got[name].equals(table), name
    assert d.stats["transactions"] == 60


def test_semi_sync_headers() -> None:
    data = _fixture("mariadb-bin.000001").read_bytes()
    events = _events(data)
    # The server asks for an ACK of the last XID event only.
    last_xid = max(i for i, ev in enumerate(events) if ev[4] == 16)
    flags = [b"\x01" if i == last_xid else b"\x00" for i in range(len(events))]
    d = BinlogDecoder(semi_sync=True)
    d.feed(_packets(b"\x00\xef\x00" + _rotate("mariadb-bin.000001")))
    d.feed(b"".join(_packets(b"\x00\xef" + f + ev) for f, ev in zip(flags, events, strict=True)))
    assert d.current_file == "mariadb-bin.000001"
    assert _tables(d.flush())["toddy_test.outbox"].num_rows == 2
    xid_end = struct.unpack_from("<I", events[last_xid], 13)[0]
    assert d.take_ack() == ("mariadb-bin.000001", xid_end)
    assert d.take_ack() is None


def test_multi_packet_event() -> None:
    # A QUERY event larger than 16 MiB arrives in several packets; no FDE, so no checksum.
    statement = b"CREATE TABLE big (c TEXT) COMMENT '" + b"x" * (17 << 20) + b"'"
    body = struct.pack("<IIBHH", 1, 0, 2, 0, 0) + b"db\x00" + statement
    size = 19 + len(body)
    header = struct.pack("<IBIIIH", 1_700_000_000, 2, 1, size, 4 + size, 0)
    d = BinlogDecoder()
    d.feed(_packets(b"\x00" + header + body))
    ddl = _tables(d.flush())["_ddl"]
    assert ddl.column("database").to_pylist() == ["db"]
    assert ddl.column("statement").to_pylist() == [statement.decode()]
    assert ddl.column("_pos").to_pylist() == [4 + size]


def test_error_packet_names_server_code_and_message() -> None:
    d = BinlogDecoder()
    err = b"\xff" + (1236).to_bytes(2, "little") + b"#HY000" + b"Could not find first log file"
    with pytest.raises(DecodeError, match=r"error 1236: \(HY000\) Could not find first log file"):
        d.feed(_packets(err))


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("corrupt-magic.000001", "offset 0"),
        ("binlog_truncated_event.000001", "offset 4"),
        ("binlog_truncated_prev_gtid_event.000001", "offset 120"),
    ],
)
def test_bad_files_raise_decode_error_with_position(name: str, where: str) -> None:
    d = BinlogDecoder()
    with pytest.raises(DecodeError, match=f"binlog {name} {where}"):
        d.feed_file(_fixture(name))


def test_corrupted_checksum_is_reported() -> None:
    data = bytearray(_fixture("mysql-bin.checksum-crc32").read_bytes())
    data[200] ^= 0x55
    d = BinlogDecoder()
    with pytest.raises(DecodeError, match="CRC32 mismatch"):
        d.feed_file_bytes(bytes(data), "mysql-bin.000001")


def test_uncommitted_rows_are_held_back() -> None:
    data = _fixture("mariadb-bin.000001").read_bytes()
    events = _events(data)
    # Everything up to (not including) the last XID event: the second transaction is open.
    last_xid = max(i for i, ev in enumerate(events) if ev[4] == 16)
    d = BinlogDecoder()
    d.feed(b"".join(_packets(b"\x00" + ev) for ev in events[:last_xid]))
    # The first transaction (same table) is committed and comes out; the open one does not.
    assert _tables(d.flush())["toddy_test.outbox"].column("id").to_pylist() == [62]
    d.feed(b"".join(_packets(b"\x00" + ev) for ev in events[last_xid:]))
    assert _tables(d.flush())["toddy_test.outbox"].column("id").to_pylist() == [63]


def _artificial_rotate(name: bytes, position: int) -> bytes:
    """The ROTATE a dump starts with (log_pos 0, LOG_EVENT_ARTIFICIAL_F), with its CRC32."""
    body = struct.pack("<Q", position) + name
    size = 19 + len(body) + 4
    event = struct.pack("<IBIIIH", 0, 4, 1, size, 0, 0x20) + body
    return event + struct.pack("<I", zlib.crc32(event))


def test_artificial_rotate_checksum_that_looks_like_text() -> None:
    """The CRC32 of the first ROTATE of a dump is removed even when its 4 bytes happen to be
    printable characters, which would otherwise end up in the binlog file name (and in every
    checkpoint after it)."""
    printable = bytes(range(0x21, 0x7F))
    position = next(
        p
        for p in range(4, 1_000_000)
        if all(b in printable for b in _artificial_rotate(b"mysql-bin.000001", p)[-4:])
    )
    d = BinlogDecoder()
    d.feed(_packets(b"\x00" + _artificial_rotate(b"mysql-bin.000001", position)))
    assert d.current_file == "mysql-bin.000001"
    # Without a checksum the whole tail is the name.
    plain = _artificial_rotate(b"mysql-bin.000002", 4)[:-4]
    plain = plain[:9] + struct.pack("<I", len(plain)) + plain[13:]
    d = BinlogDecoder()
    d.feed(_packets(b"\x00" + plain))
    assert d.current_file == "mysql-bin.000002"
