"""Helpers of the exactly-once Kafka tests: read topics to their end at a chosen isolation level
(``read_committed`` stops at the last stable offset and leaves out aborted transactions), count
every change by its source position and compare the replay with the source tables, and SIGKILL
a run while its transaction has data in the log."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, IsolationLevel, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from tests.support.chaos import Child
from tests.support.kafka_topics import _position, debezium_images
from tests.support.replay import assert_tables_equal

Rows = dict[tuple[Any, ...], dict[str, Any]]


def read_to_end(
    bootstrap: str,
    topics: list[str],
    *,
    committed: bool = True,
    timeout: float = 120.0,
) -> list[Any]:
    """Every message of every partition of ``topics``, from the beginning to the end of each
    partition (``read_committed``: its last stable offset; else its high watermark). A topic that
    does not exist reads as empty."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed" if committed else "read_uncommitted",
            "allow.auto.create.topics": False,
        }
    )
    try:
        assignment = []
        for name in topics:
            md = consumer.list_topics(name, timeout=10).topics.get(name)
            if md is not None and md.error is None:
                assignment += [TopicPartition(name, p, OFFSET_BEGINNING) for p in md.partitions]
        if not assignment:
            return []
        consumer.assign(assignment)
        pending = {(tp.topic, tp.partition) for tp in assignment}
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"{sorted(pending)} not read to the end in {timeout:g}s")
            for msg in consumer.consume(10_000, 0.5):
                err = msg.error()
                if err is None:
                    out.append(msg)
                elif err.code() == KafkaError._PARTITION_EOF:
                    pending.discard((msg.topic(), msg.partition()))
                else:
                    raise AssertionError(f"consumer error {err}")
        return out
    finally:
        consumer.close()


def change_counts(messages: list[Any]) -> Counter[tuple[Any, ...]]:
    """How often each change arrived, by ``(table, *position, is_create)`` (a key change is a
    delete and a create at the same position): PostgreSQL ``(last commit, lsn, seq)``, MySQL
    ``(file and pos, seq)``, so the change's own log position is always third from the end;
    tombstones are not changes."""
    counts: Counter[tuple[Any, ...]] = Counter()
    for msg in messages:
        if msg.value() is None:
            continue
        event = json.loads(msg.value())
        source = event["source"]
        table = f"{source.get('schema') or source['db']}.{source['table']}"
        counts[(table, *_position(source), event["op"] == "c")] += 1
    return counts


def assert_exactly_once(
    bootstrap: str,
    topics: list[str],
    source: dict[str, Rows],
    parse: dict[str, Callable[[Any], Any]],
) -> Counter[tuple[Any, ...]]:
    """``topics`` read ``read_committed`` hold every change exactly once (no position twice) and
    their replay equals ``source``; columns in ``parse`` arrive as text and are parsed back first.
    Returns the change counts."""
    messages = read_to_end(bootstrap, topics)
    counts = change_counts(messages)
    twice = [change for change, n in counts.items() if n != 1]
    assert not twice, f"{len(twice)} changes delivered more than once, e.g. {twice[:5]}"
    images, duplicates = debezium_images(messages)
    assert duplicates == 0
    for table, rows in source.items():
        got = images.get(table, {})
        for row in got.values():
            for column, convert in parse.items():
                if row.get(column) is not None:
                    row[column] = convert(row[column])
        assert_tables_equal(got, rows, table)
    return counts


def assert_transactions_counted_once(
    bootstrap: str, topics: list[str], transaction_topic: str
) -> int:
    """Debezium's transaction metadata read ``read_committed`` counts every change once: each
    streamed event's transaction (by xid or GTID) has one ``BEGIN`` and one ``END`` in
    ``transaction_topic``, the ``END`` counts the transaction's events in ``topics`` per table,
    and each table's ``data_collection_order`` runs 1..n. Returns how many transactions there
    were."""
    events: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for msg in read_to_end(bootstrap, topics):
        if msg.value() is None:
            continue
        event = json.loads(msg.value())
        block = event.get("transaction")
        if block is None:
            continue  # a snapshot read
        source = event["source"]
        table = f"{source.get('schema') or source['db']}.{source['table']}"
        events[_transaction_name(block["id"])].append((table, block["data_collection_order"]))
    marks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for msg in read_to_end(bootstrap, [transaction_topic]):
        value = json.loads(msg.value())
        marks[_transaction_name(value["id"])].append(value)
    assert events, "no event carries a transaction block"
    assert set(marks) == set(events), (
        f"BEGIN/END without events: {sorted(set(marks) - set(events))[:5]}; "
        f"events without BEGIN/END: {sorted(set(events) - set(marks))[:5]}"
    )
    for name, changes in events.items():
        statuses = sorted(m["status"] for m in marks[name])
        assert statuses == ["BEGIN", "END"], (name, statuses)
        [end] = [m for m in marks[name] if m["status"] == "END"]
        per_table = Counter(table for table, _ in changes)
        assert end["event_count"] == len(changes), (name, end, len(changes))
        counted = {c["data_collection"]: c["event_count"] for c in end["data_collections"]}
        assert counted == dict(per_table), (name, counted, per_table)
        for table, n in per_table.items():
            orders = sorted(order for t, order in changes if t == table)
            assert orders == list(range(1, n + 1)), (name, table, orders)
    return len(events)


def _transaction_name(tx_id: str) -> str:
    """What names a transaction in Debezium's ids: the xid of PostgreSQL's ``<xid>:<lsn>``, a
    GTID whole."""
    head, _, _ = tx_id.partition(":")
    return head if head.isdigit() else tx_id


def open_transaction_data(admin: AdminClient, topics: list[str]) -> int:
    """How many records of ``topics`` lie beyond their last stable offsets: records of
    transactions still open (0 when none is)."""
    parts = []
    for name in topics:
        md = admin.list_topics(name, timeout=10).topics.get(name)
        if md is not None and md.error is None:
            parts += [TopicPartition(name, p) for p in md.partitions]
    if not parts:
        return 0
    ends = {}
    for level in (IsolationLevel.READ_COMMITTED, IsolationLevel.READ_UNCOMMITTED):
        futures = admin.list_offsets(
            {tp: OffsetSpec.latest() for tp in parts}, isolation_level=level
        )
        ends[level] = sum(f.result(timeout=30).offset for f in futures.values())
    return ends[IsolationLevel.READ_UNCOMMITTED] - ends[IsolationLevel.READ_COMMITTED]


def kill_inside_transaction(
    start: Callable[[int], Child], bootstrap: str, topics: list[str], attempts: int = 3
) -> None:
    """Runs ``start(i)`` (which commits a large source transaction, then starts a run) and
    SIGKILLs the run as soon as its Kafka transaction has data in ``topics``; checks after the
    kill that the transaction is still open (the kill landed inside it). Up to ``attempts`` runs:
    one may commit before it is caught."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for i in range(attempts):
        child = start(i)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and open_transaction_data(admin, topics) == 0:
            assert child.proc.poll() is None, child.output()
            time.sleep(0.01)
        child.kill()
        if open_transaction_data(admin, topics) > 0:
            return
    raise AssertionError(f"no kill in {attempts} runs landed inside a Kafka transaction")
