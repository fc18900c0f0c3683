"""A data lake of change files, queried with DuckDB.

Shows: arrowtail writes the changes of the ``payments`` table as Parquet files
(``<dir>/public.payments/*.parquet``, one column per table column plus ``_op``, ``_pos``,
``_seq``, ``_commit_ts``...). DuckDB reads them without any setup: once for the history (changes
per operation), once for the current state (the last change of each key, in ``(_pos, _seq)``
order, unless it is a delete) — the same rows as the table itself.

Run (PostgreSQL with ``wal_level=logical``)::

    python examples/data_lake.py --dsn postgresql://postgres@localhost/postgres --out /tmp/lake

It prints both query results; the files stay in ``--out``.
"""

from __future__ import annotations

import argparse

import duckdb
from _setup import capture, drop_slot, execute, reset_database

from arrowtail.sinks.parquet import ParquetSink

NAME = "example_lake"
SCHEMA = """
DROP TABLE IF EXISTS payments;
CREATE TABLE payments (id int PRIMARY KEY, customer text NOT NULL, amount numeric(10,2));
"""

HISTORY = """
SELECT _op, count(*) AS changes FROM read_parquet('{files}') GROUP BY _op ORDER BY _op
"""
CURRENT = """
SELECT id, customer, amount FROM (
    SELECT *, row_number() OVER (PARTITION BY id ORDER BY _pos DESC, _seq DESC) AS newest
    FROM read_parquet('{files}')
) WHERE newest = 1 AND _op <> 'd' ORDER BY id
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="PostgreSQL URL (logical replication on)")
    parser.add_argument("--out", required=True, help="directory of the Parquet files")
    args = parser.parse_args(argv)

    reset_database(args.dsn, NAME, SCHEMA)
    execute(
        args.dsn,
        "INSERT INTO payments SELECT g, 'customer ' || (g % 3), g * 2.5 "
        "FROM generate_series(1, 10) g",
        "UPDATE payments SET amount = amount + 100 WHERE id IN (3, 6)",
        "DELETE FROM payments WHERE id > 8",
    )
    summary = capture(args.dsn, NAME, ParquetSink(args.out))
    drop_slot(args.dsn, NAME)
    print(f"stored {summary.rows} changes under {args.out}")

    files = f"{args.out}/public.payments/*.parquet"
    print("changes per operation:")
    for op, changes in duckdb.sql(HISTORY.format(files=files)).fetchall():
        print(f"  {op}: {changes}")
    print("current state:")
    for row in duckdb.sql(CURRENT.format(files=files)).fetchall():
        print(f"  {row[0]} {row[1]} {row[2]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
