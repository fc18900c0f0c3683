"""Kafka sink against a real broker: Java-compatible partitions, Debezium values read back,
durable position driven by delivery reports (also across a stopped broker), dead letters and
delivery failures."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
from confluent_kafka import Consumer, TopicPartition

from arrowtail.exceptions import SinkError
from arrowtail.sinks.kafka.sink import SLICE_BYTES, KafkaSink
from tests.support.batches import SIMPLE_COLUMNS, change_batch, simple_rows
from tests.support.kafka_reference import java_partition
from tests.support.kafka_topics import create_topic


def wait_for(cond: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def consume_all(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[Any]:
    """Reads ``count`` messages of every partition of ``topic`` from the beginning."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        md = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, 0) for p in md.partitions])
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            out.append(msg)
        # Nothing beyond the expected messages.
        extra = consumer.poll(1.0)
        assert extra is None or extra.error(), f"unexpected extra message {extra.value()!r}"
        return out
    finally:
        consumer.close()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def test_every_message_lands_in_the_java_partition_of_its_key(kafka: Any, prefix: str) -> None:
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 6)
    sink = KafkaSink(kafka.bootstrap, topic_prefix=prefix)
    assert sink.open() is None
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(0, 200, pos=100)))
    sink.commit({"lsn": 100})
    wait_for(lambda: sink.durable_position() == {"lsn": 100}, "delivery")
    sink.close()

    messages = consume_all(kafka.bootstrap, topic, 200)
    assert len(messages) == 200
    used = set()
    for msg in messages:
        key = msg.key()
        assert msg.partition() == java_partition(key, 6), key
        used.add(msg.partition())
    assert len(used) == 6  # 200 keys spread over every partition
    ids = sorted(json.loads(m.key())["id"] for m in messages)
    assert ids == list(range(200))


def test_debezium_values_read_back(kafka: Any, prefix: str) -> None:
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 6)
    rows = [
        {"id": 7, "name": "seven", "_op": "c", "_pos": 10, "_xid": 500},
        {
            "id": 7,
            "name": "SEVEN",
            "_op": "u",
            "_pos": 11,
            "_before": {"id": 7, "name": "seven"},
        },
        {"id": 7, "name": "SEVEN", "_op": "d", "_pos": 12},
    ]
    sink = KafkaSink(kafka.bootstrap, topic_prefix=prefix, database="shop")
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, rows))
    sink.commit({"lsn": 12})
    wait_for(lambda: sink.durable_position() == {"lsn": 12}, "delivery")
    sink.close()

    messages = consume_all(kafka.bootstrap, topic, 4)
    # One key: one partition, in order.
    assert {m.partition() for m in messages} == {java_partition(b'{"id":7}', 6)}
    messages.sort(key=lambda m: m.offset())
    assert [m.key() for m in messages] == [b'{"id":7}'] * 4
    assert messages[3].value() is None  # tombstone after the delete
    c, u, d = (json.loads(m.value()) for m in messages[:3])
    assert (c["op"], c["before"], c["after"]) == ("c", None, {"id": 7, "name": "seven"})
    assert (u["op"], u["before"], u["after"]) == (
        "u",
        {"id": 7, "name": "seven"},
        {"id": 7, "name": "SEVEN"},
    )
    assert (d["op"], d["before"], d["after"]) == ("d", {"id": 7, "name": "SEVEN"}, None)
    src = c["source"]
    assert src["connector"] == "postgresql"
    assert (src["db"], src["schema"], src["table"]) == ("shop", "public", "t")
    assert (src["txId"], src["lsn"], src["snapshot"]) == (500, 10, "false")
    assert src["ts_ms"] == 1704067200000  # 2024-01-01 + 10 µs, in ms


