"""Debezium JSON serialization of change batches through arrowtail._core.DebeziumSerializer (no
broker)."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import random
import uuid

import pyarrow as pa

from arrowtail import _core
from tests.support.batches import SIMPLE_COLUMNS, change_batch, simple_rows
from tests.support.kafka_reference import java_partition


def values_json(values: pa.Array) -> list:
    return [None if v is None else json.loads(v) for v in values.to_pylist()]


def test_outputs_are_binary_arrays_with_row_indexes_and_partitions() -> None:
    rows = simple_rows(0, 3, pos=9) + [{"id": 1, "name": "n1", "_op": "d", "_pos": 10}]
    serializer = _core.DebeziumSerializer(ts_ms=5)
    keys, values, rows_of, parts = serializer.serialize(
        change_batch(SIMPLE_COLUMNS, rows), partitions=4
    )
    assert keys.type == pa.binary() and values.type == pa.binary()
    assert rows_of.to_pylist() == [0, 1, 2, 3, 3]
    assert values.to_pylist()[4] is None  # tombstone
    assert parts.to_pylist() == [java_partition(k, 4) for k in keys.to_pylist()]
    assert values_json(values)[0]["ts_ms"] == 5
    _, _, _, none = serializer.serialize(change_batch(SIMPLE_COLUMNS, rows))
    assert none is None


def test_every_mapped_type_has_its_debezium_form() -> None:
    columns = [
        pa.field("id", pa.int32()),
        pa.field("flag", pa.bool_()),
        pa.field("small", pa.int16()),
        pa.field("big", pa.uint64()),
        pa.field("real", pa.float32()),
        pa.field("num", pa.decimal128(10, 3)),
        pa.field("txt", pa.string()),
        pa.field("raw", pa.binary()),
        pa.field("uid", pa.uuid()),
        pa.field("day", pa.date32()),
        pa.field("ts", pa.timestamp("us")),
        pa.field("tstz", pa.timestamp("us", tz="UTC")),
        pa.field("tod", pa.time64("us")),
        pa.field("dur", pa.duration("us")),
        pa.field("iv", pa.month_day_nano_interval()),
        pa.field("arr", pa.list_(pa.string())),
        pa.field("doc", pa.json_()),
    ]
    u = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    row = {
        "id": 1,
        "flag": True,
        "small": -3,
        "big": 2**64 - 1,
        "real": 0.1,
        "num": decimal.Decimal("-1234.500"),
        "txt": 'quote " and \n',
        "raw": b"\x00\xff",
        "uid": u.bytes,
        "day": dt.date(2024, 2, 29),
        "ts": dt.datetime(2024, 2, 29, 12, 0, 0, 5),
        "tstz": dt.datetime(2024, 2, 29, 12, 0, 0, 500000, tzinfo=dt.timezone.utc),
        "tod": dt.time(13, 14, 15, 16),
        "dur": dt.timedelta(hours=-838),
        "iv": pa.MonthDayNano([13, -2, 1_500_000_000]),
        "arr": ["a", None],
        "doc": '{"k": [1, 2]}',
        "_op": "r",
        "_pos": 1,
    }
    batch = change_batch(columns, [row, {"id": 2, "_op": "c", "_pos": 2}])
    keys, values, _, _ = _core.DebeziumSerializer().serialize(batch)
    assert keys.to_pylist() == [b'{"id":1}', b'{"id":2}']
    first, second = values_json(values)
    assert first["after"] == {
        "id": 1,
        "flag": True,
        "small": -3,
        "big": 2**64 - 1,
        "real": 0.1,
        "num": "-1234.500",
        "txt": 'quote " and \n',
        "raw": base64.b64encode(b"\x00\xff").decode(),
        "uid": str(u),
        "day": (dt.date(2024, 2, 29) - dt.date(1970, 1, 1)).days,
        "ts": 1709208000000005,
        "tstz": "2024-02-29T12:00:00.500000Z",
        "tod": ((13 * 60 + 14) * 60 + 15) * 1_000_000 + 16,
        "dur": -838 * 3600 * 1_000_000,
        "iv": "P1Y1M-2DT0H0M1.5S",
        "arr": ["a", None],
        "doc": '{"k": [1, 2]}',
    }
    assert first["op"] == "r" and first["source"]["snapshot"] == "true"
    assert second["after"] == {"id": 2} | {c.name: None for c in columns[1:]}
    precise = values_json(_core.DebeziumSerializer(decimals="precise").serialize(batch)[1])[0]
    unscaled = int(decimal.Decimal("-1234.500").scaleb(3))
    raw = base64.b64decode(precise["after"]["num"])
    assert int.from_bytes(raw, "big", signed=True) == unscaled


def test_replaying_the_messages_by_key_reproduces_the_table() -> None:
    rng = random.Random(11)
    state: dict[int, str] = {}
    rows = []
    for pos in range(400):
        key = rng.randrange(40)
        if key in state and rng.random() < 0.3:
            rows.append({"id": key, "name": state.pop(key), "_op": "d", "_pos": pos})
        elif key in state:
            old, new = state[key], f"v{pos}"
            before = {"id": key, "name": old}
            rows.append({"id": key, "name": new, "_op": "u", "_pos": pos, "_before": before})
            state[key] = new
        else:
            state[key] = f"v{pos}"
            rows.append({"id": key, "name": state[key], "_op": "c", "_pos": pos})
    keys, values, _, _ = _core.DebeziumSerializer().serialize(change_batch(SIMPLE_COLUMNS, rows))
    replayed: dict[int, str] = {}
    for k, v in zip(keys.to_pylist(), values.to_pylist(), strict=True):
        key = json.loads(k)["id"]
        if v is None:
            assert key not in replayed  # a tombstone follows its delete
            continue
        event = json.loads(v)
        if event["op"] == "d":
            assert event["before"]["id"] == key
            del replayed[key]
        else:
            if event["op"] == "u":
                assert event["before"] == {"id": key, "name": replayed[key]}
            replayed[key] = event["after"]["name"]
    assert replayed == state


def test_key_change_and_unchanged_columns() -> None:
    rows = [
        {"id": 2, "name": "b", "_op": "u", "_pos": 1, "_before": {"id": 1, "name": "a"}},
        {"id": 3, "name": None, "_op": "u", "_pos": 2, "_unchanged": ["name"]},
    ]
    batch = change_batch(SIMPLE_COLUMNS, rows)
    keys, values, rows_of, _ = _core.DebeziumSerializer().serialize(batch)
    assert keys.to_pylist() == [b'{"id":1}', b'{"id":1}', b'{"id":2}', b'{"id":3}']
    assert rows_of.to_pylist() == [0, 0, 0, 1]
    d, tomb, c, u = values.to_pylist()
    assert tomb is None
    assert json.loads(d)["op"] == "d" and json.loads(d)["before"] == {"id": 1, "name": "a"}
    assert json.loads(c)["op"] == "c" and json.loads(c)["after"] == {"id": 2, "name": "b"}
    assert json.loads(u)["after"] == {"id": 3, "name": "__debezium_unavailable_value"}
    omitted = _core.DebeziumSerializer(unavailable="omit", tombstones=False).serialize(batch)[1]
    assert len(omitted) == 3
    assert json.loads(omitted[2].as_py())["after"] == {"id": 3}


def test_mysql_source_block_and_schemas() -> None:
    batch = change_batch(
        SIMPLE_COLUMNS,
        [{"id": 1, "name": "a", "_op": "c", "_pos": (4 << 32) | 1234, "_xid": 9}],
        source="mysql",
        table="shop.items",
    )
    serializer = _core.DebeziumSerializer(
        schemas=True, binlog_basename="binlog", server_id=3, topic_prefix="srv"
    )
    keys, values, _, _ = serializer.serialize(batch)
    key = json.loads(keys[0].as_py())
    assert key["payload"] == {"id": 1}
    assert key["schema"]["name"] == "srv.shop.items.Key"
    value = json.loads(values[0].as_py())
    assert value["schema"]["name"] == "srv.shop.items.Envelope"
    field_names = [f["field"] for f in value["schema"]["fields"]]
    assert field_names == [
        "before",
        "after",
        "source",
        "transaction",
        "op",
        "ts_ms",
        "ts_us",
        "ts_ns",
    ]
    source = value["payload"]["source"]
    assert source["connector"] == "mysql"
    assert (source["db"], source["table"]) == ("shop", "items")
    assert (source["file"], source["pos"], source["server_id"]) == ("binlog.000004", 1234, 3)
    source_fields = [f["field"] for f in value["schema"]["fields"][2]["fields"]]
    assert source_fields == list(source)  # the schema describes exactly the payload's fields


def test_row_keys_are_the_keys_of_each_rows_last_message() -> None:
    rows = simple_rows(0, 3, pos=9)
    rows[1] = {"id": 50, "name": "moved", "_op": "u", "_pos": 9, "_before": {"id": 1}}
    rows.append({"id": 2, "name": "n2", "_op": "d", "_pos": 10})
    rows.append({"id": None, "name": None, "_op": "t", "_pos": 11})
    batch = change_batch(SIMPLE_COLUMNS, rows)
    for schemas in (False, True):
        serializer = _core.DebeziumSerializer(schemas=schemas)
        keys = serializer.keys(batch)
        all_keys, _, rows_of, _ = serializer.serialize(batch)
        last = {r: k for r, k in zip(rows_of.to_pylist(), all_keys.to_pylist(), strict=True)}
        assert keys.to_pylist() == [last[r] for r in range(len(rows))]
        assert serializer.keys(batch).to_pylist() == keys.to_pylist()  # under the kept schema
    plain = _core.DebeziumSerializer().keys(batch).to_pylist()
    assert plain == [b'{"id":0}', b'{"id":50}', b'{"id":2}', b'{"id":2}', None]
