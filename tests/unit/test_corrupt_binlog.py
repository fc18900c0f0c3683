"""Truncated and byte-flipped copies of every binlog fixture through BinlogDecoder: DecodeError or
success only, never a crash or a hang, never rows the input does not hold (see
tests/support/corrupt.py). No server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arrowtail import BinlogDecoder
from tests.support.corrupt import check_flips, check_truncations, decode_rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binlog"
MAGIC = b"\xfebin"


def binlog_files() -> list[Path]:
    assert FIXTURES.is_dir(), f"binlog fixtures missing at {FIXTURES}"
    return sorted(p for p in FIXTURES.iterdir() if p.is_file() and p.read_bytes()[:4] == MAGIC)


FILES = binlog_files()


def decode_file(name: str) -> Any:
    def decode(data: bytes, out: list[Any]) -> None:
        d = BinlogDecoder()
        try:
            d.feed_file_bytes(data, name)
        finally:
            # What was complete before an error is still handed out (and checked).
            out.extend(d.flush())

    return decode


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_truncated_binlog(path: Path) -> None:
    data = path.read_bytes()
    check_truncations(decode_file(path.name), data, path.name)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_flipped_binlog(path: Path) -> None:
    data = path.read_bytes()
    check_flips(decode_file(path.name), data, path.name, seed=len(data))


def test_fixtures_hold_rows() -> None:
    """The checks above are only meaningful if the clean files decode to rows."""
    total = 0
    for path in FILES:
        rows, _ = decode_rows(decode_file(path.name), path.read_bytes())
        total += sum(len(r) for r in rows.values())
    assert total > 100
