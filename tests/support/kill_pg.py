"""The database and workload of the PostgreSQL kill loops (into Parquet and into Kafka): two tables
(``accounts``, ``events``) in a database whose ``logical_decoding_work_mem`` is small, rounds of
about 2000 changes, and the source rows to compare a replay with."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.support.pg_run import create_database

SCHEMA = """
CREATE TABLE accounts (id int PRIMARY KEY, v bigint NOT NULL, s text, ts timestamptz);
CREATE TABLE events (id bigint PRIMARY KEY, kind int, payload text, amount numeric(12,3));
"""


def kill_database(postgres: Any, db: str, publication: str, slot: str) -> Iterator[Any]:
    """Body of the kill loops' module fixture: ``db`` with SCHEMA and ``publication``; yields a
    connection to it and drops ``slot`` (when no run holds it) at the end."""
    # Transactions of a few thousand rows overflow this and are streamed in progress (proto >= 2).
    create_database(postgres, db, SCHEMA, publication=publication, decoding_work_mem="64kB")
    with postgres.connect(dbname=db) as conn:
        yield conn
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s AND NOT active",
            (slot,),
        )


def workload_round(conn: Any, r: int) -> None:
    """About 2000 changes in one transaction plus a few single-row transactions."""
    base = r * 1000
    with conn.transaction():
        conn.execute(
            "INSERT INTO accounts SELECT g, g %% 97, md5(g::text), now() "
            "FROM generate_series(%s::int, %s::int) g",
            (base + 1, base + 1000),
        )
        conn.execute(
            "UPDATE accounts SET v = v + 1, s = s || 'u' WHERE id BETWEEN %s AND %s",
            (base - 1500, base - 1001),
        )
        conn.execute("DELETE FROM accounts WHERE id BETWEEN %s AND %s", (base - 3000, base - 2701))
        conn.execute(
            "INSERT INTO events SELECT g, g %% 5, repeat('p', (g %% 50)::int), g / 7.0 "
            "FROM generate_series(%s::bigint, %s::bigint) g",
            (base + 1, base + 200),
        )
    for i in range(3):
        conn.execute("UPDATE events SET kind = kind + 10 WHERE id = %s", (base + 1 + i,))
    conn.execute("DELETE FROM events WHERE id = %s", (base + 100,))


def source_tables(conn: Any) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    out = {}
    for table in ("accounts", "events"):
        cur = conn.execute(f"SELECT * FROM {table}")
        names = [d.name for d in cur.description]
        out[f"public.{table}"] = {(r[0],): dict(zip(names, r, strict=True)) for r in cur}
    return out
