"""Batches whose user columns include a metadata column's name are refused, whatever the user
columns are called and however often a name occurs (the binlog decoder makes them for every
table; the source refuses them for the tables it captures)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from arrowtail.exceptions import RESERVED_COLUMNS, ReservedColumnError
from arrowtail.sources.base import ReservedNames


def _batch(user: list[str], *, lsn: bool = False) -> pa.RecordBatch:
    fields = [pa.field(n, pa.int32()) for n in user]
    meta = [
        pa.field("_op", pa.utf8()),
        pa.field("_pos", pa.uint64()),
        pa.field("_seq", pa.uint32()),
        pa.field("_xid", pa.uint64()),
        pa.field("_commit_ts", pa.timestamp("us", "UTC")),
        pa.field("_before", pa.struct(fields)),
        pa.field("_unchanged", pa.list_(pa.utf8())),
    ]
    if lsn:
        meta += [pa.field("_lsn", pa.uint64()), pa.field("_last_commit_lsn", pa.uint64())]
    schema = pa.schema(fields + meta)
    return pa.RecordBatch.from_pylist([], schema=schema)


def test_ordinary_names_pass_and_each_reserved_one_is_refused() -> None:
    names = ReservedNames()
    fine = [
        ("db.t", 1, _batch(["id", "op", "_SEQ", "seq_"])),
        ("db.u", 1, _batch(["id"], lsn=True)),
    ]
    assert names.check(fine, "here") == fine
    for name in RESERVED_COLUMNS:
        with pytest.raises(ReservedColumnError) as info:
            ReservedNames().check([("db.t", 2, _batch(["id", name]))], "binlog f.000001")
        text = str(info.value)
        assert f"db.t.{name}:" in text and text.endswith("(found in binlog f.000001)"), text


def test_a_name_the_metadata_does_not_repeat_is_found_too() -> None:
    # `_lsn` is no metadata column of a binlog batch, so it occurs once, as a user column.
    with pytest.raises(ReservedColumnError, match=r"db\.t\._lsn, db\.t\._before:"):
        ReservedNames().check([("db.t", 1, _batch(["_lsn", "id", "_before"]))], "x")


def test_each_table_version_is_checked_once() -> None:
    names = ReservedNames()
    names.check([("db.t", 1, _batch(["id"]))], "x")
    # The same table and version again is not looked at; a new version is.
    same = [("db.t", 1, _batch(["_op"]))]
    assert names.check(same, "x") == same
    with pytest.raises(ReservedColumnError):
        names.check([("db.t", 2, _batch(["_op"]))], "x")
