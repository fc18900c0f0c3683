"""Which type changes of a column keep its values (``layouts.keeps_values``): after one that may
not, the PostgreSQL source reads the table again and the MySQL/MariaDB source warns; and which
layouts of a table count as new (``Layouts``)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from arrowtail.sources.layouts import Layouts, keeps_values, retyped


@pytest.mark.parametrize(
    ("old", "new", "unconstrained"),
    [
        (pa.int32(), pa.int32(), False),
        (pa.int16(), pa.int64(), False),  # smallint -> bigint
        (pa.float32(), pa.float64(), False),
        (pa.decimal128(6, 2), pa.decimal128(8, 3), False),
        (pa.int32(), pa.decimal128(12, 2), False),  # integer -> numeric(12,2)
        (pa.decimal128(6, 2), pa.string(), True),  # -> numeric without a typmod
        (pa.int64(), pa.string(), True),
        (pa.list_(pa.int16()), pa.list_(pa.int32()), False),
        (pa.string(), pa.string(), False),  # text -> varchar(n): PostgreSQL refuses longer ones
        (pa.uint32(), pa.uint64(), False),  # INT UNSIGNED -> BIGINT UNSIGNED
        (pa.uint32(), pa.int64(), False),  # INT UNSIGNED -> BIGINT
        (pa.uint64(), pa.decimal128(20, 0), False),
    ],
)
def test_widening_keeps_values(old, new, unconstrained):
    assert keeps_values(old, new, unconstrained)


@pytest.mark.parametrize(
    ("old", "new", "unconstrained"),
    [
        (pa.int64(), pa.int32(), False),
        (pa.decimal128(6, 2), pa.decimal128(6, 1), False),  # rounds
        (pa.decimal128(6, 2), pa.decimal128(5, 2), False),
        (pa.int64(), pa.decimal128(12, 2), False),  # 19 digits do not fit 10
        (pa.timestamp("us"), pa.timestamp("us", "UTC"), False),  # read in the session's zone
        (pa.int32(), pa.string(), False),  # USING ...::text
        (pa.string(), pa.int32(), False),
        (pa.float64(), pa.decimal128(10, 2), False),
        (pa.bool_(), pa.int32(), False),
        (pa.list_(pa.int32()), pa.list_(pa.int16()), False),
        (pa.uint32(), pa.int32(), False),
        (pa.int32(), pa.uint64(), False),  # a negative value has no unsigned form
        (pa.uint64(), pa.decimal128(19, 0), False),
    ],
)
def test_other_changes_may_change_values(old, new, unconstrained):
    assert not keeps_values(old, new, unconstrained)


def test_a_layout_counts_once_and_the_first_is_not_a_change():
    a = pa.schema([("id", pa.int32()), ("price", pa.decimal128(6, 2)), ("_pos", pa.int64())])
    b = pa.schema([("id", pa.int64()), ("price", pa.decimal128(6, 1)), ("_pos", pa.int64())])
    layouts = Layouts()
    assert layouts.changed("t", a) is None
    assert layouts.changed("t", a.with_metadata({b"k": b"v"})) is None  # metadata is no layout
    assert layouts.changed("t", b) == a
    assert retyped(a, b) == ["price (decimal128(6, 2) to decimal128(6, 1))"]
    # The stream read again after a reconnect: both layouts met already.
    assert layouts.changed("t", a) is None and layouts.changed("t", b) is None
    assert layouts.changed("other", b) is None
