"""Read-back of the Kafka kill loops (PostgreSQL and MariaDB into Kafka): consume every topic until
quiet, replay the Debezium messages by key (at-least-once duplicates dropped by position) and
compare with the source tables' rows; for PostgreSQL, check the ``source.sequence`` of every copy
of every change."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.support.kafka_topics import consume_until_quiet, debezium_images
from tests.support.replay import assert_tables_equal

Rows = dict[tuple[Any, ...], dict[str, Any]]


def assert_topics_equal_source(
    bootstrap: str,
    topics: list[str],
    source: dict[str, Rows],
    parse: dict[str, Callable[[Any], Any]],
    messages: list[Any] | None = None,
) -> int:
    """The replay of ``topics`` equals ``source`` (rows by table, keyed by primary key); columns in
    ``parse`` arrive as Debezium JSON text and are parsed back to the driver's values first.
    ``messages``: the topics already read. Returns the number of changes delivered, duplicates
    not counted."""
    if messages is None:
        messages = consume_until_quiet(bootstrap, topics, quiet=3.0)
    images, duplicates = debezium_images(messages)
    for table, rows in source.items():
        got = images.get(table, {})
        for row in got.values():
            for column, convert in parse.items():
                if row.get(column) is not None:
                    row[column] = convert(row[column])
        assert_tables_equal(got, rows, table)
    return sum(1 for m in messages if m.value() is not None) - duplicates


def assert_sequences_agree(messages: list[Any]) -> int:
    """PostgreSQL events delivered at least once across restarts: every copy of a change carries
    the same ``source.sequence`` (a run resumed from any checkpoint names the same last commit as
    the run that sent the change first), and only the changes of one transaction have none for the
    last commit (the first after the slot was created, which no run knew a commit before).
    Returns the number of transactions seen."""
    by_change: dict[tuple[Any, ...], set[str]] = {}
    without_last: set[int] = set()
    transactions: set[int] = set()
    for msg in messages:
        if msg.value() is None:
            continue
        event = json.loads(msg.value())
        source = event["source"]
        change = (source["table"], source["lsn"], source["seq"], event["op"] == "c")
        by_change.setdefault(change, set()).add(source["sequence"])
        transactions.add(source["txId"])
        if json.loads(source["sequence"])[0] is None:
            without_last.add(source["txId"])
    differing = {change: seqs for change, seqs in by_change.items() if len(seqs) > 1}
    assert not differing, f"copies of one change with different sequences: {differing}"
    assert len(without_last) <= 1, f"transactions without a last commit: {sorted(without_last)}"
    return len(transactions)
