"""arrowtail._core.DebeziumSerializer and AvroSerializer kept for a stream: the same messages (and
Avro schemas) as a serializer made for the one batch, whose only call takes the batch with its
schema; as arrays and as lists, batch after batch, whether a batch's schema is the last one's or
not (no broker)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pyarrow as pa
import pytest

from arrowtail import _core
from arrowtail.exceptions import ConfigError
from tests.support.batches import SIMPLE_COLUMNS, change_batch, simple_rows

#: Every message kind: creates, a key-changing update (delete, tombstone, create), an update
#: with an unchanged column, a delete (and its tombstone), a truncate.
ROWS: list[dict[str, Any]] = [
    *simple_rows(0, 2, pos=9),
    {"id": 7, "name": "moved", "_op": "u", "_pos": 9, "_before": {"id": 1, "name": "n1"}},
    {"id": 3, "name": None, "_op": "u", "_pos": 10, "_unchanged": ["name"]},
    {"id": 0, "name": "n0", "_op": "d", "_pos": 11},
    {"id": None, "name": None, "_op": "t", "_pos": 12},
]

OPTIONS: list[dict[str, Any]] = [
    {},
    {"tombstones": False, "unavailable": "omit"},
    {"schemas": True, "topic_prefix": "srv", "database": "shop"},
    {"decimals": "precise"},
]


def _expected(batch: pa.RecordBatch, partitions: int | None, **options: Any) -> list[Any]:
    """The reference: the messages of a new serializer's first call (the batch with its schema)."""
    out = _core.DebeziumSerializer(**options).serialize(batch, partitions=partitions)
    return [None if a is None else a.to_pylist() for a in out]


@pytest.mark.parametrize("options", OPTIONS)
def test_arrays_and_lists_are_a_new_serializers_messages(options: dict[str, Any]) -> None:
    batch = change_batch(SIMPLE_COLUMNS, ROWS)
    serializer = _core.DebeziumSerializer(ts_ms=5, **options)
    keys, values, rows, parts = _expected(batch, 3, ts_ms=5, **options)
    for _ in range(2):  # the second call takes the batch under the kept schema
        arrays = serializer.serialize(batch, partitions=3)
        assert [None if a is None else a.to_pylist() for a in arrays] == [keys, values, rows, parts]
        assert serializer.serialize(batch)[3] is None
        got_keys, got_values, got_parts, largest = serializer.messages(batch, partitions=3)
        assert (got_keys, got_values, got_parts) == (keys, values, parts)
        sizes = [len(k or b"") + len(v or b"") for k, v in zip(keys, values, strict=True)]
        assert largest == max(sizes)
    assert None in keys  # the truncate's missing key crossed, and the tombstones when written
    assert values.count(None) == (0 if options.get("tombstones") is False else 2)


def test_batches_of_other_schemas_and_slices_are_serialized_as_their_own() -> None:
    serializer = _core.DebeziumSerializer(ts_ms=1)
    first = change_batch(SIMPLE_COLUMNS, ROWS)
    # The same columns under another key (metadata only) and another table.
    by_name = change_batch(SIMPLE_COLUMNS, ROWS, primary_key=("name",))
    other = change_batch(SIMPLE_COLUMNS, ROWS, table="public.u")
    wider = change_batch(
        [*SIMPLE_COLUMNS, pa.field("n", pa.int32())],
        [{**r, "n": 4} for r in ROWS if r["_op"] != "t"],
    )
    for batch in (first, by_name, first, other, wider, first.slice(2, 3), first.slice(1, 4)):
        for _ in range(2):
            got = serializer.messages(batch, partitions=5)
            keys, values, _, parts = _expected(batch, 5, ts_ms=1)
            assert got[:3] == (keys, values, parts)
    assert serializer.messages(by_name, partitions=5)[0][0] == b'{"name":"n0"}'
    assert json.loads(serializer.messages(other, partitions=5)[1][0])["source"]["table"] == "u"


