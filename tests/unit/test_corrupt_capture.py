"""The committed real pgoutput capture (tests/fixtures/pgoutput/stream.cap), truncated at every
997th byte and with bytes flipped, through PgOutputDecoder: DecodeError or success only, never rows
the capture does not hold (see tests/support/corrupt.py). No server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arrowtail import PgOutputDecoder
from tests.support.corrupt import check_flips, check_truncations, decode_rows

CAPTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pgoutput" / "stream.cap"


def decode(data: bytes, out: list[Any]) -> None:
    d = PgOutputDecoder()
    try:
        d.feed_capture(data)
    finally:
        out.extend(d.flush())


def test_capture_holds_rows() -> None:
    rows, error = decode_rows(decode, CAPTURE.read_bytes())
    assert error is None
    assert sum(len(r) for r in rows.values()) > 1000


def test_truncated_capture() -> None:
    assert check_truncations(decode, CAPTURE.read_bytes(), "stream.cap") > 50


def test_flipped_capture() -> None:
    assert check_flips(decode, CAPTURE.read_bytes(), "stream.cap", seed=1) > 50
