"""A search index kept in step with a table, straight from Arrow change batches.

Shows: the Python API with a sink of your own. ``IndexSink`` implements the five methods of
:class:`arrowtail.sinks.Sink`; the pipeline hands it whole Arrow batches of the ``articles``
table, which it applies to a toy in-memory inverted index (word -> article ids): an insert adds
the article's words, an update replaces them, a delete removes them. Commit positions are
reported durable at once, since the index lives in memory.

Run (PostgreSQL with ``wal_level=logical``)::

    python examples/search_index.py --dsn postgresql://postgres@localhost/postgres

It prints the ids found for a few words after the changes.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from typing import Any

import pyarrow as pa
from _setup import capture, drop_slot, execute, reset_database

NAME = "example_search"
SCHEMA = """
DROP TABLE IF EXISTS articles;
CREATE TABLE articles (id int PRIMARY KEY, title text NOT NULL, body text NOT NULL);
"""


def words(*texts: str | None) -> set[str]:
    return {w for t in texts if t for w in re.findall(r"[a-z0-9]+", t.lower())}


class IndexSink:
    """Applies change batches to an inverted index (a sink of the pipeline)."""

    def __init__(self) -> None:
        self.index: dict[str, set[int]] = defaultdict(set)
        self.words_of: dict[int, set[str]] = {}
        self._position: dict[str, Any] | None = None

    def open(self) -> None:
        return None

    def write(self, table: str, schema_version: int, batch: pa.RecordBatch) -> None:
        if table != "public.articles":
            return
        # One conversion per batch; rows are in commit order.
        columns = batch.select(["id", "title", "body", "_op"]).to_pydict()
        for article, title, body, op in zip(*columns.values(), strict=True):
            self._remove(article)
            if op != "d":
                self.words_of[article] = words(title, body)
                for w in self.words_of[article]:
                    self.index[w].add(article)

    def _remove(self, article: int) -> None:
        for w in self.words_of.pop(article, set()):
            self.index[w].discard(article)

    def commit(self, position: dict[str, Any]) -> None:
        self._position = position

    def durable_position(self) -> dict[str, Any] | None:
        return self._position

    def close(self) -> None:
        pass

    def search(self, word: str) -> list[int]:
        return sorted(self.index.get(word, set()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="PostgreSQL URL (logical replication on)")
    args = parser.parse_args(argv)

    reset_database(args.dsn, NAME, SCHEMA)
    execute(
        args.dsn,
        "INSERT INTO articles VALUES (1, 'Arrow columns', 'fast columnar data'), "
        "(2, 'Kafka topics', 'partitioned logs of data'), (3, 'Parquet files', 'columnar files')",
        "UPDATE articles SET body = 'ordered partitioned logs' WHERE id = 2",
        "DELETE FROM articles WHERE id = 3",
        "INSERT INTO articles VALUES (4, 'Change data capture', 'logs of every change')",
    )
    sink = IndexSink()
    summary = capture(args.dsn, NAME, sink)
    drop_slot(args.dsn, NAME)
    print(f"applied {summary.rows} changes")
    for word in ("columnar", "data", "logs", "files", "partitioned"):
        print(f"{word}: {sink.search(word)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
