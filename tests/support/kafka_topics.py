"""Kafka helpers of the tests: create a topic and wait until it serves, read topics back from the
beginning until they stay quiet, replay Debezium messages into table images."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create_topic(
    bootstrap: str, name: str, partitions: int, config: dict[str, str] | None = None
) -> None:
    """Creates ``name`` with ``partitions`` partitions and waits until its metadata shows them."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})
    admin.create_topics([topic])[name].result(timeout=30)
    deadline = time.monotonic() + 60
    while True:
        t = admin.list_topics(name, timeout=5).topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for topic {name}")
        time.sleep(0.05)


def consume_until_quiet(
    bootstrap: str, topics: str | list[str], quiet: float = 5.0, timeout: float = 300.0
) -> list[Any]:
    """Every message of every partition of ``topics``, from the beginning, read until none has
    arrived for ``quiet`` seconds (a topic that does not exist reads as empty)."""
    return list(read_until_quiet(bootstrap, topics, quiet, timeout))


def read_until_quiet(
    bootstrap: str, topics: str | list[str], quiet: float = 5.0, timeout: float = 300.0
) -> Iterator[Any]:
    """The messages of :func:`consume_until_quiet` one by one, none kept: for topics too large to
    hold in the test's memory."""
    names = [topics] if isinstance(topics, str) else topics
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "allow.auto.create.topics": False,
        }
    )
    try:
        assignment = []
        for name in names:
            md = consumer.list_topics(name, timeout=10).topics.get(name)
            if md is not None and md.error is None:
                assignment += [TopicPartition(name, p, 0) for p in md.partitions]
        if not assignment:
            return
        consumer.assign(assignment)
        start = last = time.monotonic()
        while time.monotonic() - last < quiet:
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{names} still receiving after {timeout:g}s")
            batch = consumer.consume(10_000, 0.5)
            for msg in batch:
                if msg.error() is None:
                    yield msg
            if batch:
                last = time.monotonic()
    finally:
        consumer.close()


def _position(source: dict[str, Any]) -> tuple[Any, ...]:
    """The change's position from a Debezium ``source`` block, unique per change and in the order
    of the changes to any one row: PostgreSQL the change's own ``lsn`` (a row changed by two
    transactions is changed by the second only after the first committed, so its changes follow
    the WAL order), MySQL ``file`` number and ``pos``; then ``seq``."""
    if "lsn" in source:
        return (source["lsn"], source["seq"])
    number = int(source["file"].rsplit(".", 1)[1])
    return ((number << 32) | source["pos"], source["seq"])


def debezium_images(
    messages: list[Any],
) -> tuple[dict[str, dict[tuple[Any, ...], dict[str, Any]]], int]:
    """Replays Debezium JSON messages (any topics, any partitions, duplicates allowed) into table
    images keyed by primary key: tombstones are skipped, duplicates dropped by ``(_pos, _seq)``
    and op, the rest applied in ``(_pos, _seq)`` order. Returns ``(images by schema.table,
    number of duplicates dropped)``."""
    seen: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    duplicates = 0
    for msg in messages:
        if msg.value() is None:
            continue
        event = json.loads(msg.value())
        source = event["source"]
        table = f"{source.get('schema') or source['db']}.{source['table']}"
        # A key change is a delete and a create with the same position: the op tells them apart.
        ident = (table, *_position(source), event["op"] == "c")
        if ident in seen:
            duplicates += 1
            continue
        key = tuple(json.loads(msg.key()).values())
        seen[ident] = (key, event)
    images: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for ident in sorted(seen):
        key, event = seen[ident]
        image = images.setdefault(ident[0], {})
        if event["op"] == "d":
            image.pop(key, None)
        else:
            image[key] = event["after"]
    return images, duplicates
