"""Which type changes of a PostgreSQL column keep its values (``keys.keeps_values``): a rewrite
that may have changed them makes the source read the table again."""

from __future__ import annotations

import pyarrow as pa
import pytest

from arrowtail.sources.postgres.keys import keeps_values


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
    ],
)
def test_other_changes_may_change_values(old, new, unconstrained):
    assert not keeps_values(old, new, unconstrained)