def test_threads_sharing_a_serializer_each_get_their_batches_messages() -> None:
    serializer = _core.DebeziumSerializer(ts_ms=3)
    batches = [
        change_batch(SIMPLE_COLUMNS, ROWS),
        change_batch(SIMPLE_COLUMNS, ROWS, primary_key=("name",)),
    ]
    expected = [_expected(b, 2, ts_ms=3) for b in batches]
    failures: list[str] = []

    def work(first: int) -> None:
        for i in range(300):
            k = (first + i) % 2
            got = serializer.messages(batches[k], partitions=2)
            if got[:3] != (expected[k][0], expected[k][1], expected[k][3]):
                failures.append(f"call {i} of batch {k}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


class _CapsuleOnly:
    """A batch seen only through the Arrow PyCapsule interface (not a pyarrow object)."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        self._batch = batch

    def __arrow_c_array__(self, requested_schema: Any = None) -> Any:
        return self._batch.__arrow_c_array__(requested_schema)


def test_other_arrow_objects_cross_through_the_capsule_interface() -> None:
    batch = change_batch(SIMPLE_COLUMNS, ROWS)
    serializer = _core.DebeziumSerializer(ts_ms=2)
    expected = _expected(batch, 2, ts_ms=2)
    for each in (batch, _CapsuleOnly(batch), _CapsuleOnly(batch), batch):
        got = serializer.messages(each, partitions=2)  # type: ignore[arg-type]
        assert got[:3] == (expected[0], expected[1], expected[3])


def test_processing_time_is_taken_at_each_call() -> None:
    serializer = _core.DebeziumSerializer()
    batch = change_batch(SIMPLE_COLUMNS, simple_rows(0, 1, pos=1))
    before_us = time.time_ns() // 1000
    event = json.loads(serializer.messages(batch, partitions=1)[1][0])
    after_us = time.time_ns() // 1000
    assert before_us <= event["ts_us"] <= after_us
    assert event["ts_ms"] == event["ts_us"] // 1000 and event["ts_ns"] == event["ts_us"] * 1000


def test_bad_options_and_batches_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="decimals must be"):
        _core.DebeziumSerializer(decimals="float")
    with pytest.raises(ConfigError, match="unavailable must be"):
        _core.DebeziumSerializer(unavailable="drop")
    serializer = _core.DebeziumSerializer()
    batch = change_batch(SIMPLE_COLUMNS, simple_rows(0, 1, pos=1))
    serializer.messages(batch, partitions=1)
    for n in (0, -1):
        with pytest.raises(ConfigError, match="partition count must be positive"):
            serializer.messages(batch, partitions=n)
        with pytest.raises(ConfigError, match="partition count must be positive"):
            serializer.serialize(batch, partitions=n)
    bad_op = change_batch(SIMPLE_COLUMNS, [{"id": 1, "_op": "x", "_pos": 1}])
    for call in (serializer.messages, serializer.serialize):
        with pytest.raises(ConfigError, match="no _op column"):
            call(pa.record_batch({"id": [1]}), partitions=1)
        for _ in range(2):  # the bad batch's schema is kept after the first call
            with pytest.raises(ConfigError, match="unknown _op"):
                call(bad_op, partitions=1)
    with pytest.raises(ConfigError, match="no _op column"):
        serializer.keys(pa.record_batch({"id": [1]}))
    with pytest.raises(ValueError, match="__arrow_c_array__"):
        serializer.messages([1, 2], partitions=1)  # type: ignore[arg-type]


def _avro_expected(batch: pa.RecordBatch, key_id: int | None, **options: Any) -> list[Any]:
    """The reference: the messages of a new serializer's first call (the batch with its schema)."""
    out = _core.AvroSerializer(**options).serialize(
        batch, key_schema_id=key_id, value_schema_id=12, partitions=4
    )
    return [None if a is None else a.to_pylist() for a in out]


@pytest.mark.parametrize("options", OPTIONS)
def test_avro_schemas_and_messages_are_a_new_serializers(options: dict[str, Any]) -> None:
    serializer = _core.AvroSerializer(ts_ms=6, **options)
    first = change_batch(SIMPLE_COLUMNS, ROWS)
    keyless = change_batch(SIMPLE_COLUMNS, ROWS, primary_key=())
    other = change_batch(SIMPLE_COLUMNS, ROWS, table="public.u")
    for batch in (first, first, keyless, keyless, other, first.slice(1, 3), first):
        schemas = serializer.schemas(batch)
        assert schemas == _core.AvroSerializer(ts_ms=6, **options).schemas(batch)
        key_id = None if schemas[0] is None else 11
        keys, values, rows, parts = _avro_expected(batch, key_id, ts_ms=6, **options)
        arrays = serializer.serialize(batch, key_schema_id=key_id, value_schema_id=12, partitions=4)
        assert [None if a is None else a.to_pylist() for a in arrays] == [keys, values, rows, parts]
        got = serializer.messages(batch, key_schema_id=key_id, value_schema_id=12, partitions=4)
        assert got[:3] == (keys, values, parts)
        assert got[3] == max(
            len(k or b"") + len(v or b"") for k, v in zip(keys, values, strict=True)
        )
    assert serializer.schemas(keyless)[0] is None and serializer.schemas(first)[0] is not None


def test_avro_serializer_raises_config_errors() -> None:
    with pytest.raises(ConfigError, match="decimals must be"):
        _core.AvroSerializer(decimals="float")
    serializer = _core.AvroSerializer()
    batch = change_batch(SIMPLE_COLUMNS, simple_rows(0, 1, pos=1))
    with pytest.raises(ConfigError, match="key schema id"):
        serializer.messages(batch, value_schema_id=3, partitions=1)
    with pytest.raises(ConfigError, match="partition count must be positive"):
        serializer.messages(batch, key_schema_id=2, value_schema_id=3, partitions=0)
    with pytest.raises(ConfigError, match="no _op column"):
        serializer.schemas(pa.record_batch({"id": [1]}))
