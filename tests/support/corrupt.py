"""Truncated and corrupted copies of real inputs, fed through a Python-facing decoder.

A decoder given damaged bytes may only raise :class:`arrowtail.DecodeError` or succeed; it must
not crash, hang, or produce rows that were not in the input. For a truncated copy that means: per
table, the rows are a prefix of the clean decode's rows, value for value. For a copy with a byte
flipped, a value may legitimately differ (the flipped byte is part of it), so the check is that no
more data rows come out than the clean input holds. Pseudo-table rows (``_ddl``, ``_messages``:
names starting with ``_``) are left out of that count: without checksums a flipped length can
make a statement swallow the next event, which is then reported as the statement text it reads.

``ARROWTAIL_FUZZ_CASES`` multiplies the number of flipped copies for longer local runs.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any

from arrowtail import DecodeError

Rows = dict[str, list[dict[str, Any]]]
#: Runs a fresh decoder over bytes and returns its batches; may raise DecodeError.
Decode = Callable[[bytes, list[Any]], None]

SLOW = 5.0


def decode_rows(decode: Decode, data: bytes) -> tuple[Rows, str | None]:
    """Rows per table that ``decode`` produced before it finished or raised DecodeError."""
    batches: list[Any] = []
    error: str | None = None
    started = time.monotonic()
    try:
        decode(data, batches)
    except DecodeError as exc:
        error = str(exc)
    elapsed = time.monotonic() - started
    assert elapsed < SLOW, f"decoding {len(data)} bytes took {elapsed:.1f}s"
    rows: Rows = {}
    for table, _version, batch in batches:
        rows.setdefault(table, []).extend(batch.to_pylist())
    return rows, error


def cut_points(size: int) -> list[int]:
    """Every 997th byte; small inputs are also cut every 61st byte so that they are cut at all."""
    points = set(range(997, size, 997))
    if size < 20_000:
        points |= set(range(1, size, 61))
    return sorted(points)


def flip_points(size: int, seed: int) -> list[tuple[int, int]]:
    """(offset, xor mask) pairs: one near every 997th byte, more for small inputs."""
    rng = random.Random(seed)
    repeat = int(os.environ.get("ARROWTAIL_FUZZ_CASES", "1"))
    out = []
    for _ in range(repeat):
        for start in cut_points(size):
            at = min(size - 1, start + rng.randrange(0, 61))
            out.append((at, rng.choice([0xFF, 0x80, 0x01, rng.randrange(1, 256)])))
    return out


def assert_prefix(got: Rows, clean: Rows, what: str) -> None:
    for table, rows in got.items():
        want = clean.get(table, [])
        assert len(rows) <= len(want), f"{what}: {len(rows)} rows of {table}, clean has {len(want)}"
        assert rows == want[: len(rows)], f"{what}: rows of {table} differ from the clean decode"


def check_truncations(decode: Decode, data: bytes, name: str) -> int:
    """Decodes every truncated copy; returns how many were tried."""
    clean, _ = decode_rows(decode, data)
    cuts = cut_points(len(data))
    for cut in cuts:
        got, _ = decode_rows(decode, data[:cut])
        assert_prefix(got, clean, f"{name} cut at {cut}")
    return len(cuts)


def check_flips(decode: Decode, data: bytes, name: str, seed: int) -> int:
    """Decodes every copy with one byte flipped; returns how many were tried."""
    clean, _ = decode_rows(decode, data)
    total = sum(len(r) for t, r in clean.items() if not t.startswith("_"))
    flips = flip_points(len(data), seed)
    for at, mask in flips:
        damaged = bytearray(data)
        damaged[at] ^= mask
        got, _ = decode_rows(decode, bytes(damaged))
        n = sum(len(r) for t, r in got.items() if not t.startswith("_"))
        assert n <= total, f"{name} byte {at} ^ {mask:#x}: {n} rows, the clean input has {total}"
    return len(flips)
