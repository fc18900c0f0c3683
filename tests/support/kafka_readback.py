"""Read-back of the Kafka kill loops (PostgreSQL and MariaDB into Kafka): consume every topic until
quiet, replay the Debezium messages by key (at-least-once duplicates dropped by position) and
compare with the source tables' rows."""

from __future__ import annotations

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
) -> int:
    """The replay of ``topics`` equals ``source`` (rows by table, keyed by primary key); columns in
    ``parse`` arrive as Debezium JSON text and are parsed back to the driver's values first.
    Returns the number of changes delivered, duplicates not counted."""
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
