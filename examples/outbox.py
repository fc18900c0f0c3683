"""The transactional outbox pattern, end to end.

Shows: an order service writes its ``orders`` row and an event row into ``outbox`` in the same
transaction, then deletes the event row (the outbox stays empty; the event lives on in the WAL).
arrowtail routes every outbox insert to the topic of its ``aggregatetype``
(``<prefix>.order``), keyed by ``aggregateid`` and partitioned by it, with the JSON ``payload``
passed through unchanged and the event ``id`` and ``type`` as headers. Deletes of outbox rows
are ignored. A downstream service consumes the events in order per order id.

The sink option is ``kafka://HOST:PORT?outbox=public.outbox`` on the command line, or
``[sink.outbox] table = "public.outbox"`` in the configuration file; here it is the ``outbox``
argument of :class:`~arrowtail.sinks.kafka.KafkaSink`.

Run (PostgreSQL with ``wal_level=logical``, a Kafka broker)::

    python examples/outbox.py --dsn postgresql://postgres@localhost/postgres \\
        --bootstrap localhost:9092

It prints each event as the consumer sees it: key, type header and payload.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid

import psycopg
from _setup import capture, drop_slot, reset_database
from confluent_kafka import Consumer

from arrowtail.sinks.kafka import KafkaSink

NAME = "example_outbox"
SCHEMA = """
DROP TABLE IF EXISTS orders, outbox;
CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL);
CREATE TABLE outbox (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    aggregatetype text NOT NULL,
    aggregateid text NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL
);
"""


def change_order(conn: psycopg.Connection, order: int, status: str) -> None:
    """One service transaction: the state change and its event, the outbox left empty."""
    event = "OrderCreated" if status == "created" else "OrderStatusChanged"
    with conn.transaction():
        conn.execute(
            "INSERT INTO orders VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET status = %s",
            (order, status, status),
        )
        row = conn.execute(
            "INSERT INTO outbox (aggregatetype, aggregateid, type, payload) "
            "VALUES ('order', %s, %s, %s) RETURNING id",
            (str(order), event, json.dumps({"order": order, "status": status})),
        ).fetchone()
        assert row is not None
        conn.execute("DELETE FROM outbox WHERE id = %s", (row[0],))


def read_events(bootstrap: str, topic: str, expected: int) -> list[tuple[str, str, dict]]:
    """The consumer side: ``(key, type, payload)`` of each event, in partition order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"orders-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    events: list[tuple[str, str, dict]] = []
    deadline = time.monotonic() + 60
    try:
        while len(events) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            headers = dict(msg.headers() or [])
            events.append((msg.key().decode(), headers["type"].decode(), json.loads(msg.value())))
    finally:
        consumer.close()
    return events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="PostgreSQL URL (logical replication on)")
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    args = parser.parse_args(argv)

    reset_database(args.dsn, NAME, SCHEMA)
    with psycopg.connect(args.dsn) as conn:
        for order, status in [(1, "created"), (2, "created"), (1, "paid"), (1, "shipped")]:
            change_order(conn, order, status)
        left = conn.execute("SELECT count(*) FROM outbox").fetchone()
    print(f"outbox rows left in the table: {left[0] if left else '?'}")

    prefix = f"shop{uuid.uuid4().hex[:6]}"
    sink = KafkaSink(args.bootstrap, topic_prefix=prefix, outbox={"table": "public.outbox"})
    with tempfile.TemporaryDirectory() as tmp:
        capture(args.dsn, NAME, sink, f"{tmp}/cp.json")
    drop_slot(args.dsn, NAME)

    events = read_events(args.bootstrap, f"{prefix}.order", expected=4)
    # One partition here (auto-created topic); with more, order holds per key.
    for key, kind, payload in events:
        print(f"order {key}: {kind} {payload['status']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
