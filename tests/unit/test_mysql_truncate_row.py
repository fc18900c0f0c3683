"""The ``t`` row a MySQL/MariaDB ``TRUNCATE`` becomes takes its statement's position,
transaction and time from the ``_ddl`` row, the transaction's GTID (``_gtid``) included when
the decoder writes it, also into a table layout read from ``information_schema`` (which has no
``_gtid``)."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa

from arrowtail.sources.mysql.truncate import _truncate_row

META = [
    pa.field("_op", pa.utf8(), nullable=False),
    pa.field("_pos", pa.uint64(), nullable=False),
    pa.field("_seq", pa.uint32(), nullable=False),
    pa.field("_xid", pa.uint64(), nullable=False),
    pa.field("_commit_ts", pa.timestamp("us", "UTC"), nullable=False),
]


def _ddl_row(gtid: bool) -> pa.RecordBatch:
    fields = [pa.field("database", pa.utf8()), pa.field("statement", pa.utf8()), *META]
    values: list[list] = [
        ["db"],
        ["TRUNCATE t"],
        ["m"],
        [4096],
        [0],
        [45],
        [datetime(2026, 1, 1, tzinfo=timezone.utc)],
    ]
    if gtid:
        fields.append(pa.field("_gtid", pa.utf8()))
        values.append(["0-1-45"])
    return pa.RecordBatch.from_arrays(
        [pa.array(v, f.type) for v, f in zip(values, fields, strict=True)],
        schema=pa.schema(fields),
    )


def test_the_truncate_row_takes_the_statements_gtid() -> None:
    table = pa.schema([pa.field("id", pa.int32()), *META])
    row = _truncate_row(table, _ddl_row(gtid=True))
    assert row.schema.names == ["id", "_op", "_pos", "_seq", "_xid", "_commit_ts", "_gtid"]
    assert row.to_pylist()[0] | {"_commit_ts": None} == {
        "id": None,
        "_op": "t",
        "_pos": 4096,
        "_seq": 0,
        "_xid": 45,
        "_commit_ts": None,
        "_gtid": "0-1-45",
    }
    # A decoder that writes no `_gtid`: the row has none either.
    row = _truncate_row(table, _ddl_row(gtid=False))
    assert "_gtid" not in row.schema.names