def test_durable_position_does_not_pass_undelivered_messages(kafka: Any, prefix: str) -> None:
    if not hasattr(kafka, "stop"):
        pytest.skip("the kafka fixture cannot stop the broker")
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 6)
    sink = KafkaSink(kafka.bootstrap, topic_prefix=prefix)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(0, 10, pos=1)))
    sink.commit({"lsn": 1})
    wait_for(lambda: sink.durable_position() == {"lsn": 1}, "first delivery")

    kafka.stop()
    try:
        sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(10, 10, pos=2)))
        sink.commit({"lsn": 2})
        sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(20, 10, pos=3)))
        sink.commit({"lsn": 3})
        # The broker is down: for a good while, nothing past lsn 1 may be reported durable.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert sink.durable_position() == {"lsn": 1}
            time.sleep(0.05)
    finally:
        kafka.start()
    wait_for(lambda: sink.durable_position() == {"lsn": 3}, "delivery after restart", 120)
    sink.close()
    messages = consume_all(kafka.bootstrap, topic, 30)
    # Idempotent producer: each row exactly once despite the outage and retries.
    assert sorted(json.loads(m.key())["id"] for m in messages) == list(range(30))


def test_rows_too_large_go_to_the_dead_letter_topic(kafka: Any, prefix: str) -> None:
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 3)
    create_topic(kafka.bootstrap, f"{prefix}.dlq", 1)
    rows = [
        {"id": 1, "name": "small", "_op": "c", "_pos": 5, "_seq": 0},
        {"id": 2, "name": "x" * 5000, "_op": "c", "_pos": 5, "_seq": 1},
        {"id": 3, "name": "small", "_op": "c", "_pos": 5, "_seq": 2},
    ]
    sink = KafkaSink(kafka.bootstrap, topic_prefix=prefix, max_message_bytes=2000)
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, rows))
    sink.commit({"lsn": 5})
    wait_for(lambda: sink.durable_position() == {"lsn": 5}, "delivery")
    sink.close()
    main = consume_all(kafka.bootstrap, topic, 2)
    assert sorted(json.loads(m.key())["id"] for m in main) == [1, 3]
    (dead,) = consume_all(kafka.bootstrap, f"{prefix}.dlq", 1)
    assert dead.key() == b'{"id":2}'
    assert dead.value() is None
    headers = {k: v.decode() for k, v in dead.headers()}
    assert headers["arrowtail.topic"] == topic
    assert headers["arrowtail.table"] == "public.t"
    assert (headers["arrowtail.pos"], headers["arrowtail.seq"]) == ("5", "1")
    assert int(headers["arrowtail.size"]) > 5000
    assert "exceeds the limit of 2000 bytes" in headers["arrowtail.reason"]


def test_a_batch_larger_than_a_slice_arrives_whole_and_in_order(kafka: Any, prefix: str) -> None:
    # About three times SLICE_BYTES of rows in one batch, written a slice at a time; one row too
    # large, in the last slice, goes to the dead-letter topic under its own key and `_seq`.
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 1)
    create_topic(kafka.bootstrap, f"{prefix}.dlq", 1)
    n, big = 20_000, 19_000
    rows = [
        {
            "id": i,
            "name": ("y" if i == big else "x") * (5000 if i == big else 600),
            "_op": "c",
            "_pos": 9,
            "_seq": i - 1,
        }
        for i in range(1, n + 1)
    ]
    batch = change_batch(SIMPLE_COLUMNS, rows)
    assert batch.nbytes > 2.5 * SLICE_BYTES
    sink = KafkaSink(kafka.bootstrap, topic_prefix=prefix, max_message_bytes=2000)
    sink.open()
    sink.write("public.t", 1, batch)
    sink.commit({"lsn": 9})
    wait_for(lambda: sink.durable_position() == {"lsn": 9}, "delivery")
    sink.close()
    main = consume_all(kafka.bootstrap, topic, n - 1)
    ids = [json.loads(m.key())["id"] for m in main]
    assert ids == [i for i in range(1, n + 1) if i != big]
    assert [json.loads(m.value())["source"]["seq"] for m in main[-3:]] == [n - 3, n - 2, n - 1]
    (dead,) = consume_all(kafka.bootstrap, f"{prefix}.dlq", 1)
    assert dead.key() == f'{{"id":{big}}}'.encode()
    headers = {k: v.decode() for k, v in dead.headers()}
    assert headers["arrowtail.seq"] == str(big - 1)


