"""``column_byte_limit`` through the binding: the decoders cut a batch at the row that brings a
text, binary or list column to the limit (the real limit is just under 1 GiB, so that no column
passes Arrow's 32-bit offsets), and per table and schema version the batches concatenate to what
the default limit gives. Real inputs: the committed pgoutput capture and binlog files. No server.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import arrowtail
from arrowtail import _core

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def grouped(batches: list[tuple[str, int, pa.RecordBatch]]) -> dict[tuple[str, int], pa.Table]:
    groups: dict[tuple[str, int], list[pa.RecordBatch]] = defaultdict(list)
    for table, version, batch in batches:
        groups[(table, version)].append(batch)
    return {k: pa.Table.from_batches(v) for k, v in groups.items()}


def longest_text(batch: pa.RecordBatch) -> int:
    """Bytes of the largest string or binary column of a batch (user columns)."""
    sizes = [0]
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_binary(column.type):
            offsets = column.buffers()[1]
            o = memoryview(offsets).cast("i")[column.offset : column.offset + len(column) + 1]
            sizes.append(o[-1] - o[0])
    return max(sizes)


def check(whole: list[Any], parts: list[Any], limit: int) -> None:
    assert len(parts) > len(whole)
    assert grouped(parts) == grouped(whole)
    for _table, _version, batch in parts:
        assert longest_text(batch.slice(0, batch.num_rows - 1)) < limit
    assert any(longest_text(b) >= limit for _t, _v, b in parts)


def test_pgoutput_decoder_cuts_at_the_limit() -> None:
    data = (FIXTURES / "pgoutput" / "stream.cap").read_bytes()

    def decode(**kw: int) -> list[Any]:
        d = arrowtail.PgOutputDecoder(**kw)
        d.feed_capture(data)
        return d.flush()

    check(decode(), decode(column_byte_limit=300), 300)


def test_binlog_decoder_cuts_at_the_limit() -> None:
    data = (FIXTURES / "binlog" / "mysql-enum-string-set.000001").read_bytes()

    def decode(**kw: int) -> list[Any]:
        d = arrowtail.BinlogDecoder(**kw)
        d.feed_file_bytes(data, "mysql-enum-string-set.000001")
        return d.flush()

    check(decode(), decode(column_byte_limit=40), 40)


def test_copy_decoder_cuts_at_the_limit() -> None:
    # COPY BINARY of (id int8, note text): header, tuples, trailer.
    out = bytearray(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
    for i in range(200):
        note = b"n" * (i % 23)
        out += struct.pack(">hiq", 2, 8, i) + struct.pack(">i", len(note)) + note
    out += struct.pack(">h", -1)

    def decode(**kw: int) -> list[Any]:
        d = arrowtail.CopyDecoder(
            "public.t",
            [("id", 20, -1), ("note", 25, -1)],
            ["id"],
            position=1,
            snapshot_ts_us=0,
            **kw,
        )
        d.feed(bytes(out))
        d.finish()
        return d.flush()

    check(decode(), decode(column_byte_limit=100), 100)


@pytest.mark.parametrize("limit", [0, 2**30, 2**40])
def test_a_limit_outside_the_range_is_a_config_error(limit: int) -> None:
    with pytest.raises(arrowtail.ConfigError, match="column_byte_limit must be between 1 and"):
        arrowtail.PgOutputDecoder(column_byte_limit=limit)
    with pytest.raises(arrowtail.ConfigError):
        _core.BinlogDecoder(column_byte_limit=limit)
