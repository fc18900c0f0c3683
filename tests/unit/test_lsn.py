"""LSN text and the standby status update come from the Rust core, one implementation for both
sides."""

from __future__ import annotations

import struct
import time

import pytest

import arrowtail
from arrowtail import _core

#: Microseconds from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch).
PG_EPOCH_US = 946_684_800_000_000


@pytest.mark.parametrize(
    ("lsn", "text"),
    [
        (0, "0/0"),
        (0x16_B374_D848, "16/B374D848"),
        (0xFFFF_FFFF, "0/FFFFFFFF"),
        (0x1_0000_0000, "1/0"),
        (2**64 - 1, "FFFFFFFF/FFFFFFFF"),
    ],
)
def test_lsn_text_round_trips(lsn: int, text: str) -> None:
    assert _core.format_lsn(lsn) == text
    assert _core.parse_lsn(text) == lsn
    assert _core.parse_lsn(text.lower()) == lsn


@pytest.mark.parametrize("text", ["", "16", "1/2/3", "x/1", "-1/2", "123456789/0"])
def test_malformed_lsn_is_a_decode_error(text: str) -> None:
    with pytest.raises(arrowtail.DecodeError, match="LSN"):
        _core.parse_lsn(text)


def test_standby_status_update_layout() -> None:
    msg = _core.standby_status_update(1, 2, 3, True, clock=4)
    assert msg == b"r" + struct.pack(">QQQqB", 1, 2, 3, 4, 1)
    before = time.time_ns() // 1000 - PG_EPOCH_US
    tag, write, flush, apply, clock, reply = struct.unpack(
        ">cQQQqB", _core.standby_status_update(10, 20, 30)
    )
    after = time.time_ns() // 1000 - PG_EPOCH_US
    assert (tag, write, flush, apply, reply) == (b"r", 10, 20, 30, 0)
    assert before <= clock <= after
