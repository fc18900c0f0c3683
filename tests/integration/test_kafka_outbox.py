"""Outbox routing end to end: PostgreSQL -> ``arrowtail run`` -> Kafka. Each application
transaction writes a business row and an outbox row, then deletes the outbox row (the usual
clean-up). The outbox topics must hold exactly one event per outbox insert, on the topic of its
aggregate type, keyed by the aggregate id in the Java partition of that key, with the payload as
written and the ``id``/``type`` headers, in commit order per aggregate; the outbox table itself
gets no topic, and the business table keeps its ordinary Debezium topic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa

from arrowtail.sinks.kafka.sink import KafkaSink
from tests.support.batches import change_batch
from tests.support.kafka_reference import java_partition
from tests.support.kafka_topics import consume_until_quiet, create_topic
from tests.support.pg_run import create_database

DB = "outbox_e2e"
SCHEMA = """
CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, total numeric(10,2));
CREATE TABLE outbox (
    id uuid PRIMARY KEY,
    aggregatetype text NOT NULL,
    aggregateid text NOT NULL,
    type text NOT NULL,
    payload jsonb
);
"""


def place_order(conn: Any, order: int, customer: str) -> dict[str, Any]:
    """One application transaction: the order, its event in the outbox, the outbox clean-up."""
    event_id = uuid.uuid4()
    kind = "customer" if order % 5 == 0 else "order"
    aggregate = customer if kind == "customer" else f"order-{order}"
    payload = {"order": order, "customer": customer, "note": 'ünïcode "quoted"'}
    with conn.transaction():
        conn.execute("INSERT INTO orders VALUES (%s, %s, %s)", (order, customer, order * 1.5))
        conn.execute(
            "INSERT INTO outbox VALUES (%s, %s, %s, %s, %s)",
            (event_id, kind, aggregate, f"{kind.title()}Changed", json.dumps(payload)),
        )
        conn.execute("DELETE FROM outbox WHERE id = %s", (event_id,))
    return {"id": str(event_id), "kind": kind, "key": aggregate, "payload": payload}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arrowtail.cli", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ),
    )


def test_outbox_events_reach_their_topics_with_keys_headers_and_partitions(
    postgres: Any, kafka: Any, tmp_path: Path
) -> None:
    create_database(postgres, DB, SCHEMA, publication="outbox_pub")
    conn = postgres.connect(dbname=DB)
    prefix = f"ob{uuid.uuid4().hex[:8]}"
    partitions = {"order": 4, "customer": 3}
    for kind, n in partitions.items():
        create_topic(kafka.bootstrap, f"{prefix}.{kind}", n)
    args = [
        "run",
        "--source",
        postgres.dsn_for(postgres.user, None, DB),
        "--slot",
        "outbox_slot",
        "--publication",
        "outbox_pub",
        "--to",
        f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&outbox=public.outbox",
        "--checkpoint",
        str(tmp_path / "cp.json"),
        "--idle-exit",
        "3",
    ]
    first = run(*args)  # creates the slot
    assert first.returncode == 0, first.stderr
    customers = ["ann", "bob", "cyd"]
    events = [place_order(conn, i, customers[i % 3]) for i in range(1, 121)]
    second = run(*args)
    assert second.returncode == 0, second.stderr

    got = consume_until_quiet(kafka.bootstrap, [f"{prefix}.{k}" for k in partitions])
    assert len(got) == len(events)
    by_id = {e["id"]: e for e in events}
    order_of = {e["id"]: i for i, e in enumerate(events)}
    per_partition: dict[tuple[str, int], list[int]] = {}
    for msg in got:
        headers = dict(msg.headers())
        event = by_id.pop(headers["id"].decode())
        assert msg.topic() == f"{prefix}.{event['kind']}"
        assert msg.key() == event["key"].encode()
        assert json.loads(msg.value()) == event["payload"]
        assert headers["type"] == f"{event['kind'].title()}Changed".encode()
        assert int(headers["arrowtail.pos"]) > 0
        assert msg.partition() == java_partition(msg.key(), partitions[event["kind"]])
        per_partition.setdefault((msg.topic(), msg.partition()), []).append(
            order_of[headers["id"].decode()]
        )
    assert by_id == {}, "events missing"
    # Commit order within every partition, so every aggregate's events are in order.
    for where, seq in per_partition.items():
        assert seq == sorted(seq), where
    # Several partitions of each topic are used (the keys spread).
    assert len(per_partition) >= 5

    # The outbox table has no topic of its own; the business table has its Debezium topic.
    assert consume_until_quiet(kafka.bootstrap, f"{prefix}.public.outbox", quiet=1.0) == []
    orders = consume_until_quiet(kafka.bootstrap, f"{prefix}.public.orders", quiet=2.0)
    assert sorted(json.loads(m.key())["id"] for m in orders) == list(range(1, 121))
    conn.close()


def test_outbox_rows_without_a_topic_kafka_can_name_are_dead_letters(kafka: Any) -> None:
    prefix = f"ob{uuid.uuid4().hex[:8]}"
    create_topic(kafka.bootstrap, f"{prefix}.order", 2)
    create_topic(kafka.bootstrap, f"{prefix}.dlq", 1)
    columns = [
        pa.field("aggregatetype", pa.string()),
        pa.field("aggregateid", pa.string()),
        pa.field("payload", pa.string()),
    ]
    rows = [
        {"aggregatetype": None, "aggregateid": "o-1", "payload": "{}", "_op": "c", "_pos": 5},
        {"aggregatetype": "order", "aggregateid": "o-2", "payload": "{}", "_op": "c", "_pos": 5},
        {"aggregatetype": "Order Items/ü", "aggregateid": "o-3", "payload": '{"n": 3}',
         "_op": "c", "_pos": 5},
        {"aggregatetype": "order", "aggregateid": "o-4", "payload": "{}", "_op": "c", "_pos": 5},
    ]  # fmt: skip
    sink = KafkaSink(kafka.bootstrap, topic_prefix=prefix, outbox={"table": "public.outbox"})
    sink.open()
    sink.write("public.outbox", 1, change_batch(columns, rows, table="public.outbox"))
    sink.commit({"lsn": 5})
    sink.close()
    assert sink.durable_position() == {"lsn": 5}

    dead, unnamable = consume_until_quiet(kafka.bootstrap, f"{prefix}.dlq", quiet=2.0)
    headers = dict(dead.headers())
    assert dead.key() == b"o-1" and dead.value() == b"{}"
    assert headers["arrowtail.reason"] == b"outbox row of public.outbox has no aggregatetype"
    assert (headers["arrowtail.pos"], headers["arrowtail.seq"]) == (b"5", b"0")
    # An aggregate type Kafka cannot name a topic after: the event is kept, the stream goes on.
    headers = dict(unnamable.headers())
    assert unnamable.key() == b"o-3" and unnamable.value() == b'{"n": 3}'
    assert headers["arrowtail.reason"].decode() == (
        "outbox row of public.outbox: 'ob" + prefix[2:] + ".Order Items/ü' (from its"
        " aggregatetype) is not a valid Kafka topic name"
    )
    assert headers["arrowtail.seq"] == b"2"
    events = consume_until_quiet(kafka.bootstrap, f"{prefix}.order", quiet=2.0)
    assert sorted(e.key() for e in events) == [b"o-2", b"o-4"]
    assert all(e.partition() == java_partition(e.key(), 2) for e in events)
