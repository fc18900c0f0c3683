"""Hand-built pgoutput messages (PostgreSQL's logical replication protocol) for decoder tests:
relation ``public.t`` (``id`` int4 key, ``note`` text, ``amount`` numeric(10,2)) with the
relation id ``REL``, the transaction and row messages that refer to it, and the ``XLogData``
(``w``) frame that carries a message in the replication stream.

Tuple values are text-format bytes, ``None`` for NULL, or ``"u"`` for an unchanged TOAST value.
"""

from __future__ import annotations

import struct

REL = 16384


def cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def relation(relid: int = REL) -> bytes:
    cols = [(1, "id", 23, -1), (0, "note", 25, -1), (0, "amount", 1700, ((10 << 16) | 2) + 4)]
    body = struct.pack(">I", relid) + cstr("public") + cstr("t") + b"d"
    body += struct.pack(">h", len(cols))
    for flags, name, oid, typmod in cols:
        body += bytes([flags]) + cstr(name) + struct.pack(">Ii", oid, typmod)
    return b"R" + body


def tuple_data(values: list[bytes | None | str]) -> bytes:
    out = struct.pack(">h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v == "u":
            out += b"u"
        else:
            assert isinstance(v, bytes)
            out += b"t" + struct.pack(">i", len(v)) + v
    return out


def begin(final_lsn: int, xid: int, ts_us: int = 0) -> bytes:
    return b"B" + struct.pack(">QqI", final_lsn, ts_us, xid)


def commit(lsn: int, ts_us: int = 0) -> bytes:
    return b"C" + struct.pack(">BQQq", 0, lsn, lsn + 8, ts_us)


def insert(values: list[bytes | None | str]) -> bytes:
    return b"I" + struct.pack(">I", REL) + b"N" + tuple_data(values)


def update(values: list[bytes | None | str], key: list[bytes | None] | None = None) -> bytes:
    old = b"K" + tuple_data(key) if key is not None else b""
    return b"U" + struct.pack(">I", REL) + old + b"N" + tuple_data(values)


def delete(key: list[bytes | None]) -> bytes:
    return b"D" + struct.pack(">I", REL) + b"K" + tuple_data(key)


def xlogdata(lsn: int, payload: bytes) -> bytes:
    return b"w" + struct.pack(">QQq", lsn, lsn, 0) + payload
