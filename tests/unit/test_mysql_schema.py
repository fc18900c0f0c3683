"""The QUERY-event splitter used with MINIMAL row metadata: pieces end right after each QUERY
event packet, whatever the read boundaries, and no byte is lost or repeated."""

from __future__ import annotations

import random

from arrowtail.sources.mysql.schema import QuerySplitter


def _packet(event_type: int, body: bytes, seq: int = 1) -> bytes:
    payload = b"\x00" + b"\x01\x02\x03\x04" + bytes([event_type]) + body
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


def _stream() -> tuple[bytes, list[int]]:
    packets = [
        _packet(0x0F, b"f" * 50),  # FORMAT_DESCRIPTION
        _packet(0xA2, b"g" * 20),  # MariaDB GTID
        _packet(0x02, b"ALTER TABLE t ADD c INT"),  # QUERY
        _packet(0x13, b"m" * 30),  # TABLE_MAP
        _packet(0x1E, b"r" * 300),  # WRITE_ROWS
        _packet(0x10, b"x" * 8),  # XID
        _packet(0xA5, b"z" * 40),  # MariaDB compressed QUERY
        b"\x05\x00\x00\x02\xfe\x00\x00\x02\x00",  # EOF packet: too short for an event header
    ]
    ends, at = [], 0
    for p in packets:
        at += len(p)
        if len(p) > 10 and p[9] in (0x02, 0xA5):
            ends.append(at)
    return b"".join(packets), ends


def test_cuts_after_query_events_for_any_read_boundaries() -> None:
    data, ends = _stream()
    rng = random.Random(7)
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(0, 12)))
        reads = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        splitter = QuerySplitter()
        fed, query_ends = b"", []
        for read in reads:
            for piece, after_query in splitter.split(read):
                fed += piece
                if after_query:
                    query_ends.append(len(fed))
        assert fed == data
        assert query_ends == ends


def test_long_packets_are_not_inspected_inside() -> None:
    # A 0xFFFFFF-long packet is continued by the next; the continuation's bytes are no header.
    big = (0xFFFFFF).to_bytes(3, "little") + b"\x01" + b"\x00" + b"\x00" * 4 + b"\x1e"
    big += b"\x02" * (0xFFFFFF - 6)
    cont = (10).to_bytes(3, "little") + b"\x02" + b"\x00\x00\x00\x00\x00\x02" + b"q" * 4
    splitter = QuerySplitter()
    pieces = splitter.split(big + cont + _packet(0x02, b"DROP TABLE t"))
    assert [after for _, after in pieces] == [True]
    assert sum(len(p) for p, _ in pieces) == len(big + cont) + len(_packet(0x02, b"DROP TABLE t"))


def test_enum_and_set_labels_from_column_type() -> None:
    from arrowtail.sources.mysql.schema import parse_labels

    assert parse_labels("enum('a','b''c','d,e')") == ["a", "b'c", "d,e"]
    assert parse_labels("set('x','y')") == ["x", "y"]
    assert parse_labels("enum('')") == [""]
    assert parse_labels("varchar(10)") is None