def test_the_topic_limit_routes_rows_the_broker_would_refuse(kafka: Any, prefix: str) -> None:
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 1, {"max.message.bytes": "3000"})
    create_topic(kafka.bootstrap, f"{prefix}.dlq", 1)
    rows = [
        {"id": 1, "name": "x" * 4000, "_op": "c", "_pos": 5},
        {"id": 2, "name": "small", "_op": "c", "_pos": 5},
    ]
    sink = KafkaSink(kafka.bootstrap, topic_prefix=prefix)  # its own limit is 1 MB
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, rows))
    sink.commit({"lsn": 5})
    wait_for(lambda: sink.durable_position() == {"lsn": 5}, "delivery")
    sink.close()
    (main,) = consume_all(kafka.bootstrap, topic, 1)
    assert main.key() == b'{"id":2}'
    (dead,) = consume_all(kafka.bootstrap, f"{prefix}.dlq", 1)
    assert dead.key() == b'{"id":1}'
    assert "exceeds the limit of 2488 bytes" in dict(dead.headers())["arrowtail.reason"].decode()


def test_failed_delivery_raises_and_blocks_the_position(kafka: Any, prefix: str) -> None:
    if not hasattr(kafka, "stop"):
        pytest.skip("the kafka fixture cannot stop the broker")
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 2)
    sink = KafkaSink(
        kafka.bootstrap,
        topic_prefix=prefix,
        producer_config={"message.timeout.ms": 1500},
    )
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(0, 3, pos=1)))
    sink.commit({"lsn": 1})
    wait_for(lambda: sink.durable_position() == {"lsn": 1}, "first delivery")
    kafka.stop()
    try:
        sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(3, 3, pos=2)))
        sink.commit({"lsn": 2})

        def raised() -> bool:
            try:
                sink.durable_position()
            except SinkError:
                return True
            return False

        wait_for(raised, "the delivery failure", 60)
        with pytest.raises(SinkError, match="delivery to"):
            sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(6, 1, pos=3)))
        with pytest.raises(SinkError):
            sink.commit({"lsn": 3})
        assert sink._durable == {"lsn": 1}
    finally:
        kafka.start()
        sink.close()


def test_per_table_topic_override(kafka: Any, prefix: str) -> None:
    topic = f"{prefix}-custom"
    create_topic(kafka.bootstrap, topic, 1)
    sink = KafkaSink(kafka.bootstrap, topic_prefix=prefix, topics={"public.t": topic})
    sink.open()
    batch = change_batch(SIMPLE_COLUMNS, simple_rows(0, 2, pos=1))
    assert isinstance(batch, pa.RecordBatch)
    sink.write("public.t", 1, batch)
    sink.commit({"lsn": 1})
    wait_for(lambda: sink.durable_position() == {"lsn": 1}, "delivery")
    sink.close()
    assert len(consume_all(kafka.bootstrap, topic, 2)) == 2


def test_a_table_name_kafka_refuses_goes_to_the_topic_debezium_would_name(
    kafka: Any, prefix: str
) -> None:
    # The broker refuses `<prefix>.My Schema.Ördër Items`; Debezium writes such a table to the
    # name with every character outside [a-zA-Z0-9._-] replaced by `_`.
    table = "My Schema.Ördër Items"
    topic = f"{prefix}.My_Schema._rd_r_Items"
    sink = KafkaSink(kafka.bootstrap, topic_prefix=prefix)
    sink.open()
    assert sink.topic_for(table) == topic
    sink.write(table, 1, change_batch(SIMPLE_COLUMNS, simple_rows(0, 3, pos=1), table=table))
    sink.commit({"lsn": 1})
    wait_for(lambda: sink.durable_position() == {"lsn": 1}, "delivery")
    sink.close()
    values = [json.loads(m.value()) for m in consume_all(kafka.bootstrap, topic, 3)]
    assert sorted(v["after"]["id"] for v in values) == [0, 1, 2]
    # The event still names the table as it is.
    assert {(v["source"]["schema"], v["source"]["table"]) for v in values} == {
        ("My Schema", "Ördër Items")
    }


