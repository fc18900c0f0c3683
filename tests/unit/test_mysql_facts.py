"""Binary MariaDB UUID values of binlog batches become canonical text (also inside ``_before``),
the form the snapshot reads. The metadata the source adds is proven against a real server in
tests/integration/test_debezium_jdbc_sink.py."""

from __future__ import annotations

import uuid

import pyarrow as pa

from arrowtail.sources.mysql.facts import _with_uuid_text, logical_type, uuid_text

U1 = uuid.UUID("c4ca4238-a0b9-3382-8dcc-509a6f75849b")
U2 = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")  # a version 1 uuid


def test_uuid_bytes_become_canonical_text_with_nulls_kept() -> None:
    arr = pa.array([U1.bytes, None, U2.bytes], pa.binary())
    assert uuid_text(arr).to_pylist() == [str(U1), None, str(U2)]
    fixed = pa.array([U2.bytes, U1.bytes], pa.binary(16)).slice(1)
    assert uuid_text(fixed).to_pylist() == [str(U1)]
    assert uuid_text(pa.array([], pa.binary())).to_pylist() == []


def test_uuid_columns_become_text_in_the_row_and_before() -> None:
    user = [pa.field("id", pa.int32()), pa.field("u", pa.binary())]
    schema = pa.schema(
        [*user, pa.field("_op", pa.string()), pa.field("_before", pa.struct(user))],
        metadata={"arrowtail.table": "shop.t", "arrowtail.primary_key": "id"},
    )
    before = pa.StructArray.from_arrays(
        [pa.array([None, 1], pa.int32()), pa.array([None, U2.bytes], pa.binary())],
        fields=user,
        mask=pa.array([True, False]),
    )
    batch = pa.RecordBatch.from_arrays(
        [pa.array([1, 1], pa.int32()), pa.array([U1.bytes, None]), pa.array(["c", "u"]), before],
        schema=schema,
    )
    out = _with_uuid_text(batch, ["u"])
    assert out.schema.field("u").type == pa.string()
    assert out.column("u").to_pylist() == [str(U1), None]
    assert out.column("_before").to_pylist() == [None, {"id": 1, "u": str(U2)}]
    assert out.schema.metadata == batch.schema.metadata
    # Columns that are already text (snapshot batches) stay as they are.
    assert _with_uuid_text(out, ["u"]) is out


def test_declared_types_name_debeziums_forms() -> None:
    assert logical_type("datetime", "datetime(3)") == {"arrowtail.precision": "3"}
    assert logical_type("datetime", "datetime") == {"arrowtail.precision": "0"}
    assert logical_type("timestamp", "timestamp(6)") == {"arrowtail.precision": "6"}
    assert logical_type("float", "float(7,3)") == {
        "arrowtail.logical_type": "float",
        "arrowtail.length": "7",
        "arrowtail.scale": "3",
    }
    assert logical_type("float", "float") == {}
    assert logical_type("mediumint", "mediumint(8) unsigned") == {
        "arrowtail.logical_type": "mediumint"
    }
    assert logical_type("mediumint", "mediumint(9)") == {}
    assert logical_type("point", "point") == {"arrowtail.logical_type": "point"}
    for spatial in ("geometry", "linestring", "multipolygon", "geomcollection"):
        assert logical_type(spatial, spatial) == {"arrowtail.logical_type": "geometry"}
