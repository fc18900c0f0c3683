"""What every example needs besides its point: a small demo table set in a PostgreSQL database
with a publication and a logical replication slot, and a run of arrowtail into a sink until the
stream is idle. Not an example itself."""

from __future__ import annotations

import psycopg

from arrowtail import Pipeline
from arrowtail.pipeline import Summary
from arrowtail.sinks import Sink
from arrowtail.sources.postgres import PostgresSource


def reset_database(dsn: str, name: str, schema: str, seed: str = "") -> None:
    """Recreates the example's tables (``schema``), runs ``seed`` (rows that exist before
    capture starts), then creates publication and slot ``name`` so that only later changes are
    streamed."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (name,),
        )
        conn.execute(f"DROP PUBLICATION IF EXISTS {name}")
        conn.execute(schema)
        if seed:
            conn.execute(seed)
        conn.execute(f"CREATE PUBLICATION {name} FOR ALL TABLES")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))


def execute(dsn: str, *statements: str) -> None:
    """Runs application statements, each in its own transaction."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def capture(dsn: str, name: str, sink: Sink, checkpoint: str | None = None) -> Summary:
    """Streams everything committed so far from slot ``name`` into ``sink``, stopping once the
    stream has been idle for two seconds."""
    source = PostgresSource(dsn, slot=name, publication=name)
    return Pipeline(source, sink, checkpoint=checkpoint, idle_exit=2).run()


def drop_slot(dsn: str, name: str) -> None:
    """Removes the example's slot so it does not keep WAL around."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (name,),
        )