def test_a_full_local_queue_is_waited_on_not_dropped(kafka: Any, prefix: str) -> None:
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 6)
    # A queue of 10 messages: writing 500 rows must hit BufferError many times.
    sink = KafkaSink(
        kafka.bootstrap,
        topic_prefix=prefix,
        producer_config={"queue.buffering.max.messages": 10, "linger.ms": 5},
    )
    sink.open()
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, simple_rows(0, 500, pos=1)))
    sink.commit({"lsn": 1})
    wait_for(lambda: sink.durable_position() == {"lsn": 1}, "delivery")
    sink.close()
    messages = consume_all(kafka.bootstrap, topic, 500)
    assert sorted(json.loads(m.key())["id"] for m in messages) == list(range(500))


def test_arrow_ipc_values_keep_rows_per_key_partition(kafka: Any, prefix: str) -> None:
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 6)
    # A small limit forces several IPC messages per partition.
    sink = KafkaSink(
        kafka.bootstrap, topic_prefix=prefix, value_format="arrow", max_message_bytes=4000
    )
    sink.open()
    batch = change_batch(SIMPLE_COLUMNS, simple_rows(0, 300, pos=7))
    sink.write("public.t", 3, batch)
    sink.commit({"lsn": 7})
    wait_for(lambda: sink.durable_position() == {"lsn": 7}, "delivery")
    sink.close()

    # Read everything there is: count unknown, so read until ids are complete.
    got: dict[int, int] = {}
    messages = []
    deadline = time.monotonic() + 60
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(6)])
        while len(got) < 300 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            messages.append(msg)
            table = pa.ipc.open_stream(msg.value()).read_all()
            assert table.schema.metadata[b"arrowtail.table"] == b"public.t"
            for i in table.column("id").to_pylist():
                assert i not in got
                got[i] = msg.partition()
    finally:
        consumer.close()
    assert len(got) == 300
    assert len(messages) > 6
    for i, part in got.items():
        assert part == java_partition(f'{{"id":{i}}}'.encode(), 6)
    headers = dict(messages[0].headers())
    assert headers["arrowtail.schema_version"] == b"3"
    assert all(len(m.value()) <= 4000 for m in messages)


def test_arrow_ipc_is_one_message_per_partition_without_a_json_pass(
    kafka: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arrowtail.sinks.kafka import sink as kafka_module

    real = kafka_module._core.DebeziumSerializer
    key_calls: list[int] = []

    class KeysOnly:
        """The real serializer's keys; any Debezium value asked for fails the test."""

        def __init__(self, **options: Any) -> None:
            self._real = real(**options)

        def keys(self, batch: pa.RecordBatch) -> pa.BinaryArray:
            key_calls.append(batch.num_rows)
            return self._real.keys(batch)

        def serialize(self, *args: Any, **kw: Any) -> Any:
            raise AssertionError("the Arrow format must not serialize Debezium values")

        messages = serialize

    monkeypatch.setattr(kafka_module._core, "DebeziumSerializer", KeysOnly)
    topic = f"{prefix}.public.t"
    create_topic(kafka.bootstrap, topic, 5)
    sink = KafkaSink(kafka.bootstrap, topic_prefix=prefix, value_format="arrow")
    sink.open()
    rows = simple_rows(0, 400, pos=9)
    # A key-changing update (id 3 -> 1003) travels with its new key.
    rows[3] = {"id": 1003, "name": "moved", "_op": "u", "_pos": 9, "_before": {"id": 3}}
    sink.write("public.t", 1, change_batch(SIMPLE_COLUMNS, rows))
    sink.commit({"lsn": 9})
    wait_for(lambda: sink.durable_position() == {"lsn": 9}, "delivery")
    sink.close()
    assert key_calls == [400]  # one key pass over the batch

    messages = consume_all(kafka.bootstrap, topic, 5)
    seen: list[int] = []
    for msg in messages:
        table = pa.ipc.open_stream(msg.value()).read_all()
        ids = table.column("id").to_pylist()
        # Every row belongs to the partition of its message, in the batch's row order.
        for i in ids:
            assert java_partition(f'{{"id":{i}}}'.encode(), 5) == msg.partition(), i
        assert table.column("_seq").to_pylist() == sorted(table.column("_seq").to_pylist())
        seen += ids
    assert len({m.partition() for m in messages}) == 5
    assert sorted(seen) == sorted(r["id"] for r in rows)
