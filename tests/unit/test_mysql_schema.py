"""MINIMAL row metadata: the decoder stops right after each DDL statement whatever the read
boundaries, so the schema history applies it before later events; ENUM/SET labels come from
``COLUMN_TYPE``."""

from __future__ import annotations

import random
import struct

from arrowtail._core import BinlogDecoder


def _query(sql: str, end: int, db: str = "db") -> bytes:
    """A QUERY event ending at ``end`` in its file (13-byte post-header, no checksum)."""
    body = struct.pack("<IIBHH", 7, 0, len(db), 0, 0) + db.encode() + b"\x00" + sql.encode()
    size = 19 + len(body)
    return struct.pack("<IBIIIH", 1_700_000_000, 0x02, 1, size, end, 0) + body


def _stream(statements: list[str]) -> tuple[bytes, list[int]]:
    """Packets of QUERY events, and where each packet ends."""
    out, ends, pos = b"", [], 4
    for i, sql in enumerate(statements):
        pos += 19 + 13 + 3 + len(sql)
        payload = b"\x00" + _query(sql, pos)
        out += len(payload).to_bytes(3, "little") + bytes([i % 256]) + payload
        ends.append(len(out))
    return out, ends


def test_feeding_stops_after_ddl_for_any_read_boundaries() -> None:
    statements = ["BEGIN", "COMMIT", "ALTER TABLE t ADD c INT", "BEGIN", "COMMIT", "DROP TABLE t"]
    data, ends = _stream(statements)
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(0, 8)))
        reads = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        decoder = BinlogDecoder()
        at, stops = 0, []
        for read in reads:
            while True:
                consumed, query = decoder.feed_until_ddl(read)
                at += consumed
                read = read[consumed:]
                if query is None:
                    assert read == b""
                    break
                stops.append((at, query[0], query[1]))
        assert at == len(data)
        assert stops == [
            (ends[2], "db", "ALTER TABLE t ADD c INT"),
            (ends[5], "db", "DROP TABLE t"),
        ]


def test_enum_and_set_labels_from_column_type() -> None:
    from arrowtail.sources.mysql.schema import parse_labels

    assert parse_labels("enum('a','b''c','d,e')") == ["a", "b'c", "d,e"]
    assert parse_labels("set('x','y')") == ["x", "y"]
    assert parse_labels("enum('')") == [""]
    assert parse_labels("varchar(10)") is None
