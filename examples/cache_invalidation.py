"""Cache invalidation from the change stream.

Shows: a service keeps product rows in an in-process cache (a dict standing in for Redis or
memcached). arrowtail streams the ``products`` table to Kafka as Debezium JSON; a consumer reads
the topic and evicts the key of every changed row, so the next read goes to the database. Keys
are the primary key, partitioned like Kafka's Java producer, so all changes of one product arrive
in order on one partition.

Run (PostgreSQL with ``wal_level=logical``, a Kafka broker)::

    python examples/cache_invalidation.py --dsn postgresql://postgres@localhost/postgres \\
        --bootstrap localhost:9092

It prints the keys it evicted and what is left in the cache.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid

import psycopg
from _setup import capture, drop_slot, execute, reset_database
from confluent_kafka import Consumer

from arrowtail.sinks.kafka import KafkaSink

NAME = "example_cache"
SCHEMA = """
DROP TABLE IF EXISTS products;
CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2));
"""
SEED = "INSERT INTO products SELECT g, 'product ' || g, g * 10 FROM generate_series(1, 6) g"


def load_cache(dsn: str) -> dict[int, tuple[str, str]]:
    """The warm cache: every product, as the service would have loaded it on demand."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, name, price::text FROM products").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def evict_from_topic(bootstrap: str, topic: str, cache: dict[int, tuple[str, str]]) -> list[int]:
    """Consumes ``topic`` until it is quiet, evicting the key of every change message."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"cache-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    evicted: list[int] = []
    last = time.monotonic()
    try:
        while time.monotonic() - last < 5.0:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            last = time.monotonic()
            # The key is the primary key as JSON, {"id": 3}; tombstones carry it too.
            product = json.loads(msg.key())["id"]
            if cache.pop(product, None) is not None:
                evicted.append(product)
    finally:
        consumer.close()
    return evicted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="PostgreSQL URL (logical replication on)")
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    args = parser.parse_args(argv)

    reset_database(args.dsn, NAME, SCHEMA, SEED)
    cache = load_cache(args.dsn)
    print(f"cache warmed with {len(cache)} products")
    # The application changes some products behind the cache's back.
    execute(
        args.dsn,
        "UPDATE products SET price = price * 2 WHERE id IN (2, 5)",
        "DELETE FROM products WHERE id = 4",
        "UPDATE products SET name = 'renamed' WHERE id = 5",
    )
    prefix = f"cache{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        capture(args.dsn, NAME, KafkaSink(args.bootstrap, topic_prefix=prefix), f"{tmp}/cp.json")
    drop_slot(args.dsn, NAME)

    evicted = evict_from_topic(args.bootstrap, f"{prefix}.public.products", cache)
    print(f"evicted: {sorted(evicted)}")
    print(f"still cached: {sorted(cache)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
